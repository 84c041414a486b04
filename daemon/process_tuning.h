#pragma once

#include <malloc.h>

#include "absl/synchronization/mutex.h"

namespace modelwatch::daemon {

// Process-wide settings for a gRPC server that reads large batches at a high rate. Call once at
// the start of main(), before any thread starts. Header-only so the benchmark's no-op baseline
// server applies exactly the same settings and the comparison stays fair.
//
// - Abseil's mutex deadlock detection (on in Debian's build) records every lock acquisition in a
//   global graph; gRPC takes many mutexes per message. The daemon's lock order is fixed and
//   tested, so the check only costs time.
// - glibc returns freed gRPC read buffers (often over the default 128 KiB mmap threshold) to the
//   kernel and faults them back in on the next message; raising the mmap and trim thresholds
//   keeps them in the heap. This bounds nothing new: memory stays what the batches need.
inline void TuneProcessForIngest() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace modelwatch::daemon

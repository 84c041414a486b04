#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/change_detectors.h"
#include "core/drift_reference.h"

namespace modelwatch::core {

// How one model watches for drift (the `drift:` section of a model in the config; see
// docs/drift.md). A plain value, built by config/ and copied into each model's ModelSpec.
struct DriftSpec {
  // What the live windows are compared with.
  enum class Reference {
    kNone,            // no drift statistics (detectors may still run)
    kFixed,           // `fixed`: from a file (or the config), known at startup
    kCaptureEvents,   // the first `capture_events` predictions of each version, then frozen
    kCaptureWindow,   // the first `capture_window` of each version's traffic, then frozen
    kPreviousWindow,  // each window against the window of the same length just before it
  };
  Reference reference = Reference::kNone;
  // kFixed: the histograms; shared by every version of the model.
  std::shared_ptr<const DriftReference> fixed;
  // kCaptureEvents: predictions to capture (at least; the capture freezes at the first batch
  // boundary at or after this count).
  int64_t capture_events = 0;
  // kCaptureWindow: how long after a version's first prediction the capture freezes.
  absl::Duration capture_window = absl::ZeroDuration();
  // Where captured references are saved and reloaded at startup; empty: not kept.
  std::string state_dir;

  // A statistic is absent unless both the reference and the window hold at least this many
  // events of the signal.
  double min_samples = 100;

  // Streaming change detectors on the stream of per-event errors (1 when an evaluated prediction
  // was wrong) and on confidence (the top score of each scored prediction), each with its own
  // options because the two streams differ in scale and variance; DDM runs on errors only.
  // Absent: not run.
  std::optional<PageHinkleyOptions> page_hinkley_error;
  std::optional<PageHinkleyOptions> page_hinkley_confidence;
  std::optional<AdwinOptions> adwin_error;
  std::optional<AdwinOptions> adwin_confidence;
  std::optional<DdmOptions> ddm;

  bool HasDetectors() const {
    return page_hinkley_error || page_hinkley_confidence || adwin_error || adwin_confidence || ddm;
  }
  bool enabled() const { return reference != Reference::kNone || HasDetectors(); }
};

}  // namespace modelwatch::core

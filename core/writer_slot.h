#pragma once

namespace modelwatch::core {

// Hands each writer thread a slot index of its own, so per-event counters can be sharded per
// thread and written without atomic read-modify-write instructions.
//
// A thread takes a slot the first time it calls Current() and gives it back when it exits. There
// are `Capacity()` slots, fixed once at startup by SetCapacity() before any writer runs; a thread
// that finds none free gets kOverflow, and its writes go through a mutex-guarded overflow shard
// (a degraded mode, counted in OverflowAcquisitions()). Thread-safe; Current() is a
// thread_local read after the first call.
class WriterSlot {
 public:
  static constexpr int kOverflow = -1;

  // Sets how many slots exist. Call once, before any writer thread runs. Default: 16.
  static void SetCapacity(int slots);
  static int Capacity();

  // This thread's slot in [0, Capacity()), or kOverflow.
  static int Current();

  // How many times a thread found no free slot since start.
  static long OverflowAcquisitions();
};

}  // namespace modelwatch::core

#pragma once

namespace modelwatch::core {

// Hands each writer thread a slot index of its own, so per-event counters can be sharded per
// thread and written without atomic read-modify-write instructions.
//
// A thread takes a slot the first time it calls Current() and gives it back when it exits (a
// thread_local object's destructor returns it), so a pool of threads that come and go reuses
// the same slots. There are `Capacity()` slots, fixed once at startup by SetCapacity() before
// any writer runs; a thread that finds none free gets kOverflow for the rest of its life, and
// its writes go through a mutex-guarded overflow shard (a degraded mode, counted in
// OverflowAcquisitions() and exported as modelwatch_writer_slot_overflow_total).
//
// Thread-safe. Current() is one thread_local read after the first call; the first call of a
// thread and its exit take a process-wide mutex.
class WriterSlot {
 public:
  static constexpr int kOverflow = -1;
  static constexpr int kDefaultCapacity = 16;
  static constexpr int kMaxCapacity = 4096;

  // Sets how many slots exist, clamped to [1, kMaxCapacity]. Call once, before any writer
  // thread runs: counters created earlier keep the shard count they were built with and send
  // writers of higher slots to their overflow shard.
  static void SetCapacity(int slots);
  static int Capacity();

  // This thread's slot in [0, Capacity()), or kOverflow.
  static int Current() {
    if (cached_ != kUnassigned) return cached_;
    return Acquire();
  }

  // How many times a thread found no free slot since start.
  static long OverflowAcquisitions();

 private:
  static constexpr int kUnassigned = -2;
  // Returns the calling thread's slot when the thread exits.
  class Lease;

  // Takes a free slot for the calling thread (or kOverflow) and caches it in cached_.
  static int Acquire();

  // The calling thread's slot; constant-initialized so reading it needs no TLS wrapper call.
  static inline thread_local int cached_ = kUnassigned;
};

}  // namespace modelwatch::core

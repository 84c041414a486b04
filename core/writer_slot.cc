#include "core/writer_slot.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace modelwatch::core {
namespace {

// The process-wide slot table. Never destroyed, so threads that exit during static
// destruction can still return their slot.
struct SlotTable {
  absl::Mutex mu;
  std::vector<bool> in_use ABSL_GUARDED_BY(mu) = std::vector<bool>(WriterSlot::kDefaultCapacity);
  std::atomic<int> capacity{WriterSlot::kDefaultCapacity};
  std::atomic<long> overflows{0};
};

SlotTable& Table() {
  static SlotTable* const table = new SlotTable;
  return *table;
}

}  // namespace

class WriterSlot::Lease {
 public:
  int slot = kOverflow;

  ~Lease() {
    if (slot < 0) return;

    // Writes from thread_local destructors that run after this one go to the overflow shard:
    // the slot may already belong to another thread.
    cached_ = kOverflow;
    SlotTable& table = Table();
    absl::MutexLock lock(&table.mu);
    if (static_cast<size_t>(slot) < table.in_use.size()) table.in_use[slot] = false;
  }
};

void WriterSlot::SetCapacity(int slots) {
  slots = std::clamp(slots, 1, kMaxCapacity);
  SlotTable& table = Table();
  absl::MutexLock lock(&table.mu);
  table.in_use.resize(slots, false);
  table.capacity.store(slots, std::memory_order_relaxed);
}

int WriterSlot::Capacity() { return Table().capacity.load(std::memory_order_relaxed); }

long WriterSlot::OverflowAcquisitions() {
  return Table().overflows.load(std::memory_order_relaxed);
}

int WriterSlot::Acquire() {
  SlotTable& table = Table();
  int slot = kOverflow;
  {
    absl::MutexLock lock(&table.mu);
    auto free = std::find(table.in_use.begin(), table.in_use.end(), false);
    if (free != table.in_use.end()) {
      *free = true;
      slot = static_cast<int>(free - table.in_use.begin());
    }
  }

  if (slot == kOverflow) {
    table.overflows.fetch_add(1, std::memory_order_relaxed);
  } else {
    // Constructing the thread_local Lease registers its destructor for this thread.
    static thread_local Lease lease;
    lease.slot = slot;
  }
  cached_ = slot;
  return slot;
}

}  // namespace modelwatch::core

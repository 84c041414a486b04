#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/reject_reason.h"

namespace modelwatch::daemon {

// The RPC a batch arrived on (the `rpc` label of modelwatch_batches_total).
enum class Rpc : int { kStream = 0, kSend = 1 };
inline constexpr int kNumRpcs = 2;
std::string_view RpcName(Rpc rpc);

// Process-wide ingest totals since start: events accepted per model and kind, events rejected per
// reason, batches per RPC. Fed once per batch by IngestService, read by the exporter at scrape
// time and logged at shutdown.
//
// Thread-safe. Writers add per batch, never per event: one relaxed atomic add per counter touched,
// plus a reader lock to find a model's counters (a writer lock the first time a model is seen).
// Memory: one entry per model that ever had an accepted event (bounded by the registry's cap).
class IngestCounters {
 public:
  struct ModelTotals {
    std::string model;
    uint64_t predictions = 0;
    uint64_t labels = 0;
  };

  void AddBatch(Rpc rpc) {
    batches_[static_cast<int>(rpc)].fetch_add(1, std::memory_order_relaxed);
  }
  void AddRejected(const core::IngestTally& tally);
  void AddAccepted(std::string_view model, uint64_t predictions, uint64_t labels);

  // Snapshots, each counter read once.
  std::vector<ModelTotals> Accepted() const;
  uint64_t Rejected(core::RejectReason reason) const {
    return rejected_[static_cast<int>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t Batches(Rpc rpc) const {
    return batches_[static_cast<int>(rpc)].load(std::memory_order_relaxed);
  }

 private:
  struct AcceptedCounters {
    std::atomic<uint64_t> predictions{0};
    std::atomic<uint64_t> labels{0};
  };

  std::array<std::atomic<uint64_t>, core::kNumRejectReasons> rejected_{};
  std::array<std::atomic<uint64_t>, kNumRpcs> batches_{};

  mutable absl::Mutex mu_;
  // Values are never erased, so a pointer found under the lock stays valid after it.
  absl::flat_hash_map<std::string, std::unique_ptr<AcceptedCounters>> accepted_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace modelwatch::daemon

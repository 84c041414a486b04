#include "daemon/ingest_counters.h"

#include <algorithm>

namespace modelwatch::daemon {

std::string_view RpcName(Rpc rpc) { return rpc == Rpc::kStream ? "stream" : "send"; }

void IngestCounters::AddRejected(const core::IngestTally& tally) {
  for (int i = 0; i < core::kNumRejectReasons; ++i) {
    uint64_t n = tally.rejected[i].count;
    if (n != 0) rejected_[i].fetch_add(n, std::memory_order_relaxed);
  }
}

void IngestCounters::AddAccepted(std::string_view model, uint64_t predictions, uint64_t labels) {
  if (predictions == 0 && labels == 0) return;

  AcceptedCounters* counters = nullptr;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = accepted_.find(absl::string_view(model.data(), model.size()));
    if (it != accepted_.end()) counters = it->second.get();
  }
  if (counters == nullptr) {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<AcceptedCounters>& slot = accepted_[std::string(model)];
    if (slot == nullptr) slot = std::make_unique<AcceptedCounters>();
    counters = slot.get();
  }
  counters->predictions.fetch_add(predictions, std::memory_order_relaxed);
  counters->labels.fetch_add(labels, std::memory_order_relaxed);
}

std::vector<IngestCounters::ModelTotals> IngestCounters::Accepted() const {
  std::vector<ModelTotals> out;
  {
    absl::ReaderMutexLock lock(&mu_);
    out.reserve(accepted_.size());
    for (const auto& [model, counters] : accepted_) {
      out.push_back(ModelTotals{model, counters->predictions.load(std::memory_order_relaxed),
                                counters->labels.load(std::memory_order_relaxed)});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ModelTotals& a, const ModelTotals& b) { return a.model < b.model; });
  return out;
}

}  // namespace modelwatch::daemon

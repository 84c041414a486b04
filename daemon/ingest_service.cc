#include "daemon/ingest_service.h"

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/group_view.h"
#include "daemon/logging.h"

namespace modelwatch::daemon {
namespace {

// Per-thread scratch reused across batches, so the batch path allocates nothing once warm.
struct BatchScratch {
  GroupViewBuilder views;
  // Events accepted per model in the current batch, merged into IngestCounters once per batch.
  std::vector<IngestCounters::ModelTotals> accepted;
  size_t accepted_used = 0;

  void AddAccepted(std::string_view model, uint64_t predictions, uint64_t labels) {
    if (predictions == 0 && labels == 0) return;
    for (size_t i = 0; i < accepted_used; ++i) {
      if (accepted[i].model == model) {
        accepted[i].predictions += predictions;
        accepted[i].labels += labels;
        return;
      }
    }
    if (accepted_used == accepted.size()) accepted.emplace_back();
    IngestCounters::ModelTotals& slot = accepted[accepted_used++];
    slot.model.assign(model);
    slot.predictions = predictions;
    slot.labels = labels;
  }
};

BatchScratch& ThreadScratch() {
  thread_local BatchScratch scratch;
  return scratch;
}

uint64_t GroupEvents(const v1::ModelEvents& group) {
  return static_cast<uint64_t>(group.predictions().predicted_size()) +
         static_cast<uint64_t>(group.labels().label_size());
}

}  // namespace

IngestService::IngestService(core::Registry& registry, const core::Clock& clock,
                             IngestCounters& counters, size_t max_batch_bytes)
    : registry_(registry), clock_(clock), counters_(counters), max_batch_bytes_(max_batch_bytes) {}

void IngestService::IngestBatch(const v1::Batch& batch, Rpc rpc, core::IngestTally& tally) {
  counters_.AddBatch(rpc);
  core::IngestTally batch_tally;

  // Size first: an oversize batch is one rejected event, whatever it holds.
  size_t bytes = batch.ByteSizeLong();
  if (bytes > max_batch_bytes_) {
    batch_tally.Reject(
        core::RejectReason::kBatchTooLarge, 1, -1, -1,
        absl::StrCat("batch of ", bytes, " bytes exceeds --max_batch_bytes=", max_batch_bytes_));
  } else if (batch.groups().empty()) {
    batch_tally.Reject(core::RejectReason::kEmptyBatch, 1, -1, -1, "batch holds no groups");
  } else {
    BatchScratch& scratch = ThreadScratch();
    scratch.accepted_used = 0;
    absl::Time now = clock_.Now();
    for (int i = 0; i < batch.groups_size(); ++i) {
      const v1::ModelEvents& group = batch.groups(i);
      uint64_t events = GroupEvents(group);
      if (events == 0) {
        batch_tally.Reject(core::RejectReason::kEmptyBatch, 1, i, -1,
                           absl::StrCat("group ", i, " holds no events"));
        continue;
      }
      if (GroupViewBuilder::HasConflictingIds(group)) {
        batch_tally.Reject(core::RejectReason::kConflictingIds, events, i, -1,
                           absl::StrCat("group ", i, " sets both ids and string_ids; use one"));
        continue;
      }
      uint64_t predictions_before = batch_tally.accepted_predictions;
      uint64_t labels_before = batch_tally.accepted_labels;
      registry_.Ingest(scratch.views.Build(group), i, now, batch_tally);
      scratch.AddAccepted(group.model(), batch_tally.accepted_predictions - predictions_before,
                          batch_tally.accepted_labels - labels_before);
    }
    for (size_t i = 0; i < scratch.accepted_used; ++i) {
      const IngestCounters::ModelTotals& m = scratch.accepted[i];
      counters_.AddAccepted(m.model, m.predictions, m.labels);
    }
  }

  counters_.AddRejected(batch_tally);
  IngestLog()->trace(
      "event=batch rpc={} bytes={} groups={} accepted_predictions={} "
      "accepted_labels={} rejected={}",
      RpcName(rpc), bytes, batch.groups_size(), batch_tally.accepted_predictions,
      batch_tally.accepted_labels, batch_tally.TotalRejected());
  tally.Merge(batch_tally);
}

grpc::Status IngestService::Stream(grpc::ServerContext* context,
                                   grpc::ServerReader<v1::Batch>* reader, v1::IngestReply* reply) {
  IngestLog()->debug("event=stream_open peer={}", context->peer());
  core::IngestTally tally;
  uint64_t batches = 0;
  // One message reused for every batch: parsing into it keeps the capacity of its arrays.
  v1::Batch batch;
  while (reader->Read(&batch)) {
    IngestBatch(batch, Rpc::kStream, tally);
    ++batches;
  }
  FillReply(tally, batches, *reply);
  IngestLog()->debug(
      "event=stream_close peer={} batches={} accepted_predictions={} accepted_labels={} "
      "rejected={} cancelled={}",
      context->peer(), batches, tally.accepted_predictions, tally.accepted_labels,
      tally.TotalRejected(), context->IsCancelled());
  if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  return grpc::Status::OK;
}

grpc::Status IngestService::Send(grpc::ServerContext* /*context*/, const v1::Batch* batch,
                                 v1::IngestReply* reply) {
  core::IngestTally tally;
  IngestBatch(*batch, Rpc::kSend, tally);
  FillReply(tally, 1, *reply);
  return grpc::Status::OK;
}

void FillReply(const core::IngestTally& tally, uint64_t batches, v1::IngestReply& reply) {
  reply.set_accepted_predictions(tally.accepted_predictions);
  reply.set_accepted_labels(tally.accepted_labels);
  reply.set_batches(batches);
  for (int i = 1; i < core::kNumRejectReasons; ++i) {
    const core::IngestTally::Rejected& r = tally.rejected[i];
    if (r.count == 0) continue;
    v1::Rejection* rejection = reply.add_rejected();
    rejection->set_reason(static_cast<v1::RejectReason>(i));
    rejection->set_count(r.count);
    rejection->set_first_group(r.first_group);
    rejection->set_first_event(r.first_event);
    rejection->set_first_message(r.first_message);
  }
}

}  // namespace modelwatch::daemon

#include "daemon/ingest_service.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/group_view.h"
#include "daemon/logging.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"

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

uint64_t BatchEvents(const v1::Batch& batch) {
  uint64_t events = 0;
  for (const v1::ModelEvents& group : batch.groups()) events += GroupEvents(group);
  return events;
}

// A field's tag (field numbers below 16 take one byte) plus a length varint of at most 10 bytes.
constexpr size_t kFieldOverhead = 11;
// The widest encodings of the varint types in the protocol.
constexpr size_t kMaxVarint32 = 5;
constexpr size_t kMaxVarint64 = 10;

bool HasUnknownFields(const google::protobuf::Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

size_t StringsBound(const google::protobuf::RepeatedPtrField<std::string>& strings) {
  size_t bytes = strings.size() * kFieldOverhead;
  for (const std::string& s : strings) bytes += s.size();
  return bytes;
}

// A packed repeated field of `count` elements of at most `element_bytes` each.
size_t PackedBound(int count, size_t element_bytes) {
  return count == 0 ? 0 : kFieldOverhead + static_cast<size_t>(count) * element_bytes;
}

size_t PredictionsBound(const v1::Predictions& p) {
  size_t bytes = PackedBound(p.predicted_size(), kMaxVarint32) +
                 PackedBound(p.timestamp_ms_size(), kMaxVarint64) +
                 PackedBound(p.ids_size(), sizeof(uint64_t)) + StringsBound(p.string_ids()) +
                 PackedBound(p.scores_size(), sizeof(float)) +
                 PackedBound(p.label_size(), kMaxVarint32);
  for (const v1::FeatureColumn& column : p.features()) {
    bytes += kFieldOverhead + kFieldOverhead + column.name().size() +
             PackedBound(column.values_size(), sizeof(float));
  }
  return bytes;
}

size_t LabelsBound(const v1::Labels& l) {
  return PackedBound(l.label_size(), kMaxVarint32) + PackedBound(l.ids_size(), sizeof(uint64_t)) +
         StringsBound(l.string_ids()) + PackedBound(l.timestamp_ms_size(), kMaxVarint64);
}

bool GroupHasUnknownFields(const v1::ModelEvents& group) {
  if (HasUnknownFields(group) || HasUnknownFields(group.predictions()) ||
      HasUnknownFields(group.labels())) {
    return true;
  }
  for (const v1::FeatureColumn& column : group.predictions().features()) {
    if (HasUnknownFields(column)) return true;
  }
  return false;
}

}  // namespace

size_t BatchBytesUpperBound(const v1::Batch& batch) {
  // Unknown fields (from a newer client) are rare: they get the exact count.
  if (HasUnknownFields(batch)) return SIZE_MAX;

  size_t bytes = 0;
  for (const v1::ModelEvents& group : batch.groups()) {
    if (GroupHasUnknownFields(group)) return SIZE_MAX;
    bytes += kFieldOverhead + kFieldOverhead + group.model().size() + kFieldOverhead +
             group.version().size() + StringsBound(group.class_names()) + kFieldOverhead +
             PredictionsBound(group.predictions()) + kFieldOverhead + LabelsBound(group.labels());
  }
  return bytes;
}

int IngestService::DefaultIngestThreads() {
  // The cores this process may run on (a CPU affinity mask or cpuset narrows them), not the
  // machine's.
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) cores = CPU_COUNT(&allowed);
  return std::max(0, cores - 2);
}

IngestService::IngestService(core::Registry& registry, const core::Clock& clock,
                             IngestCounters& counters, size_t max_batch_bytes,
                             int max_ingest_threads)
    : registry_(registry),
      clock_(clock),
      counters_(counters),
      max_batch_bytes_(max_batch_bytes),
      ingest_threads_(max_ingest_threads) {}

void IngestService::IngestBatch(const v1::Batch& batch, Rpc rpc, core::IngestTally& tally) {
  counters_.AddBatch(rpc);
  core::IngestTally batch_tally;

  // Size first: an oversize batch is one rejected event, whatever it holds. Encoding sizes costs
  // nanoseconds per event, so the exact size is computed only when the cheap bound is too big.
  size_t bytes = BatchBytesUpperBound(batch);
  if (bytes > max_batch_bytes_) bytes = batch.ByteSizeLong();
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
      "event=batch rpc={} max_bytes={} groups={} accepted_predictions={} "
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
  BatchPipeline pipeline(
      [this, &tally](const v1::Batch& batch) { IngestBatch(batch, Rpc::kStream, tally); },
      ingest_threads_);
  // The pipeline's messages are reused for every batch: parsing into one keeps the capacity of
  // its arrays.
  for (;;) {
    v1::Batch& batch = pipeline.NextSlot();
    if (!reader->Read(&batch)) break;
    ++batches;
    pipeline.Commit(BatchEvents(batch));
  }

  // Whether the client half-closed, cancelled or the server is shutting down, every batch read
  // is applied and counted before the reply is filled.
  pipeline.Finish();
  FillReply(tally, batches, *reply);
  IngestLog()->debug(
      "event=stream_close peer={} batches={} pipelined_batches={} accepted_predictions={} "
      "accepted_labels={} rejected={} cancelled={}",
      context->peer(), batches, pipeline.handed_off(), tally.accepted_predictions,
      tally.accepted_labels, tally.TotalRejected(), context->IsCancelled());
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

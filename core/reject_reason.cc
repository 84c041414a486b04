#include "core/reject_reason.h"

namespace modelwatch::core {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnknownModel:
      return "unknown_model";
    case RejectReason::kMissingModel:
      return "missing_model";
    case RejectReason::kUnknownClass:
      return "unknown_class";
    case RejectReason::kClassLimit:
      return "class_limit";
    case RejectReason::kScoresLength:
      return "scores_length";
    case RejectReason::kInvalidScore:
      return "invalid_score";
    case RejectReason::kInvalidFeature:
      return "invalid_feature";
    case RejectReason::kColumnLength:
      return "column_length";
    case RejectReason::kMissingId:
      return "missing_id";
    case RejectReason::kBatchTooLarge:
      return "batch_too_large";
    case RejectReason::kEmptyBatch:
      return "empty_batch";
    case RejectReason::kUnknownFeature:
      return "unknown_feature";
    case RejectReason::kConflictingIds:
      return "conflicting_ids";
    case RejectReason::kModelLimit:
      return "model_limit";
    case RejectReason::kVersionLimit:
      return "version_limit";
  }
  return "unknown";
}

void IngestTally::Reject(RejectReason reason, uint64_t n, int group, int event,
                         std::string_view message) {
  Rejected& r = rejected[static_cast<int>(reason)];
  if (r.count == 0) {
    r.first_group = group;
    r.first_event = event;
    r.first_message = std::string(message);
  }
  r.count += n;
}

uint64_t IngestTally::TotalRejected() const {
  uint64_t total = 0;
  for (const Rejected& r : rejected) total += r.count;
  return total;
}

void IngestTally::Merge(const IngestTally& other) {
  accepted_predictions += other.accepted_predictions;
  accepted_labels += other.accepted_labels;
  for (int i = 0; i < kNumRejectReasons; ++i) {
    const Rejected& o = other.rejected[i];
    if (o.count == 0) continue;
    Rejected& r = rejected[i];
    if (r.count == 0) {
      r.first_group = o.first_group;
      r.first_event = o.first_event;
      r.first_message = o.first_message;
    }
    r.count += o.count;
  }
}

}  // namespace modelwatch::core

#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace modelwatch::core {

// Why an event was rejected. Mirrors modelwatch.v1.RejectReason value for value, so the daemon
// converts with a cast; Name() is the `reason` label of modelwatch_events_rejected_total.
enum class RejectReason : int {
  kUnknownModel = 1,
  kMissingModel = 2,
  kUnknownClass = 3,
  kClassLimit = 4,
  kScoresLength = 5,
  kInvalidScore = 6,
  kInvalidFeature = 7,
  kColumnLength = 8,
  kMissingId = 9,
  kBatchTooLarge = 10,
  kEmptyBatch = 11,
  kUnknownFeature = 12,
  kConflictingIds = 13,
  kModelLimit = 14,
  kVersionLimit = 15,
};
inline constexpr int kNumRejectReasons = 16;  // index 0 unused

// The snake_case name, for example "unknown_class".
std::string_view RejectReasonName(RejectReason reason);

// What one batch (or a stream of them) did: events accepted, and events rejected by reason with
// the first example of each. Not thread-safe; one per batch.
struct IngestTally {
  struct Rejected {
    uint64_t count = 0;
    int first_group = -1;
    int first_event = -1;
    std::string first_message;
  };

  uint64_t accepted_predictions = 0;
  uint64_t accepted_labels = 0;
  std::array<Rejected, kNumRejectReasons> rejected;

  // Counts `n` events rejected for `reason`; keeps the first message given for it.
  void Reject(RejectReason reason, uint64_t n, int group, int event, std::string_view message);
  uint64_t TotalRejected() const;
  void Merge(const IngestTally& other);
};

}  // namespace modelwatch::core

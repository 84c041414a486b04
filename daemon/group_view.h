#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/registry.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::daemon {

// The 64-bit join id of a string id: a stable hash (the same in every process and release, so
// replicas and restarts agree), "" -> 0 ("no id"), and never 0 for a non-empty string.
// Cost: one pass over the string's bytes.
uint64_t StringIdHash(std::string_view id);

// Builds core::GroupView views over a decoded modelwatch.v1.ModelEvents without copying its
// arrays. Only what the view cannot alias is materialized, into buffers the builder reuses:
// class names as string_views, feature columns, and string ids hashed with StringIdHash().
//
// Not thread-safe; keep one per thread (or per stream). After the first few batches it allocates
// nothing. The returned view aliases both `group` and the builder, and is valid until the next
// Build() or until `group` changes.
class GroupViewBuilder {
 public:
  // Whether the group sets both `ids` and `string_ids` for its predictions or its labels
  // (rejected as conflicting_ids before Build()).
  static bool HasConflictingIds(const v1::ModelEvents& group);

  const core::GroupView& Build(const v1::ModelEvents& group);

 private:
  core::GroupView view_;
  std::vector<std::string_view> class_names_;
  std::vector<core::FeatureColumnView> features_;
  std::vector<uint64_t> prediction_ids_;
  std::vector<uint64_t> label_ids_;
};

}  // namespace modelwatch::daemon

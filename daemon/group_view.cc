#include "daemon/group_view.h"

#include <span>

namespace modelwatch::daemon {
namespace {

// A span over a protobuf repeated scalar field (no copy).
template <typename T>
std::span<const T> Span(const google::protobuf::RepeatedField<T>& field) {
  return std::span<const T>(field.data(), static_cast<size_t>(field.size()));
}

// The ids of a column: the numeric ids aliased when present, otherwise the string ids hashed
// into `buffer`.
std::span<const uint64_t> Ids(const google::protobuf::RepeatedField<uint64_t>& ids,
                              const google::protobuf::RepeatedPtrField<std::string>& string_ids,
                              std::vector<uint64_t>& buffer) {
  if (string_ids.empty()) return Span(ids);
  buffer.clear();
  for (const std::string& id : string_ids) buffer.push_back(StringIdHash(id));
  return buffer;
}

}  // namespace

uint64_t StringIdHash(std::string_view id) {
  if (id.empty()) return 0;

  // FNV-1a over the bytes, then the SplitMix64 finalizer so that ids differing in their last
  // bytes spread over every bit (the join table shards by the low bits).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : id) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h == 0 ? 1 : h;
}

bool GroupViewBuilder::HasConflictingIds(const v1::ModelEvents& group) {
  const v1::Predictions& p = group.predictions();
  const v1::Labels& l = group.labels();
  return (!p.ids().empty() && !p.string_ids().empty()) ||
         (!l.ids().empty() && !l.string_ids().empty());
}

const core::GroupView& GroupViewBuilder::Build(const v1::ModelEvents& group) {
  const v1::Predictions& p = group.predictions();
  const v1::Labels& l = group.labels();

  class_names_.clear();
  for (const std::string& name : group.class_names()) class_names_.push_back(name);
  features_.clear();
  for (const v1::FeatureColumn& column : p.features()) {
    features_.push_back(core::FeatureColumnView{column.name(), Span(column.values())});
  }

  view_.model = group.model();
  view_.version = group.version();
  view_.class_names = class_names_;
  view_.predicted = Span(p.predicted());
  view_.prediction_timestamp_ms = Span(p.timestamp_ms());
  view_.prediction_ids = Ids(p.ids(), p.string_ids(), prediction_ids_);
  view_.scores = Span(p.scores());
  view_.inline_labels = Span(p.label());
  view_.features = features_;
  view_.labels = Span(l.label());
  view_.label_ids = Ids(l.ids(), l.string_ids(), label_ids_);
  view_.label_timestamp_ms = Span(l.timestamp_ms());
  return view_;
}

}  // namespace modelwatch::daemon

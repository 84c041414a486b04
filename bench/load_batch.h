#pragma once

// The synthetic batches that the load generator sends and the ingest benchmarks decode and
// apply, so that both measure the same event shape.

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::bench {

// What each event of a LoadBatch carries.
struct LoadBatchShape {
  std::string model = "loadgen";
  std::string version;
  int classes = 10;
  // Send the class dictionary c0, c1, ... with the group, so a model that learns its classes
  // accepts the events.
  bool class_names = true;
  int events = 256;
  bool scores = true;
  // Ids are zero here: the sender writes distinct ids before each send.
  bool ids = true;
  bool labelled = true;
  bool timestamps = false;
  // Feature columns f0, f1, ...
  int features = 0;
  // Fraction of inline labels equal to the predicted class.
  double accuracy = 0.8;
};

// One batch of one group of `shape.events` prediction events. Scores are a flat Dirichlet(1)
// draw per row (exponential draws normalized to sum 1), the predicted class is the row's top
// score, and the inline label equals it with probability `shape.accuracy`, else it is uniform.
// Not for a hot path: it allocates freely.
inline v1::Batch BuildLoadBatch(const LoadBatchShape& shape, std::mt19937_64& rng) {
  std::exponential_distribution<float> gamma1(1.0f);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> any_class(0, shape.classes - 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  v1::Batch batch;
  v1::ModelEvents* group = batch.add_groups();
  group->set_model(shape.model);
  group->set_version(shape.version);
  if (shape.class_names) {
    for (int c = 0; c < shape.classes; ++c) group->add_class_names(absl::StrCat("c", c));
  }

  v1::Predictions* p = group->mutable_predictions();
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<float> row(shape.classes);
  for (int i = 0; i < shape.events; ++i) {
    float sum = 0;
    for (float& x : row) sum += (x = gamma1(rng));
    for (float& x : row) x = std::min(x / sum, 1.0f);
    const int predicted = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());

    p->add_predicted(predicted);
    if (shape.scores) {
      for (float x : row) p->add_scores(x);
    }
    if (shape.labelled) p->add_label(unit(rng) < shape.accuracy ? predicted : any_class(rng));
    if (shape.ids) p->add_ids(0);
    if (shape.timestamps) p->add_timestamp_ms(now_ms);
  }
  for (int f = 0; f < shape.features; ++f) {
    v1::FeatureColumn* column = p->add_features();
    column->set_name(absl::StrCat("f", f));
    for (int i = 0; i < shape.events; ++i) column->add_values(normal(rng));
  }
  return batch;
}

}  // namespace modelwatch::bench

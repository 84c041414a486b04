#include "daemon/ingest_service.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/registry.h"
#include "daemon/ingest_counters.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "modelwatch/v1/ingest.grpc.pb.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::daemon {
namespace {

// A batch with every field of the protocol set, at the widest encodings its values allow.
v1::Batch WidestBatch() {
  v1::Batch batch;
  v1::ModelEvents* g = batch.add_groups();
  g->set_model("fraud");
  g->set_version("2024-05-01");
  g->add_class_names("legit");
  g->add_class_names("fraud");
  v1::Predictions* p = g->mutable_predictions();
  p->add_predicted(std::numeric_limits<uint32_t>::max());
  p->add_timestamp_ms(-1);
  p->add_ids(std::numeric_limits<uint64_t>::max());
  p->add_string_ids(std::string(300, 'x'));
  p->add_scores(0.5f);
  p->add_label(std::numeric_limits<int32_t>::min());
  v1::FeatureColumn* f = p->add_features();
  f->set_name("amount");
  f->add_values(1.0f);
  v1::Labels* l = g->mutable_labels();
  l->add_label(std::numeric_limits<uint32_t>::max());
  l->add_ids(1);
  l->add_string_ids("r1");
  l->add_timestamp_ms(std::numeric_limits<int64_t>::min());
  return batch;
}

// A batch of random shape and values, from a seeded generator.
v1::Batch RandomBatch(std::mt19937_64& rng) {
  auto below = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  v1::Batch batch;
  int groups = static_cast<int>(below(4));
  for (int gi = 0; gi < groups; ++gi) {
    v1::ModelEvents* g = batch.add_groups();
    g->set_model(std::string(below(40), 'm'));
    if (below(2)) g->set_version(std::string(below(200), 'v'));
    for (uint64_t i = below(4); i > 0; --i) g->add_class_names(std::string(below(20), 'c'));
    int n = static_cast<int>(below(300));
    v1::Predictions* p = g->mutable_predictions();
    for (int i = 0; i < n; ++i) {
      // Values spread over every varint width.
      p->add_predicted(static_cast<uint32_t>(rng() >> below(64)));
      if (below(2)) p->add_timestamp_ms(static_cast<int64_t>(rng() >> below(64)));
      if (below(2)) p->add_ids(rng());
      if (below(4) == 0) p->add_string_ids(std::string(below(150), 's'));
      p->add_scores(0.25f);
      p->add_label(static_cast<int32_t>(rng() >> below(64)));
    }
    for (uint64_t c = below(3); c > 0; --c) {
      v1::FeatureColumn* f = p->add_features();
      f->set_name(std::string(below(30), 'f'));
      for (int i = 0; i < n; ++i) f->add_values(1.5f);
    }
    v1::Labels* l = g->mutable_labels();
    for (int i = static_cast<int>(below(100)); i > 0; --i) {
      l->add_label(static_cast<uint32_t>(rng() >> below(64)));
      l->add_ids(rng());
      if (below(2)) l->add_string_ids(std::string(below(40), 'r'));
      l->add_timestamp_ms(static_cast<int64_t>(rng()));
    }
  }
  return batch;
}

TEST(BatchBytesUpperBoundTest, EmptyBatchIsZero) {
  EXPECT_EQ(BatchBytesUpperBound(v1::Batch()), 0u);
}

TEST(BatchBytesUpperBoundTest, NeverBelowTheEncodedSize) {
  v1::Batch widest = WidestBatch();
  EXPECT_GE(BatchBytesUpperBound(widest), widest.ByteSizeLong());

  std::mt19937_64 rng(20240501);
  for (int i = 0; i < 2000; ++i) {
    v1::Batch batch = RandomBatch(rng);
    ASSERT_GE(BatchBytesUpperBound(batch), batch.ByteSizeLong()) << batch.ShortDebugString();
  }
}

TEST(BatchBytesUpperBoundTest, StaysCloseForTypicalBatches) {
  // 256 events of 10 scores, an id and a label each: the bound stays within 1.5 times the encoded
  // size, so only batches near the limit pay for ByteSizeLong().
  v1::Batch batch;
  v1::ModelEvents* g = batch.add_groups();
  g->set_model("fraud");
  for (int i = 0; i < 256; ++i) {
    g->mutable_predictions()->add_predicted(i % 10);
    g->mutable_predictions()->add_ids(i + 1);
    g->mutable_predictions()->add_label(i % 10);
    for (int c = 0; c < 10; ++c) g->mutable_predictions()->add_scores(0.1f);
  }
  EXPECT_GE(BatchBytesUpperBound(batch), batch.ByteSizeLong());
  EXPECT_LE(BatchBytesUpperBound(batch), batch.ByteSizeLong() * 3 / 2);
}

TEST(BatchBytesUpperBoundTest, UnknownFieldsGetNoBound) {
  // Field 15 is unknown to this version of the protocol; the parser keeps it.
  v1::Batch with_unknown;
  std::string wire = WidestBatch().SerializeAsString();
  wire += std::string("\x78\x01", 2);  // field 15, varint 1
  ASSERT_TRUE(with_unknown.ParseFromString(wire));
  EXPECT_EQ(BatchBytesUpperBound(with_unknown), SIZE_MAX);

  // The same inside a nested message.
  v1::Batch nested = WidestBatch();
  v1::Predictions p;
  std::string predictions_wire = nested.groups(0).predictions().SerializeAsString();
  predictions_wire += std::string("\x78\x01", 2);
  ASSERT_TRUE(p.ParseFromString(predictions_wire));
  *nested.mutable_groups(0)->mutable_predictions() = p;
  EXPECT_EQ(BatchBytesUpperBound(nested), SIZE_MAX);
}

// A real gRPC server on a loopback port with pipeline threads allowed, whatever the machine's
// core count.
class IngestServiceStreamTest : public ::testing::Test {
 protected:
  static constexpr char kConfig[] = R"(
models:
  - name: fraud
    classes: [legit, fraud]
)";

  void SetUp() override {
    absl::StatusOr<config::Config> config = config::ParseConfig(kConfig, "test");
    ASSERT_TRUE(config.ok()) << config.status();
    registry_ = std::make_unique<core::Registry>(config->models, config->registry);
    service_ = std::make_unique<IngestService>(*registry_, clock_, counters_, size_t{1} << 20,
                                               /*max_ingest_threads=*/2);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::Ingest::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // `n` valid predictions of `fraud`, each with scores and an inline label.
  static v1::Batch GoodBatch(int n) {
    v1::Batch batch;
    v1::ModelEvents* g = batch.add_groups();
    g->set_model("fraud");
    v1::Predictions* p = g->mutable_predictions();
    for (int i = 0; i < n; ++i) {
      p->add_predicted(i % 2);
      p->add_scores(0.25f);
      p->add_scores(0.75f);
      p->add_label((i / 2) % 2);
    }
    return batch;
  }

  core::ManualClock clock_;
  IngestCounters counters_;
  std::unique_ptr<core::Registry> registry_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
};

TEST_F(IngestServiceStreamTest, PipelinedStreamTotalsEveryBatch) {
  grpc::ClientContext context;
  v1::IngestReply reply;
  std::unique_ptr<grpc::ClientWriter<v1::Batch>> writer = stub_->Stream(&context, &reply);

  // Batches large enough to be handed off, with empty ones (rejected, stream stays open) and
  // small ones (applied inline or queued) between them.
  uint64_t predictions = 0;
  uint64_t empty = 0;
  for (int k = 0; k < 600; ++k) {
    if (k % 7 == 3) {
      ASSERT_TRUE(writer->Write(v1::Batch()));
      ++empty;
      continue;
    }
    int n = k % 5 == 0 ? 1 + k % 13 : 64 + k % 200;
    ASSERT_TRUE(writer->Write(GoodBatch(n)));
    predictions += n;
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();

  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.batches(), 600u);
  EXPECT_EQ(reply.accepted_predictions(), predictions);
  EXPECT_EQ(reply.accepted_labels(), 0u);
  ASSERT_EQ(reply.rejected_size(), 1);
  EXPECT_EQ(reply.rejected(0).reason(), v1::EMPTY_BATCH);
  EXPECT_EQ(reply.rejected(0).count(), empty);
}

TEST_F(IngestServiceStreamTest, OversizeBatchKeepsItsExactSizeInTheMessage) {
  v1::Batch big = GoodBatch(150000);
  v1::IngestReply reply;
  grpc::ClientContext context;
  grpc::Status status = stub_->Send(&context, big, &reply);

  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(reply.rejected_size(), 1);
  EXPECT_EQ(reply.rejected(0).reason(), v1::BATCH_TOO_LARGE);
  EXPECT_EQ(reply.rejected(0).first_message(),
            absl::StrCat("batch of ", big.ByteSizeLong(),
                         " bytes exceeds --max_batch_bytes=", size_t{1} << 20));
}

}  // namespace
}  // namespace modelwatch::daemon

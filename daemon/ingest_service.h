#pragma once

#include <cstddef>
#include <cstdint>

#include "core/clock.h"
#include "core/registry.h"
#include "core/reject_reason.h"
#include "daemon/ingest_counters.h"
#include "grpcpp/grpcpp.h"
#include "modelwatch/v1/ingest.grpc.pb.h"

namespace modelwatch::daemon {

// The modelwatch.v1.Ingest gRPC service (synchronous API): Stream and Send.
//
// Per batch: a batch larger than `max_batch_bytes` is rejected as one batch_too_large event and
// nothing in it is read; a batch with no groups, and each group with no events, is one
// empty_batch event; a group that sets both
// numeric and string ids rejects all its events as conflicting_ids. Every other group goes to
// Registry::Ingest() through a GroupView that aliases the decoded protobuf. The clock is read once
// per batch. A bad batch never ends a stream; the reply totals every batch of the RPC.
//
// Thread-safe: gRPC calls the handlers from its worker threads. Per batch the service's own work
// allocates nothing after warm-up (a thread-local GroupViewBuilder and per-model tally), takes no
// lock per event (one reader lock per model per batch for the accepted counters), and logs once at
// trace level. Does not own the registry, clock or counters, which must outlive it.
class IngestService final : public v1::Ingest::Service {
 public:
  IngestService(core::Registry& registry, const core::Clock& clock, IngestCounters& counters,
                size_t max_batch_bytes);

  grpc::Status Stream(grpc::ServerContext* context, grpc::ServerReader<v1::Batch>* reader,
                      v1::IngestReply* reply) override;
  grpc::Status Send(grpc::ServerContext* context, const v1::Batch* batch,
                    v1::IngestReply* reply) override;

  // Applies one batch, adding its outcome to `tally` and to the process-wide counters.
  void IngestBatch(const v1::Batch& batch, Rpc rpc, core::IngestTally& tally);

 private:
  // Set at construction.
  core::Registry& registry_;
  const core::Clock& clock_;
  IngestCounters& counters_;
  const size_t max_batch_bytes_;
};

// Copies a tally into a reply (accepted counts, one Rejection per reason that occurred).
void FillReply(const core::IngestTally& tally, uint64_t batches, v1::IngestReply& reply);

}  // namespace modelwatch::daemon

#pragma once

#include <cstddef>
#include <cstdint>

#include "core/clock.h"
#include "core/registry.h"
#include "core/reject_reason.h"
#include "daemon/batch_pipeline.h"
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
// Stream reads batches on its gRPC handler thread and applies them through a BatchPipeline, so
// decoding one batch overlaps applying the previous ones on a second thread; batches of a stream
// are applied in order, and every batch read is applied before the reply is sent, whether the
// stream ends by half-close, cancellation or server shutdown. At most `max_ingest_threads`
// pipeline threads run at once; a stream beyond that (or every stream, with 0) applies its
// batches on its handler thread. Each pipeline thread is a counter writer of its own, holding a
// core::WriterSlot while the stream lasts: the owner must add `max_ingest_threads` to the slots
// it reserves for the gRPC threads, or writers beyond the capacity share the locked overflow
// shard. Send applies its batch on the handler thread.
//
// Thread-safe: gRPC calls the handlers from its worker threads. Per batch the service's own work
// allocates nothing after warm-up (a thread-local GroupViewBuilder and per-model tally), takes no
// lock per event (one reader lock per model per batch for the accepted counters), and logs once at
// trace level. The size check reads field lengths only, and encodes nothing unless their bound
// exceeds `max_batch_bytes`. Does not own the registry, clock or counters, which must outlive it.
class IngestService final : public v1::Ingest::Service {
 public:
  IngestService(core::Registry& registry, const core::Clock& clock, IngestCounters& counters,
                size_t max_batch_bytes, int max_ingest_threads = 0);

  // A value for `max_ingest_threads`: one per core the process may run on beyond two, and none
  // with two cores or fewer. A hand-off between threads pays off only while a core is idle: the
  // reading threads and the model server next to the daemon need the first two. On a 2-core
  // machine shared with the load generator, pipelined streams measured slower (cross-core
  // wake-ups cost more than the overlap saved). Counts the CPU affinity mask, which does not see
  // a container's CPU quota: the daemon uses it only when asked (--ingest_threads=-1).
  static int DefaultIngestThreads();

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

  IngestThreadQuota ingest_threads_;
};

// An upper bound on `batch.ByteSizeLong()` from field lengths alone: every varint counted at its
// widest, every tag and length prefix at 11 bytes, so it is never below the exact size. Costs a few
// length reads per group and one per string. SIZE_MAX when the batch carries unknown fields.
size_t BatchBytesUpperBound(const v1::Batch& batch);

// Copies a tally into a reply (accepted counts, one Rejection per reason that occurred).
void FillReply(const core::IngestTally& tally, uint64_t batches, v1::IngestReply& reply);

}  // namespace modelwatch::daemon

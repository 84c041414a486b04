// loadgen: streams batches of prediction events to a modelwatch.v1.Ingest server (modelwatchd or
// noop_server) over gRPC and reports the rate the server absorbed them at.
//
//   loadgen --target=127.0.0.1:50051 --batch=256 --streams=1 --seconds=5
//
// Before sending, each stream builds a few batches (--prebuilt) of --batch events of one model:
// random classes, per-row normalized scores, inline labels and ids. Before every write it
// rewrites the ids of the batch it is about to send from a per-stream counter, so every event of
// the run carries a distinct id; nothing else is built on the send path, and the rate measures
// the server rather than the generator.
//
// The run has a warm-up (--warmup seconds, not measured) and a measured part that ends after
// --seconds, or after --batches further batches per stream when --batches is set. The measured
// interval closes when every stream has received its reply, so events still queued in the
// transport at the end are counted only once the server has read them. Each reply's accepted
// count is checked against the events that stream sent; a mismatch, a rejection or an RPC error
// makes the run fail (exit status 1).
//
// With --server_pid, the server's CPU time over the measured part (from /proc) is reported per
// event too: on a machine shared with other work, the rate moves with the load, while the CPU
// cost per event moves much less.
//
// Output: one line of key=value fields on stdout (bench/run.sh parses `events_per_second` and
// `server_ns_per_event`), and a readable summary on stderr.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load_batch.h"
#include "daemon/process_tuning.h"
#include "grpcpp/grpcpp.h"
#include "modelwatch/v1/ingest.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Server address, host:port.");
ABSL_FLAG(std::string, model, "loadgen", "Model name of every event.");
ABSL_FLAG(std::string, version, "", "Model version of every event (empty: the default).");
ABSL_FLAG(int, classes, 10, "Number of classes.");
ABSL_FLAG(bool, class_names, true,
          "Send the class dictionary (c0, c1, ...) with every group, so a server that learns "
          "classes accepts the events.");
ABSL_FLAG(int, batch, 256, "Events per batch.");
ABSL_FLAG(bool, one_event_per_message, false, "Send batches of one event (overrides --batch).");
ABSL_FLAG(int, streams, 1, "Concurrent streams, each on its own thread and connection.");
ABSL_FLAG(std::string, rpc, "stream",
          "\"stream\": one client stream per thread; \"send\": one unary call per batch.");
ABSL_FLAG(double, seconds, 5, "Measured duration, when --batches is 0.");
ABSL_FLAG(int64_t, batches, 0, "When > 0, batches per stream in the measured part.");
ABSL_FLAG(double, warmup, 1, "Seconds of unmeasured sending before the measured part.");
ABSL_FLAG(bool, scores, true, "Send per-class scores.");
ABSL_FLAG(bool, ids, true, "Send a distinct 64-bit id per event.");
ABSL_FLAG(bool, labelled, true, "Send inline labels, so every event is evaluated on arrival.");
ABSL_FLAG(bool, timestamps, false, "Send prediction timestamps.");
ABSL_FLAG(int, features, 0, "Numeric feature columns per event (named f0, f1, ...).");
ABSL_FLAG(int, prebuilt, 8, "Distinct batches built per stream and sent in turn.");
ABSL_FLAG(double, accuracy, 0.8, "Fraction of inline labels equal to the predicted class.");
ABSL_FLAG(uint64_t, seed, 1, "Random seed.");
ABSL_FLAG(int, server_pid, 0,
          "When set, the server's process id: its CPU time over the measured part is reported "
          "per event, a cost that other work on the machine does not distort as it does rates.");

namespace {

namespace v1 = ::modelwatch::v1;
namespace bench = ::modelwatch::bench;

struct Settings {
  std::string target;
  bench::LoadBatchShape shape;
  int streams = 1;
  bool unary = false;
  absl::Duration measured;
  int64_t batches = 0;
  absl::Duration warmup;
  int prebuilt = 8;
  uint64_t seed = 1;
  int server_pid = 0;
};

// One stream's counters, written by its thread and read by the main thread.
struct alignas(64) StreamCounters {
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> batches{0};
};

// What one stream ended with.
struct StreamResult {
  uint64_t events_sent = 0;
  uint64_t batches_sent = 0;
  uint64_t accepted = 0;
  uint64_t batches_acked = 0;
  uint64_t rejected = 0;
  std::string error;  // Empty when the RPCs succeeded.
};

// Flags shared between the main thread and the streams.
struct RunControl {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
};

// Sends batches until told to stop (or, with --batches, until that many were sent after the
// measured part began) and collects the server's replies.
class StreamSender {
 public:
  StreamSender(const Settings& s, int index, const RunControl& control, StreamCounters& counters)
      : s_(s), control_(control), counters_(counters), next_id_((uint64_t{1} + index) << 40) {
    std::mt19937_64 rng(s.seed * 1000003 + index);
    for (int i = 0; i < s.prebuilt; ++i) batches_.push_back(bench::BuildLoadBatch(s.shape, rng));
    batch_bytes_ = batches_[0].ByteSizeLong();

    // Each stream gets its own connection: a local subchannel pool stops gRPC from sharing one
    // HTTP/2 connection between channels with the same target.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(-1);
    stub_ = v1::Ingest::NewStub(
        grpc::CreateCustomChannel(s.target, grpc::InsecureChannelCredentials(), args));
  }

  size_t batch_bytes() const { return batch_bytes_; }

  StreamResult Run() { return s_.unary ? RunUnary() : RunStream(); }

 private:
  // The next batch to send, with fresh ids.
  const v1::Batch& NextBatch() {
    v1::Batch& batch = batches_[sent_ % batches_.size()];
    if (s_.shape.ids) {
      uint64_t* ids = batch.mutable_groups(0)->mutable_predictions()->mutable_ids()->mutable_data();
      for (int i = 0; i < s_.shape.events; ++i) ids[i] = next_id_++;
    }
    return batch;
  }

  // Whether to send another batch; counts the batches of the measured part.
  bool More() {
    if (control_.stop.load(std::memory_order_relaxed)) return false;
    if (s_.batches <= 0 || !control_.measuring.load(std::memory_order_relaxed)) return true;
    return measured_batches_++ < s_.batches;
  }

  void Sent() {
    ++sent_;
    counters_.events.fetch_add(s_.shape.events, std::memory_order_relaxed);
    counters_.batches.fetch_add(1, std::memory_order_relaxed);
  }

  void Tally(const v1::IngestReply& reply, StreamResult& result) {
    result.accepted += reply.accepted_predictions();
    result.batches_acked += reply.batches();
    for (const v1::Rejection& r : reply.rejected()) {
      result.rejected += r.count();
      if (result.error.empty()) {
        result.error =
            absl::StrCat("rejected ", r.count(), " events: ", v1::RejectReason_Name(r.reason()),
                         ": ", r.first_message());
      }
    }
  }

  StreamResult RunStream() {
    StreamResult result;
    grpc::ClientContext context;
    v1::IngestReply reply;
    std::unique_ptr<grpc::ClientWriter<v1::Batch>> writer = stub_->Stream(&context, &reply);
    while (More()) {
      // A failed write means the stream is broken; Finish() says why.
      if (!writer->Write(NextBatch())) break;
      Sent();
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();

    result.events_sent = sent_ * s_.shape.events;
    result.batches_sent = sent_;
    if (!status.ok()) {
      result.error =
          absl::StrCat("Stream failed: ", status.error_code(), ": ", status.error_message());
      return result;
    }
    Tally(reply, result);
    return result;
  }

  StreamResult RunUnary() {
    StreamResult result;
    while (More()) {
      grpc::ClientContext context;
      v1::IngestReply reply;
      const grpc::Status status = stub_->Send(&context, NextBatch(), &reply);
      if (!status.ok()) {
        result.error =
            absl::StrCat("Send failed: ", status.error_code(), ": ", status.error_message());
        break;
      }
      Sent();
      Tally(reply, result);
    }
    result.events_sent = sent_ * s_.shape.events;
    result.batches_sent = sent_;
    return result;
  }

  // Set at construction.
  const Settings& s_;
  const RunControl& control_;
  StreamCounters& counters_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  size_t batch_bytes_ = 0;

  // Used only by the stream's thread.
  std::vector<v1::Batch> batches_;
  uint64_t next_id_;
  uint64_t sent_ = 0;
  int64_t measured_batches_ = 0;
};

// User plus system CPU seconds used so far by all threads of process `pid` (0: this process),
// from /proc; -1 when unreadable.
double ProcessCpuSeconds(int pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/stat")
                            : absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name may hold spaces; the fields after it are the state, ..., utime (the 12th
  // after the name) and stime (the 13th), in clock ticks.
  const size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) return -1;
  std::istringstream fields(stat.substr(name_end + 1));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i >= 12) ticks += std::strtod(field.c_str(), nullptr);
  }
  if (!fields) return -1;
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t TotalEvents(const std::vector<StreamCounters>& counters) {
  uint64_t total = 0;
  for (const StreamCounters& c : counters) total += c.events.load(std::memory_order_relaxed);
  return total;
}

// Reads and checks the flags; returns an error message or "".
std::string ReadSettings(Settings& s) {
  s.target = absl::GetFlag(FLAGS_target);
  s.shape.model = absl::GetFlag(FLAGS_model);
  s.shape.version = absl::GetFlag(FLAGS_version);
  s.shape.classes = absl::GetFlag(FLAGS_classes);
  s.shape.class_names = absl::GetFlag(FLAGS_class_names);
  s.shape.events = absl::GetFlag(FLAGS_one_event_per_message) ? 1 : absl::GetFlag(FLAGS_batch);
  s.shape.scores = absl::GetFlag(FLAGS_scores);
  s.shape.ids = absl::GetFlag(FLAGS_ids);
  s.shape.labelled = absl::GetFlag(FLAGS_labelled);
  s.shape.timestamps = absl::GetFlag(FLAGS_timestamps);
  s.shape.features = absl::GetFlag(FLAGS_features);
  s.shape.accuracy = absl::GetFlag(FLAGS_accuracy);
  s.streams = absl::GetFlag(FLAGS_streams);
  s.measured = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  s.batches = absl::GetFlag(FLAGS_batches);
  s.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup));
  s.prebuilt = absl::GetFlag(FLAGS_prebuilt);
  s.seed = absl::GetFlag(FLAGS_seed);
  s.server_pid = absl::GetFlag(FLAGS_server_pid);

  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (rpc != "stream" && rpc != "send") return "--rpc must be \"stream\" or \"send\"";
  s.unary = rpc == "send";
  if (s.shape.classes < 1) return "--classes must be at least 1";
  if (s.shape.events < 1) return "--batch must be at least 1";
  if (s.streams < 1) return "--streams must be at least 1";
  if (s.prebuilt < 1) return "--prebuilt must be at least 1";
  if (s.shape.features < 0) return "--features must not be negative";
  if (s.batches <= 0 && s.measured <= absl::ZeroDuration()) {
    return "set --seconds or --batches to a positive value";
  }
  if (s.warmup < absl::ZeroDuration()) return "--warmup must not be negative";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Streams batches of prediction events to a modelwatch.v1.Ingest server and reports "
      "events/s.");
  absl::ParseCommandLine(argc, argv);
  // The client gets the same process settings as both servers, so it is no bottleneck of its own.
  modelwatch::daemon::TuneProcessForIngest();
  Settings s;
  if (const std::string error = ReadSettings(s); !error.empty()) {
    std::fprintf(stderr, "loadgen: %s\n", error.c_str());
    return 2;
  }

  // Batches are built before any stream starts, so building them is not part of the run.
  RunControl control;
  std::vector<StreamCounters> counters(s.streams);
  std::vector<std::unique_ptr<StreamSender>> senders;
  for (int i = 0; i < s.streams; ++i) {
    senders.push_back(std::make_unique<StreamSender>(s, i, control, counters[i]));
  }

  std::vector<StreamResult> results(s.streams);
  std::vector<std::thread> threads;
  for (int i = 0; i < s.streams; ++i) {
    threads.emplace_back([&, i] { results[i] = senders[i]->Run(); });
  }

  // The measured part starts after the warm-up and ends when every reply is in.
  absl::SleepFor(s.warmup);
  const uint64_t events_before = TotalEvents(counters);
  const double server_cpu_before = s.server_pid > 0 ? ProcessCpuSeconds(s.server_pid) : -1;
  const double client_cpu_before = ProcessCpuSeconds(0);
  const absl::Time start = absl::Now();
  control.measuring.store(true, std::memory_order_relaxed);
  if (s.batches <= 0) {
    absl::SleepFor(s.measured);
    control.stop.store(true, std::memory_order_relaxed);
  }
  for (std::thread& t : threads) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const uint64_t measured_events = TotalEvents(counters) - events_before;
  const double server_cpu_after = s.server_pid > 0 ? ProcessCpuSeconds(s.server_pid) : -1;
  const double client_cpu = ProcessCpuSeconds(0) - client_cpu_before;

  // CPU nanoseconds per event; -1 when unknown.
  const auto per_event = [&](double cpu_seconds) {
    return cpu_seconds >= 0 && measured_events > 0 ? cpu_seconds * 1e9 / measured_events : -1.0;
  };
  const double server_ns_per_event = server_cpu_before >= 0 && server_cpu_after >= 0
                                         ? per_event(server_cpu_after - server_cpu_before)
                                         : -1.0;
  const double client_ns_per_event = per_event(client_cpu);

  // Every event sent, warm-up included, must be accepted.
  StreamResult total;
  std::string first_error;
  for (const StreamResult& r : results) {
    total.events_sent += r.events_sent;
    total.batches_sent += r.batches_sent;
    total.accepted += r.accepted;
    total.batches_acked += r.batches_acked;
    total.rejected += r.rejected;
    if (first_error.empty()) first_error = r.error;
  }
  if (first_error.empty() && total.accepted != total.events_sent) {
    first_error =
        absl::StrCat("server accepted ", total.accepted, " of ", total.events_sent, " events sent");
  }
  if (first_error.empty() && total.batches_acked != total.batches_sent) {
    first_error = absl::StrCat("server read ", total.batches_acked, " of ", total.batches_sent,
                               " batches sent");
  }

  const double events_per_second = elapsed > 0 ? measured_events / elapsed : 0;
  const double bytes_per_event = static_cast<double>(senders[0]->batch_bytes()) / s.shape.events;
  std::printf(
      "target=%s rpc=%s batch=%d streams=%d classes=%d scores=%d ids=%d labelled=%d features=%d "
      "seconds=%.3f events=%llu events_per_second=%.0f batches_per_second=%.0f "
      "mib_per_second=%.1f bytes_per_event=%.1f server_ns_per_event=%.1f "
      "client_ns_per_event=%.1f sent=%llu accepted=%llu rejected=%llu ok=%s\n",
      s.target.c_str(), s.unary ? "send" : "stream", s.shape.events, s.streams, s.shape.classes,
      s.shape.scores, s.shape.ids, s.shape.labelled, s.shape.features, elapsed,
      static_cast<unsigned long long>(measured_events), events_per_second,
      events_per_second / s.shape.events, events_per_second * bytes_per_event / (1 << 20),
      bytes_per_event, server_ns_per_event, client_ns_per_event,
      static_cast<unsigned long long>(total.events_sent),
      static_cast<unsigned long long>(total.accepted),
      static_cast<unsigned long long>(total.rejected), first_error.empty() ? "true" : "false");
  std::fprintf(stderr, "loadgen: %s\n",
               absl::StrFormat("%.2f M events/s over %.2f s (%d stream(s), batch %d)",
                               events_per_second / 1e6, elapsed, s.streams, s.shape.events)
                   .c_str());
  if (!first_error.empty()) {
    std::fprintf(stderr, "loadgen: FAILED: %s\n", first_error.c_str());
    return 1;
  }
  return 0;
}

// noop_server: the baseline for the ingest load test. It implements modelwatch.v1.Ingest with
// gRPC's synchronous API, as modelwatchd does, decodes every batch into a modelwatch.v1.Batch and
// throws it away after counting its events, so the reply matches what modelwatchd would send for
// valid input. The load generator's rate against this server is the ceiling that gRPC, protobuf
// decoding and the loopback leave for any ingest service on the same machine.
//
//   noop_server --listen=127.0.0.1:0 --port_file=/tmp/noop.port
//
// The port file receives "grpc=HOST:PORT\n" once the server listens (the format modelwatchd
// writes). SIGTERM or SIGINT shuts the server down, letting in-flight streams finish.

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "daemon/process_tuning.h"
#include "grpcpp/grpcpp.h"
#include "modelwatch/v1/ingest.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC listen address; port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "",
          "When set, write \"grpc=HOST:PORT\\n\" to this file once listening.");
ABSL_FLAG(int, max_receive_bytes, 64 << 20, "Largest batch the server reads, in bytes.");

namespace {

namespace v1 = ::modelwatch::v1;

// Adds one batch's event counts to the reply.
void CountBatch(const v1::Batch& batch, v1::IngestReply& reply) {
  for (const v1::ModelEvents& group : batch.groups()) {
    reply.set_accepted_predictions(reply.accepted_predictions() +
                                   group.predictions().predicted_size());
    reply.set_accepted_labels(reply.accepted_labels() + group.labels().label_size());
  }
  reply.set_batches(reply.batches() + 1);
}

// Accepts everything and keeps nothing.
class NoopIngest final : public v1::Ingest::Service {
 public:
  grpc::Status Stream(grpc::ServerContext* /*context*/, grpc::ServerReader<v1::Batch>* reader,
                      v1::IngestReply* reply) override {
    // One message reused for the whole stream, as a long-lived stream handler would.
    v1::Batch batch;
    while (reader->Read(&batch)) CountBatch(batch, *reply);
    return grpc::Status::OK;
  }

  grpc::Status Send(grpc::ServerContext* /*context*/, const v1::Batch* batch,
                    v1::IngestReply* reply) override {
    CountBatch(*batch, *reply);
    return grpc::Status::OK;
  }
};

// Writes the port file through a rename so a reader never sees half of it.
bool WritePortFile(const std::string& path, const std::string& address) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const std::string text = absl::StrCat("grpc=", address, "\n");
  const bool written = std::fputs(text.c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !written) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// "127.0.0.1:0" with port 4242 becomes "127.0.0.1:4242".
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return absl::StrCat(listen.substr(0, colon == std::string::npos ? listen.size() : colon), ":",
                      port);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A modelwatch.v1.Ingest server that decodes and discards every batch: the baseline for "
      "the ingest load test.");
  absl::ParseCommandLine(argc, argv);
  modelwatch::daemon::TuneProcessForIngest();

  // Signals are taken by sigwait() below, so every thread gRPC starts must inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  NoopIngest service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_receive_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "noop_server: cannot listen on %s\n", absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }

  const std::string address = WithPort(absl::GetFlag(FLAGS_listen), port);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, address)) {
    std::fprintf(stderr, "noop_server: cannot write %s\n", port_file.c_str());
    return 1;
  }
  std::fprintf(stderr, "noop_server: listening grpc=%s\n", address.c_str());

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

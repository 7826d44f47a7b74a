// A real gRPC server on loopback with scripted Sync and Enrollment services, to test what
// GrpcTransport and Enroll put on the wire and how they read what comes back.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kitsync/v1/enrollment.grpc.pb.h"
#include "kitsync/v1/sync.grpc.pb.h"

namespace kitsync::testing {

class ScriptedSync final : public v1::Sync::Service {
 public:
  grpc::Status Push(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PushAck, v1::PushBatch>* stream) override;
  grpc::Status Pull(grpc::ServerContext* context, const v1::PullRequest* request,
                    grpc::ServerWriter<v1::PullBatch>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::StatusRequest* request,
                         v1::StatusResponse* response) override;

  // Script. Set before calls start.
  size_t ack_lag = 1;  // a batch is acked once this many are unacknowledged (or the input ends)
  grpc::Status push_error = grpc::Status::OK;  // returned after reading the first batch
  std::chrono::milliseconds ack_delay{0};      // before each push ack
  int pull_batches = 3;
  std::chrono::milliseconds pull_gap{0};  // between pull batches
  std::chrono::milliseconds status_delay{0};
  // GetStatus names "zstd-records"; pushed frames are inflated, and a pull that names it gets
  // each batch (holding one change) as a frame.
  bool reads_zstd = false;
  int damaged_pull_batch = 0;  // this pulled batch's frame (1-based) is cut short; 0: none

  // Observations.
  std::string Authorization() const;
  size_t max_unacked() const { return max_unacked_; }
  int push_streams() const { return push_streams_; }
  int batches_read() const { return batches_read_; }
  int zstd_batches_read() const { return zstd_batches_read_; }
  int pull_batches_written() const { return pull_written_; }

 private:
  void Observe(grpc::ServerContext* context);

  mutable std::mutex mu_;
  std::string authorization_;
  std::atomic<size_t> max_unacked_{0};
  std::atomic<int> push_streams_{0};
  std::atomic<int> batches_read_{0};
  std::atomic<int> zstd_batches_read_{0};
  std::atomic<int> pull_written_{0};
};

class ScriptedEnrollment final : public v1::Enrollment::Service {
 public:
  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;
  std::string good_code = "K7Q2-M9XD";
  v1::EnrollResponse answer;  // what a good code gets

  // Observations: the device_token of each request, in order.
  std::vector<std::string> OfferedTokens() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> offered_tokens_;
};

// Both services on 127.0.0.1 at a free port, with plaintext or (given PEM) TLS. A server that
// does not accept gzip refuses gzip-compressed requests (UNIMPLEMENTED), which shows a client
// compresses.
class ScriptedServer {
 public:
  // `port` 0 picks a free one.
  explicit ScriptedServer(const std::string& cert_pem = "", const std::string& key_pem = "",
                          bool accept_gzip = true, int port = 0);
  ~ScriptedServer();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  ScriptedSync sync;
  ScriptedEnrollment enrollment;

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace kitsync::testing

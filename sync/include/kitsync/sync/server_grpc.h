// Running the central server over gRPC: listening, TLS, message limits, keepalive, compression
// and health checking, around the services of server_services.h.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_reports_service.h"
#include "kitsync/sync/server_services.h"

namespace kitsync::sync {

struct ServerConfig {
  // "host:port"; port 0 picks a free port (see GrpcServer::port()).
  std::string listen_address = "127.0.0.1:0";
  // PEM files. Both, or neither: plaintext is allowed only on a loopback address.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Largest message either way. A full push batch is well under 1 MiB.
  int max_message_bytes = 8 << 20;
  // Pings an idle connection so that NAT boxes on border links keep it, and notices a dead one.
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 20'000;
  // How often a tablet may ping without sending data before the server calls it abuse.
  int min_client_ping_interval_ms = 10'000;
  // Threads for the calls other than Push and Pull; those hold none while they wait.
  int max_threads = 64;
  // Push streams open at once, per device and in all. A tablet needs one, and another while the
  // server has not yet noticed that a cut one is gone (keepalive); each open stream may hold a
  // few decoded batches. Beyond either: RESOURCE_EXHAUSTED, and the tablet tries again later.
  int max_push_streams_per_device = 4;
  int max_push_streams = 1024;
  // Pulls open at once, per device and in all, likewise: each holds one batch of up to 1,000
  // changes while its tablet takes it.
  int max_pulls_per_device = 4;
  int max_pulls = 1024;
};

class GrpcServer {
 public:
  // Listens and serves until Shutdown. FAILED_PRECONDITION for plaintext on a non-loopback
  // address; INVALID_ARGUMENT for unreadable TLS files; UNAVAILABLE when the address cannot be
  // bound. `logic` must outlive the server.
  static core::Result<std::unique_ptr<GrpcServer>> Start(ServerLogic* logic,
                                                         const ServerConfig& config);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The port listened on (the one picked, when the address asked for port 0).
  int port() const { return port_; }
  bool tls() const { return tls_; }

  // Stops accepting calls, lets calls in flight finish until `grace` has passed, then cancels
  // the rest. Returns once every call has ended and no pushed batch is being applied. Safe to
  // call more than once, from one thread at a time.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until every call has ended (a Shutdown on another thread may still be waiting for a
  // pushed batch to be applied: join that thread before the logic or the store go away).
  void Wait();

 private:
  GrpcServer(ServerLogic* logic, const ServerConfig& config);

  SyncService sync_;
  EnrollmentService enrollment_;
  AdminService admin_;
  ReportsService reports_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<bool> shut_down_{false};
};

}  // namespace kitsync::sync

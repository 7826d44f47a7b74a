// The admin tool's connection to the server: channel credentials, the admin token, and a
// deadline on every call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "kitsync/core/status.h"
#include "kitsync/v1/admin.grpc.pb.h"

namespace kitsync::admin {

struct ConnectionOptions {
  std::string server = "127.0.0.1:7443";  // host:port
  std::string token_file;                 // the admin credential made by 'kitsync-server init'
  std::string ca_file;                    // PEM roots to verify the server; see Connect()
  int timeout_seconds = 30;
  // The ID of this invocation's write; a new one when empty (see AdminClient::Write).
  std::string request_id;
};

class AdminClient {
 public:
  // TLS with `ca_file` when given; else plaintext for a loopback server and TLS with the
  // system's roots for any other.
  static core::Result<std::unique_ptr<AdminClient>> Connect(const ConnectionOptions& options);

  v1::Admin::Stub& stub() { return *stub_; }
  // The connection, for the stubs of other services (the reports).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // A context carrying the credential and the deadline; one per call.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  // One invocation makes at most one decision, under this ID: every attempt of it carries the
  // same ID, so the server records it once however often it is sent.
  const std::string& request_id() const { return request_id_; }
  // Runs a write (`call` gets a fresh context each time) and sends it again, under the same
  // request ID, while its outcome is unknown (UNAVAILABLE, DEADLINE_EXCEEDED), a few times with
  // a growing pause. The last status.
  grpc::Status Write(const std::function<grpc::Status(grpc::ClientContext*)>& call) const;

 private:
  AdminClient() = default;
  std::unique_ptr<v1::Admin::Stub> stub_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string token_;
  std::chrono::seconds timeout_{30};
  std::string request_id_;
};

// For a write whose outcome stayed unknown: the failure, and how to repeat it without it being
// recorded twice. Returns kExitFailure.
int FailWrite(const grpc::Status& status, const std::string& request_id);

// INVALID_ARGUMENT naming the file when it cannot be read or is empty.
core::Result<std::string> ReadTokenFile(const std::string& path);

}  // namespace kitsync::admin

// The admin tool's connection to the server: channel credentials, the admin token, and a
// deadline on every call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
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

 private:
  AdminClient() = default;
  std::unique_ptr<v1::Admin::Stub> stub_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string token_;
  std::chrono::seconds timeout_{30};
};

// INVALID_ARGUMENT naming the file when it cannot be read or is empty.
core::Result<std::string> ReadTokenFile(const std::string& path);

}  // namespace kitsync::admin

#include "admin_client.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "admin_output.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/server_auth.h"

namespace kitsync::admin {

using core::Result;
using core::Status;

Result<std::string> ReadTokenFile(const std::string& path) {
  if (path.empty()) {
    return Status::InvalidArgument(
        "no admin credential: pass --token-file or set KITSYNC_ADMIN_TOKEN_FILE");
  }
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read the admin token file " + path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument("the admin token file " + path + " is empty");
  return token;
}

Result<std::unique_ptr<AdminClient>> AdminClient::Connect(const ConnectionOptions& options) {
  if (options.timeout_seconds < 1) return Status::InvalidArgument("--timeout must be at least 1");
  std::unique_ptr<AdminClient> client(new AdminClient());
  ASSIGN_OR_RETURN(client->token_, ReadTokenFile(options.token_file));
  client->timeout_ = std::chrono::seconds(options.timeout_seconds);
  client->request_id_ = options.request_id.empty() ? core::NewUuidV7() : options.request_id;

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.ca_file.empty()) {
    std::ifstream in(options.ca_file, std::ios::binary);
    if (!in) return Status::InvalidArgument("cannot read the CA file " + options.ca_file);
    std::ostringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
  } else if (sync::IsLoopbackAddress(options.server)) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    credentials = grpc::SslCredentials(grpc::SslCredentialsOptions());
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  args.SetMaxSendMessageSize(8 << 20);
  client->channel_ = grpc::CreateCustomChannel(options.server, credentials, args);
  client->stub_ = v1::Admin::NewStub(client->channel_);
  return client;
}

std::unique_ptr<grpc::ClientContext> AdminClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer " + token_);
  context->set_deadline(std::chrono::system_clock::now() + timeout_);
  return context;
}

grpc::Status AdminClient::Write(
    const std::function<grpc::Status(grpc::ClientContext*)>& call) const {
  constexpr int kAttempts = 3;
  grpc::Status status;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    auto context = NewContext();
    status = call(context.get());
    const bool unknown = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!unknown || attempt == kAttempts) break;
    std::this_thread::sleep_for(std::chrono::seconds(attempt));
  }
  return status;
}

int FailWrite(const grpc::Status& status, const std::string& request_id) {
  const int code = FailCall(status);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "The server may or may not have recorded it. Run the same command again with\n"
              << "  --request-id " << request_id << "\n"
              << "and it is recorded once, whichever happened.\n";
  }
  return code;
}

}  // namespace kitsync::admin

#include "admin_client.h"

#include <fstream>
#include <sstream>

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

}  // namespace kitsync::admin

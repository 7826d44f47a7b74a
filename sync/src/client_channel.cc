#include "kitsync/sync/client_channel.h"

#include "kitsync/sync/address.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <fstream>
#include <sstream>

namespace kitsync::sync {
namespace {

core::Result<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::InvalidArgument("cannot read the server CA file '" + path + "'");
  std::ostringstream pem;
  pem << in.rdbuf();
  if (pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return core::Status::InvalidArgument("the server CA file '" + path +
                                         "' holds no PEM certificate");
  }
  return pem.str();
}

}  // namespace

core::Result<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                         const std::string& ca_file,
                                                         const ChannelOptions& options) {
  if (address.empty()) return core::Status::InvalidArgument("the server address is empty");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (ca_file.empty()) {
    // Plaintext would put the device credential and beneficiary data on the wire in clear.
    if (!IsLoopbackAddress(address)) {
      return core::Status::FailedPrecondition(
          "refusing an unencrypted connection to '" + address +
          "': give the server's CA certificate (--ca FILE); plaintext is allowed only to a "
          "server on this machine (localhost, 127.0.0.1, [::1])");
    }
    credentials = grpc::InsecureChannelCredentials();
  } else {
    ASSIGN_OR_RETURN(std::string pem, ReadPem(ca_file));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = std::move(pem);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options.keepalive_timeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A channel of its own subchannels: a channel made to replace a failed one (see
  // GrpcTransport::RenewFailedChannel) must not inherit the failed one's reconnect backoff.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(options.max_reconnect_backoff.count()));
  return grpc::CreateCustomChannel(address, credentials, args);
}

}  // namespace kitsync::sync

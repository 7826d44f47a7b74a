#include "kitsync/sync/server_grpc.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <fstream>
#include <sstream>

#include "kitsync/sync/server_auth.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string("cannot read the TLS ") + what + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return Status::InvalidArgument(std::string("the TLS ") + what + " " + path +
                                   " is not a PEM file");
  }
  return text.str();
}

Result<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerConfig& config) {
  const bool has_cert = !config.tls_cert_file.empty();
  const bool has_key = !config.tls_key_file.empty();
  if (has_cert != has_key) {
    return Status::InvalidArgument("TLS needs both a certificate and its private key");
  }
  if (!has_cert) {
    if (!IsLoopbackAddress(config.listen_address)) {
      return Status::FailedPrecondition(
          "refusing to listen on " + config.listen_address +
          " without TLS: plaintext is allowed only on a loopback address (127.0.0.0/8, "
          "localhost, [::1]). Give a certificate and key (--tls-cert, --tls-key).");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadPem(config.tls_key_file, "private key"));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(config.tls_cert_file, "certificate"));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

}  // namespace

GrpcServer::GrpcServer(ServerLogic* logic, const ServerConfig& config)
    : sync_(logic, config.max_push_streams_per_device, config.max_push_streams,
            config.max_pulls_per_device, config.max_pulls),
      enrollment_(logic),
      admin_(logic),
      reports_(logic) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(ServerLogic* logic,
                                                      const ServerConfig& config) {
  ASSIGN_OR_RETURN(auto credentials, Credentials(config));
  std::unique_ptr<GrpcServer> server(new GrpcServer(logic, config));
  server->tls_ = !config.tls_cert_file.empty();

  // Load balancers and orchestrators probe grpc.health.v1.Health; it must be enabled before the
  // builder is made.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, credentials, &server->port_);
  builder.RegisterService(&server->sync_);
  builder.RegisterService(&server->enrollment_);
  builder.RegisterService(&server->admin_);
  builder.RegisterService(&server->reports_);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  // Pulled batches are text-heavy (names, codes, canonical IDs) and compress well on 2G links.
  builder.SetDefaultCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, config.keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, config.keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             config.min_client_ping_interval_ms);
  grpc::ResourceQuota quota("kitsync-server");
  quota.SetMaxThreads(config.max_threads);
  builder.SetResourceQuota(quota);

  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    server->server_.reset();
    return Status::Unavailable("cannot listen on " + config.listen_address +
                               " (address in use, or not an address of this machine?)");
  }
  return server;
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!server_ || shut_down_.exchange(true)) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  sync_.FinishStoreWork();
}

void GrpcServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace kitsync::sync

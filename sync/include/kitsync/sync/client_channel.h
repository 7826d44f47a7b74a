// The gRPC channel from a tablet to its server: TLS verified against the programme's CA, or
// plaintext on loopback only (the documented local-development mode).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "kitsync/sync/address.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

struct ChannelOptions {
  // As the kitsync server's limit: a batch the server would refuse is not worth sending.
  int max_message_bytes = 8 * 1024 * 1024;
  // Pings during calls detect a dead link (a 2G cell that dropped) long before a deadline does.
  // A minute: the kitsync server accepts pings every 10 s, but gRPC servers left at their
  // defaults answer pings more often than every 5 minutes without data with GOAWAY.
  std::chrono::milliseconds keepalive_time{60'000};
  std::chrono::milliseconds keepalive_timeout{20'000};
  // Reconnection after a failed connect: gRPC's own backoff, capped so a link that came back is
  // used within this long even if no call is waiting.
  std::chrono::milliseconds max_reconnect_backoff{30'000};
};

// `ca_file` empty: plaintext, refused (FAILED_PRECONDITION) unless `address` is loopback.
// Otherwise TLS with the PEM roots read from `ca_file` (INVALID_ARGUMENT if unreadable or empty).
core::Result<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                         const std::string& ca_file,
                                                         const ChannelOptions& options = {});

}  // namespace kitsync::sync

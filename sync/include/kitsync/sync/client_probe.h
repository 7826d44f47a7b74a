// Whether a server's port accepts a TCP connection. Tells a refused identity (the server answers,
// but gRPC reports UNAVAILABLE because the secure handshake or credential failed) from an outage
// (nothing answers).
#pragma once

#include <chrono>
#include <string>

namespace kitsync::sync {

// Resolves and connects to "host:port" (the forms MakeChannel takes), then disconnects. False
// for anything else, e.g. "unix:" addresses. Blocks up to about `timeout` (longer only if the
// system resolver hangs).
bool TcpConnects(const std::string& address, std::chrono::milliseconds timeout);

}  // namespace kitsync::sync

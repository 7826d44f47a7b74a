#include "kitsync/sync/client_probe.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string_view>

namespace kitsync::sync {
namespace {

bool SplitHostPort(std::string_view address, std::string& host, std::string& port) {
  for (std::string_view scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (address.substr(0, scheme.size()) == scheme) {
      address.remove_prefix(scheme.size());
      break;
    }
  }
  size_t colon;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return false;
    }
    host = std::string(address.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) return false;
    host = std::string(address.substr(0, colon));
  }
  port = std::string(address.substr(colon + 1));
  return !host.empty() && !port.empty() && host.find('/') == std::string::npos;
}

}  // namespace

bool TcpConnects(const std::string& address, std::chrono::milliseconds timeout) {
  std::string host, port;
  if (!SplitHostPort(address, host, port)) return false;
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  bool connected = false;
  resolver.async_resolve(
      host, port, [&](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        if (ec) return;
        asio::async_connect(socket, results,
                            [&](const boost::system::error_code& error, const tcp::endpoint&) {
                              connected = !error;
                            });
      });
  io.run_for(timeout);
  boost::system::error_code ignored;
  socket.close(ignored);
  return connected;
}

}  // namespace kitsync::sync

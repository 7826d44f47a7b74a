#include "kitsync/sync/address.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <string>

namespace kitsync::sync {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// "host:port", "[v6]:port", or a bare IPv6 literal: the host part.
std::string_view HostOf(std::string_view target) {
  if (StartsWith(target, "[")) {
    const size_t close = target.find(']');
    return close == std::string_view::npos ? target.substr(1) : target.substr(1, close - 1);
  }
  if (std::count(target.begin(), target.end(), ':') > 1) return target;
  return target.substr(0, target.find(':'));
}

}  // namespace

bool IsLoopbackAddress(std::string_view address) {
  if (StartsWith(address, "unix:") || StartsWith(address, "unix-abstract:")) return true;
  for (std::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (StartsWith(address, scheme)) {
      address.remove_prefix(scheme.size());
      break;
    }
  }
  std::string host(HostOf(address));
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const boost::asio::ip::address ip = boost::asio::ip::make_address(host, ec);
  return !ec && ip.is_loopback();
}

}  // namespace kitsync::sync

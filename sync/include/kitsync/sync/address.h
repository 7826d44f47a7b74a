// Which addresses only this machine can reach. Both ends allow plaintext only there: a server
// listening, a tablet connecting.
#pragma once

#include <string_view>

namespace kitsync::sync {

// True for "localhost:P", "127.x.y.z:P", "[::1]:P" (optionally with an "ipv4:", "ipv6:" or
// "dns:///" scheme) and "unix:" sockets.
bool IsLoopbackAddress(std::string_view address);

}  // namespace kitsync::sync

// The scenario's fault proxy between plain-socket clients and a real echo or sink server on
// loopback. Timing is only ever checked from below: what the link model guarantees at least.
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kitsync::scenario {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Every blocking socket call in these tests gives up after this, so a broken proxy fails a test
// instead of hanging it.
constexpr auto kSocketTimeout = std::chrono::seconds(5);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

void SetTimeouts(int fd) {
  timeval tv{};
  tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(kSocketTimeout).count();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

sockaddr_in LoopbackAddress(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

uint16_t PortOf(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// A connected socket, or an invalid one with `*error` set to the connect's errno.
Fd Connect(const std::string& address, int* error) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  SetTimeouts(fd.get());
  const sockaddr_in addr = LoopbackAddress(PortOf(address));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    *error = errno;
    return Fd();
  }
  *error = 0;
  return fd;
}

Fd ConnectOrFail(const std::string& address) {
  int error = 0;
  Fd fd = Connect(address, &error);
  EXPECT_TRUE(fd.valid()) << "connect to " << address << ": " << std::strerror(error);
  return fd;
}

bool SendAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

enum class Ending { kEof, kReset, kTimedOut, kOtherError };

std::string Describe(Ending ending) {
  switch (ending) {
    case Ending::kEof:
      return "EOF";
    case Ending::kReset:
      return "reset";
    case Ending::kTimedOut:
      return "timed out";
    case Ending::kOtherError:
      return "other error";
  }
  return "?";
}

struct Received {
  std::string bytes;
  Ending ending = Ending::kEof;
};

// Reads until `want` bytes have come (ending kEof then means "complete"), the peer closes, or
// the socket errs or times out.
Received ReceiveUpTo(int fd, size_t want) {
  Received r;
  char buffer[64 * 1024];
  while (r.bytes.size() < want) {
    const ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, want - r.bytes.size()), 0);
    if (n > 0) {
      r.bytes.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      r.ending = Ending::kEof;
    } else if (errno == ECONNRESET) {
      r.ending = Ending::kReset;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.ending = Ending::kTimedOut;
    } else {
      r.ending = Ending::kOtherError;
    }
    return r;
  }
  return r;
}

Received ReceiveUntilClosed(int fd) { return ReceiveUpTo(fd, SIZE_MAX); }

// Sends `message` and reads back as many bytes through an echo server.
std::string RoundTrip(int fd, const std::string& message) {
  if (!SendAll(fd, message.data(), message.size())) return "<send failed>";
  const Received r = ReceiveUpTo(fd, message.size());
  if (r.bytes.size() < message.size()) return "<" + Describe(r.ending) + ">";
  return r.bytes;
}

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// A TCP server on 127.0.0.1 with an ephemeral port: echoes what it receives (and half-closes
// after the client's EOF), or only counts it, or half-closes first and then only counts.
class TestServer {
 public:
  enum class Mode { kEcho, kSink, kClosesFirst };

  explicit TestServer(Mode mode) : mode_(mode) {
    listener_ = Fd(::socket(AF_INET, SOCK_STREAM, 0));
    const int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = LoopbackAddress(0);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 16) != 0) {
      ADD_FAILURE() << "test server cannot listen: " << std::strerror(errno);
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestServer() {
    // shutdown() wakes the threads blocked in accept() and recv(); closing comes after the joins
    // so no descriptor is reused while a thread still holds its number.
    ::shutdown(listener_.get(), SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard lock(mu_);
    for (const Fd& fd : connections_) ::shutdown(fd.get(), SHUT_RDWR);
    for (std::thread& t : handlers_) t.join();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int64_t bytes_received() const { return bytes_received_.load(); }

 private:
  void AcceptLoop() {
    while (true) {
      const int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      connections_.emplace_back(fd);
      handlers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    char buffer[16 * 1024];
    if (mode_ == Mode::kClosesFirst) ::shutdown(fd, SHUT_WR);
    while (true) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n == 0) {
        if (mode_ != Mode::kClosesFirst) ::shutdown(fd, SHUT_WR);
        return;
      }
      if (n < 0) return;
      bytes_received_ += n;
      if (mode_ == Mode::kEcho && !SendAll(fd, buffer, static_cast<size_t>(n))) return;
    }
  }

  const Mode mode_;
  Fd listener_;
  uint16_t port_ = 0;
  std::atomic<int64_t> bytes_received_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<Fd> connections_;
  std::vector<std::thread> handlers_;
};

// A link with no delay, so tests about faults are not slowed by the default latency.
LinkProfile InstantLink() {
  LinkProfile p;
  p.min_latency = milliseconds(0);
  p.max_latency = milliseconds(0);
  p.bytes_per_second = 0;
  return p;
}

std::unique_ptr<FaultProxy> StartProxy(const std::string& target, const LinkProfile& profile) {
  auto proxy = FaultProxy::Start(target, profile, /*seed=*/42);
  EXPECT_TRUE(proxy.ok()) << proxy.status().ToString();
  return proxy.ok() ? std::move(proxy).value() : nullptr;
}

// Polls `condition` every 10 ms for at most `limit` (5 s unless given).
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds limit = kSocketTimeout) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

TEST(FaultProxyTest, MegabyteCrossesIntactAndInOrderBothWaysThroughALatentThinLink) {
  TestServer echo(TestServer::Mode::kEcho);
  LinkProfile profile;
  profile.min_latency = milliseconds(2);
  profile.max_latency = milliseconds(20);
  profile.bytes_per_second = 4 * 1024 * 1024;
  auto proxy = StartProxy(echo.address(), profile);
  ASSERT_NE(proxy, nullptr);

  std::string data(1024 * 1024, '\0');
  std::mt19937_64 rng(7);
  for (char& c : data) c = static_cast<char>(rng());

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  // Sending and receiving at once: the echo comes back while the rest is still going out.
  // The client's EOF must reach the echo server only after the last byte, and the echo
  // server's EOF come back only after the last echoed byte.
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    sent = SendAll(client.get(), data.data(), data.size());
    ::shutdown(client.get(), SHUT_WR);
  });
  const Received echoed = ReceiveUntilClosed(client.get());
  sender.join();

  EXPECT_TRUE(sent);
  EXPECT_EQ(echoed.ending, Ending::kEof) << Describe(echoed.ending);
  ASSERT_EQ(echoed.bytes.size(), data.size());
  EXPECT_EQ(Fnv1a(echoed.bytes), Fnv1a(data));
  const auto mismatch = std::mismatch(data.begin(), data.end(), echoed.bytes.begin());
  EXPECT_EQ(mismatch.first, data.end())
      << "first difference at byte " << mismatch.first - data.begin();

  const ProxyCounters counters = proxy->Counters();
  EXPECT_EQ(counters.connections, 1);
  EXPECT_EQ(counters.bytes_to_target, static_cast<int64_t>(data.size()));
  EXPECT_EQ(counters.bytes_from_target, static_cast<int64_t>(data.size()));
  EXPECT_EQ(counters.cuts, 0);
  // Both directions finished, so the proxy closed the connection and freed it.
  EXPECT_TRUE(Eventually([&] { return proxy->Counters().live_connections == 0; }));
}

TEST(FaultProxyTest, DownRefusesNewConnectionsAndResetsLiveOnesThenUpServesTheSameAddress) {
  TestServer echo(TestServer::Mode::kEcho);
  auto proxy = StartProxy(echo.address(), InstantLink());
  ASSERT_NE(proxy, nullptr);
  const std::string address = proxy->address();

  Fd live = ConnectOrFail(address);
  ASSERT_TRUE(live.valid());
  ASSERT_EQ(RoundTrip(live.get(), "before"), "before");

  proxy->SetUp(false);
  EXPECT_FALSE(proxy->up());
  int error = 0;
  Fd refused = Connect(address, &error);
  EXPECT_FALSE(refused.valid());
  EXPECT_EQ(error, ECONNREFUSED) << std::strerror(error);
  const Received after_down = ReceiveUntilClosed(live.get());
  EXPECT_EQ(after_down.ending, Ending::kReset) << Describe(after_down.ending);
  EXPECT_EQ(proxy->Counters().cuts, 1);

  proxy->SetUp(true);
  EXPECT_TRUE(proxy->up());
  EXPECT_EQ(proxy->address(), address);
  Fd again = ConnectOrFail(address);
  ASSERT_TRUE(again.valid());
  EXPECT_EQ(RoundTrip(again.get(), "after"), "after");
  EXPECT_EQ(proxy->Counters().connections, 2);
}

TEST(FaultProxyTest, GoingDownTwiceOrUpTwiceChangesNothing) {
  TestServer echo(TestServer::Mode::kEcho);
  auto proxy = StartProxy(echo.address(), InstantLink());
  ASSERT_NE(proxy, nullptr);
  proxy->SetUp(true);
  proxy->SetUp(false);
  proxy->SetUp(false);
  proxy->SetUp(true);
  proxy->SetUp(true);
  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  EXPECT_EQ(RoundTrip(client.get(), "ok"), "ok");
}

TEST(FaultProxyTest, UpAgainAfterConnectionsThatLeftTheListeningPortInTimeWait) {
  TestServer server(TestServer::Mode::kClosesFirst);
  auto proxy = StartProxy(server.address(), InstantLink());
  ASSERT_NE(proxy, nullptr);

  // The server's EOF reaches the client first, so the proxy closes its side of the client's
  // connection first and that connection waits out TIME_WAIT on the proxy's port.
  for (int i = 0; i < 3; ++i) {
    Fd client = ConnectOrFail(proxy->address());
    ASSERT_TRUE(client.valid());
    const Received r = ReceiveUntilClosed(client.get());
    EXPECT_EQ(r.ending, Ending::kEof) << Describe(r.ending);
  }
  ASSERT_TRUE(Eventually([&] { return proxy->Counters().live_connections == 0; }));

  proxy->SetUp(false);
  proxy->SetUp(true);
  EXPECT_TRUE(proxy->up());
  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  EXPECT_EQ(ReceiveUntilClosed(client.get()).ending, Ending::kEof);
}

TEST(FaultProxyTest, CutProbabilityOneResetsTheConnectionAndCountsTheCut) {
  TestServer echo(TestServer::Mode::kEcho);
  LinkProfile profile = InstantLink();
  profile.cut_probability = 1.0;
  auto proxy = StartProxy(echo.address(), profile);
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(SendAll(client.get(), "x", 1));
  const Received r = ReceiveUntilClosed(client.get());
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_EQ(r.ending, Ending::kReset) << Describe(r.ending);
  EXPECT_EQ(proxy->Counters().cuts, 1);
  // Cut on the way: the byte never reached the server.
  EXPECT_EQ(echo.bytes_received(), 0);
}

TEST(FaultProxyTest, SetProfileAppliesToChunksReadFromThenOn) {
  TestServer echo(TestServer::Mode::kEcho);
  auto proxy = StartProxy(echo.address(), InstantLink());
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  ASSERT_EQ(RoundTrip(client.get(), "fine"), "fine");
  LinkProfile cutting = InstantLink();
  cutting.cut_probability = 1.0;
  proxy->SetProfile(cutting);
  ASSERT_TRUE(SendAll(client.get(), "lost", 4));
  const Received r = ReceiveUntilClosed(client.get());
  EXPECT_EQ(r.ending, Ending::kReset) << Describe(r.ending);
  EXPECT_EQ(proxy->Counters().cuts, 1);
}

TEST(FaultProxyTest, LatencyDelaysEachWay) {
  TestServer echo(TestServer::Mode::kEcho);
  LinkProfile profile = InstantLink();
  profile.min_latency = milliseconds(150);
  profile.max_latency = milliseconds(150);
  auto proxy = StartProxy(echo.address(), profile);
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  const auto start = Clock::now();
  ASSERT_EQ(RoundTrip(client.get(), "ping"), "ping");
  EXPECT_GE(ElapsedMs(start), 300);
}

TEST(FaultProxyTest, StallHoldsTheChunkBackAndIsCounted) {
  TestServer echo(TestServer::Mode::kEcho);
  LinkProfile profile = InstantLink();
  profile.stall_probability = 1.0;
  profile.stall = milliseconds(100);
  auto proxy = StartProxy(echo.address(), profile);
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  const auto start = Clock::now();
  ASSERT_EQ(RoundTrip(client.get(), "ping"), "ping");
  EXPECT_GE(ElapsedMs(start), 200);  // one stall each way
  EXPECT_GE(proxy->Counters().stalls, 2);
}

TEST(FaultProxyTest, BandwidthLimitSpacesTheChunks) {
  TestServer sink(TestServer::Mode::kSink);
  LinkProfile profile = InstantLink();
  profile.bytes_per_second = 32 * 1024;
  auto proxy = StartProxy(sink.address(), profile);
  ASSERT_NE(proxy, nullptr);

  constexpr int64_t kBytes = 64 * 1024;
  const std::string data(kBytes, 'b');
  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  const auto start = Clock::now();
  ASSERT_TRUE(SendAll(client.get(), data.data(), data.size()));
  // Two seconds by the model; the bound only stops a hang, and on a loaded machine the proxy's
  // pacing may run well past two seconds.
  ASSERT_TRUE(Eventually([&] { return sink.bytes_received() == kBytes; }, std::chrono::seconds(30)))
      << sink.bytes_received() << " of " << kBytes << " bytes arrived";
  // 64 KiB at 32 KiB/s is two seconds on the wire by the model; a margin below that.
  EXPECT_GE(ElapsedMs(start), 1500);
  EXPECT_EQ(proxy->Counters().bytes_to_target, kBytes);
}

TEST(FaultProxyTest, ThinLinkPushesBackOnAFastSenderInsteadOfBufferingEverything) {
  TestServer sink(TestServer::Mode::kSink);
  LinkProfile profile = InstantLink();
  profile.bytes_per_second = 1024;
  auto proxy = StartProxy(sink.address(), profile);
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  // Far more than the socket buffers and the proxy's bounded queue hold together: if the proxy
  // kept reading, all of it would go out.
  constexpr int64_t kAttempt = 64 * 1024 * 1024;
  const std::string block(64 * 1024, 'p');
  int64_t accepted = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (accepted < kAttempt && Clock::now() < deadline) {
    const ssize_t n = ::send(client.get(), block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      accepted += n;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // Full for now; give the proxy a moment to read more if it is going to.
      std::this_thread::sleep_for(milliseconds(20));
      const ssize_t retry =
          ::send(client.get(), block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (retry > 0) {
        accepted += retry;
        continue;
      }
      break;
    } else {
      FAIL() << "send: " << std::strerror(errno);
    }
  }
  EXPECT_LT(accepted, kAttempt);
  EXPECT_LT(proxy->Counters().bytes_to_target, 64 * 1024);
}

TEST(FaultProxyTest, UnreachableTargetClosesTheClientAtOnce) {
  // A port that was just free and has nothing listening on it.
  uint16_t dead_port = 0;
  {
    Fd probe(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr = LoopbackAddress(0);
    ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    dead_port = ntohs(addr.sin_port);
  }
  auto proxy = StartProxy("127.0.0.1:" + std::to_string(dead_port), InstantLink());
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  const Received r = ReceiveUntilClosed(client.get());
  EXPECT_TRUE(r.ending == Ending::kReset || r.ending == Ending::kEof) << Describe(r.ending);
  EXPECT_EQ(proxy->Counters().connections, 0);
  EXPECT_TRUE(Eventually([&] { return proxy->Counters().live_connections == 0; }));
}

TEST(FaultProxyTest, DestroyingTheProxyResetsLiveConnectionsWithChunksInFlight) {
  TestServer echo(TestServer::Mode::kEcho);
  LinkProfile profile = InstantLink();
  profile.min_latency = milliseconds(1000);
  profile.max_latency = milliseconds(1000);
  auto proxy = StartProxy(echo.address(), profile);
  ASSERT_NE(proxy, nullptr);

  Fd client = ConnectOrFail(proxy->address());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(SendAll(client.get(), "held", 4));
  ASSERT_TRUE(Eventually([&] { return proxy->Counters().connections == 1; }));
  proxy.reset();
  const Received r = ReceiveUntilClosed(client.get());
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_EQ(r.ending, Ending::kReset) << Describe(r.ending);
}

TEST(FaultProxyTest, StartRejectsATargetThatIsNotHostColonPort) {
  for (const char* target : {"", "127.0.0.1", "127.0.0.1:", "localhost:80", "127.0.0.1:99999"}) {
    auto proxy = FaultProxy::Start(target, LinkProfile{}, 1);
    ASSERT_FALSE(proxy.ok()) << target;
    EXPECT_EQ(proxy.status().code(), core::Code::kInvalidArgument) << target;
  }
}

}  // namespace
}  // namespace kitsync::scenario

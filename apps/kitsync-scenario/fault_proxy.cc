#include "fault_proxy.h"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kitsync::scenario {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using kitsync::core::Result;
using kitsync::core::Status;

namespace {

// One read hands at most this much to the link model: a chunk is the unit that is delayed,
// stalled or cut, like a segment on a real link.
constexpr size_t kChunkBytes = 4 * 1024;
// Per direction. Past this the reader pauses, so a fast sender facing a thin link fills its own
// socket buffers (and feels TCP back-pressure) instead of the proxy's memory.
constexpr size_t kMaxQueuedBytes = 256 * 1024;

LinkProfile Clamped(LinkProfile p) {
  using std::chrono::milliseconds;
  p.min_latency = std::max(p.min_latency, milliseconds{0});
  p.max_latency = std::max(p.max_latency, p.min_latency);
  p.bytes_per_second = std::max<int64_t>(p.bytes_per_second, 0);
  p.stall_probability = std::clamp(p.stall_probability, 0.0, 1.0);
  p.stall = std::max(p.stall, milliseconds{0});
  p.cut_probability = std::clamp(p.cut_probability, 0.0, 1.0);
  return p;
}

// "127.0.0.1:PORT" or "[::1]:PORT".
std::optional<tcp::endpoint> ParseEndpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = text.substr(colon + 1);
  if (!std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      port_text.size() > 5) {
    return std::nullopt;
  }
  const int port = std::stoi(port_text);
  if (port <= 0 || port > 65535) return std::nullopt;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

// Closing after this makes the kernel send RST instead of FIN: the peer sees "connection reset",
// as when a link dies under a live connection rather than a program closing it.
void ArmReset(tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
}

class Connection;

}  // namespace

class FaultProxy::Impl {
 public:
  Impl(tcp::endpoint target, LinkProfile profile, uint64_t seed)
      : target_(target),
        profile_(Clamped(profile)),
        rng_(seed),
        acceptor_(io_),
        accept_retry_(io_),
        work_(asio::make_work_guard(io_)) {}

  // Binds 127.0.0.1 on `port_` (0 the first time: the kernel picks it) and listens.
  boost::system::error_code Listen() {
    boost::system::error_code ec;
    const tcp::endpoint local(asio::ip::address_v4::loopback(), port_);
    acceptor_.open(local.protocol(), ec);
    // Lets the port be bound again while connections of the previous listening period linger
    // in TIME_WAIT.
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(local, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    // The first time only, before the thread starts: address() reads it without the thread.
    if (!ec && port_ == 0) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return ec;
    }
    up_ = true;
    ++listen_generation_;
    return {};
  }

  void RunThread() {
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs `fn` on the proxy's thread and waits for it, so the proxy's state needs no locks.
  template <typename Fn>
  auto RunOnIo(Fn fn) const -> decltype(fn()) {
    if (io_.get_executor().running_in_this_thread()) return fn();
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  void Shutdown() {
    RunOnIo([this] { GoDown(/*count_cuts=*/false); });
    // With the acceptor closed, every socket closed and every timer cancelled, the pending
    // handlers complete (aborted) and run() returns once the last one has.
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  void SetUp(bool up) {
    if (!up) {
      RunOnIo([this] { GoDown(/*count_cuts=*/true); });
      return;
    }
    // While the proxy was down the kernel may have handed its port to an outgoing connection as
    // a source port (both come from the ephemeral range); such a socket goes away quickly, so
    // binding is retried for a while before giving up.
    for (int attempt = 0; attempt < 100; ++attempt) {
      const bool listening = RunOnIo([this] {
        if (up_) return true;
        if (Listen()) return false;
        StartAccept();
        return true;
      });
      if (listening) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  bool up() const {
    return RunOnIo([this] { return up_; });
  }
  uint16_t port() const { return port_; }  // fixed once Start() has returned
  void SetProfile(const LinkProfile& profile) {
    RunOnIo([this, p = Clamped(profile)] { profile_ = p; });
  }
  ProxyCounters Counters() const {
    return RunOnIo([this] {
      ProxyCounters snapshot = counters_;
      snapshot.live_connections = static_cast<int64_t>(connections_.size());
      return snapshot;
    });
  }

  // Members below are used by connections, on the proxy's thread only.
  asio::io_context& io() { return io_; }
  const tcp::endpoint& target() const { return target_; }
  const LinkProfile& profile() const { return profile_; }
  ProxyCounters& counters() { return counters_; }
  bool Draw(double probability) {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < probability;
  }
  Clock::duration DrawLatency() {
    return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(
        profile_.min_latency.count(), profile_.max_latency.count())(rng_));
  }
  void Register(Connection* connection) { connections_.insert(connection); }
  void Unregister(Connection* connection) { connections_.erase(connection); }

  void StartAccept();

 private:
  void OnAccepted(uint64_t generation, const boost::system::error_code& ec, tcp::socket socket);
  void GoDown(bool count_cuts);

  mutable asio::io_context io_;
  const tcp::endpoint target_;
  LinkProfile profile_;
  std::mt19937_64 rng_;
  ProxyCounters counters_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  uint16_t port_ = 0;
  bool up_ = false;
  // Bumped at each Listen(), so an accept completing from an earlier listening period is not
  // mistaken for one of the current period.
  uint64_t listen_generation_ = 0;
  // Not owning: a connection is owned by its pending operations and leaves this set when it dies.
  std::unordered_set<Connection*> connections_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

namespace {

// One proxied connection: the client's socket, the target's socket, and a pipelined link model
// for each direction. Lives as long as an operation of its own is pending; closing its sockets
// completes those, so closing it is what frees it.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(FaultProxy::Impl& proxy, tcp::socket client)
      : proxy_(proxy),
        client_(std::move(client)),
        target_(proxy.io()),
        upstream_(client_, target_, proxy.counters().bytes_to_target, proxy.io()),
        downstream_(target_, client_, proxy.counters().bytes_from_target, proxy.io()) {
    proxy_.Register(this);
  }
  ~Connection() { proxy_.Unregister(this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start() {
    // The link model decides when each chunk goes out; Nagle's algorithm holding a small chunk
    // back for an acknowledgement would add delays the profile does not describe.
    boost::system::error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    target_.async_connect(proxy_.target(),
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            self->OnTargetConnected(ec);
                          });
  }

  // Both sides see "connection reset". Counted as a cut by the caller when it is one.
  void Reset() {
    if (closed_) return;
    ArmReset(client_);
    ArmReset(target_);
    Close();
  }

  bool connected() const { return connected_; }

 private:
  void OnTargetConnected(const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) {
      // The target is not there: the client learns at once rather than waiting on a connection
      // that will never carry anything. A reset, as a refused connect would be.
      Reset();
      return;
    }
    boost::system::error_code ignored;
    target_.set_option(tcp::no_delay(true), ignored);
    ++proxy_.counters().connections;
    connected_ = true;
    Pump(upstream_);
    Pump(downstream_);
  }

  struct Chunk {
    std::vector<char> bytes;
    Clock::time_point release;
  };

  // One way through the link: what `from` sends, `to` receives, in order, each chunk no earlier
  // than its release time.
  struct Direction {
    Direction(tcp::socket& from_socket, tcp::socket& to_socket, int64_t& delivered_counter,
              asio::io_context& io)
        : from(from_socket), to(to_socket), delivered(delivered_counter), release_timer(io) {}
    tcp::socket& from;
    tcp::socket& to;
    int64_t& delivered;  // the proxy's byte counter for this direction
    std::array<char, kChunkBytes> read_buffer{};
    std::deque<Chunk> queue;
    size_t queued_bytes = 0;
    Clock::time_point last_release{};
    asio::steady_timer release_timer;
    bool reading = false;
    bool writing = false;   // a write or the wait for the front chunk's release is pending
    bool saw_eof = false;   // `from` closed its write side
    bool finished = false;  // everything delivered and `to`'s write side shut down
  };

  void Pump(Direction& d) {
    StartRead(d);
    StartWrite(d);
  }

  void StartRead(Direction& d) {
    if (closed_ || d.reading || d.saw_eof || d.queued_bytes >= kMaxQueuedBytes) return;
    d.reading = true;
    d.from.async_read_some(
        asio::buffer(d.read_buffer),
        [self = shared_from_this(), &d](const boost::system::error_code& ec, size_t n) {
          d.reading = false;
          if (self->closed_) return;
          if (ec == asio::error::eof) {
            d.saw_eof = true;
            self->MaybeFinish(d);
            return;
          }
          if (ec) {
            // The sender's side broke (e.g. it was reset): pass that on to the other side.
            self->Reset();
            return;
          }
          self->Enqueue(d, n);
        });
  }

  // The link model: where a chunk read now is released on the other side.
  void Enqueue(Direction& d, size_t n) {
    const LinkProfile& profile = proxy_.profile();
    if (proxy_.Draw(profile.cut_probability)) {
      ++proxy_.counters().cuts;
      Reset();
      return;
    }
    const Clock::time_point now = Clock::now();
    // Never before the previous chunk: a TCP stream stays in order, so one slow chunk holds up
    // the ones behind it, as a lost segment does.
    Clock::time_point release = std::max(now + proxy_.DrawLatency(), d.last_release);
    if (profile.bytes_per_second > 0) {
      // Time on the wire: consecutive chunks are spaced by it, which caps the throughput
      // whatever the latency.
      release += std::chrono::nanoseconds(static_cast<int64_t>(n) * 1'000'000'000 /
                                          profile.bytes_per_second);
    }
    if (proxy_.Draw(profile.stall_probability)) {
      ++proxy_.counters().stalls;
      release += profile.stall;
    }
    d.last_release = release;
    d.queue.push_back(
        Chunk{std::vector<char>(d.read_buffer.begin(), d.read_buffer.begin() + n), release});
    d.queued_bytes += n;
    Pump(d);
  }

  void StartWrite(Direction& d) {
    if (closed_ || d.writing) return;
    if (d.queue.empty()) {
      MaybeFinish(d);
      return;
    }
    d.writing = true;
    const Chunk& front = d.queue.front();
    if (Clock::now() < front.release) {
      d.release_timer.expires_at(front.release);
      d.release_timer.async_wait([self = shared_from_this(), &d](const boost::system::error_code&) {
        d.writing = false;
        self->StartWrite(d);  // does nothing once closed
      });
      return;
    }
    asio::async_write(
        d.to, asio::buffer(front.bytes),
        [self = shared_from_this(), &d](const boost::system::error_code& ec, size_t n) {
          d.writing = false;
          if (self->closed_) return;
          if (ec) {
            self->Reset();
            return;
          }
          d.delivered += static_cast<int64_t>(n);
          d.queued_bytes -= d.queue.front().bytes.size();
          d.queue.pop_front();
          self->Pump(d);
        });
  }

  // After the sender's EOF and the last queued byte: the receiver gets its EOF too (half-close),
  // and the connection ends once both directions have.
  void MaybeFinish(Direction& d) {
    if (closed_ || d.finished || !d.saw_eof || !d.queue.empty() || d.writing) return;
    d.finished = true;
    boost::system::error_code ec;
    d.to.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      Reset();
      return;
    }
    if (upstream_.finished && downstream_.finished) Close();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    upstream_.release_timer.cancel();
    downstream_.release_timer.cancel();
    client_.close(ignored);
    target_.close(ignored);
  }

  FaultProxy::Impl& proxy_;
  tcp::socket client_;
  tcp::socket target_;
  Direction upstream_;    // client -> target
  Direction downstream_;  // target -> client
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace

void FaultProxy::Impl::StartAccept() {
  acceptor_.async_accept([this, generation = listen_generation_](
                             const boost::system::error_code& ec, tcp::socket socket) {
    OnAccepted(generation, ec, std::move(socket));
  });
}

void FaultProxy::Impl::OnAccepted(uint64_t generation, const boost::system::error_code& ec,
                                  tcp::socket socket) {
  const bool current = up_ && generation == listen_generation_;
  if (!ec) {
    if (!current) {
      // Accepted just before the proxy went down: it is reset like the live connections were.
      ArmReset(socket);
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    std::make_shared<Connection>(*this, std::move(socket))->Start();
    StartAccept();
    return;
  }
  if (!current || ec == asio::error::operation_aborted) return;
  // Out of file descriptors or similar: try again shortly rather than spin.
  accept_retry_.expires_after(std::chrono::milliseconds(50));
  accept_retry_.async_wait([this, generation](const boost::system::error_code& wait_ec) {
    if (!wait_ec && up_ && generation == listen_generation_) StartAccept();
  });
}

void FaultProxy::Impl::GoDown(bool count_cuts) {
  boost::system::error_code ignored;
  up_ = false;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  // Resetting does not free a connection (its aborted handlers still hold it), but take owning
  // references first so the set can change under the loop without harm.
  std::vector<std::shared_ptr<Connection>> live;
  for (Connection* connection : connections_) {
    if (auto owned = connection->weak_from_this().lock()) live.push_back(std::move(owned));
  }
  for (const auto& connection : live) {
    if (count_cuts && connection->connected()) ++counters_.cuts;
    connection->Reset();
  }
}

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(const std::string& target,
                                                      LinkProfile profile, uint64_t seed) {
  const std::optional<tcp::endpoint> endpoint = ParseEndpoint(target);
  if (!endpoint) {
    return Status::InvalidArgument(
        "fault proxy target must be HOST:PORT with a numeric host, got '" + target + "'");
  }
  auto impl = std::make_unique<Impl>(*endpoint, profile, seed);
  if (const boost::system::error_code ec = impl->Listen()) {
    return Status::Unavailable("fault proxy cannot listen on 127.0.0.1: " + ec.message());
  }
  impl->StartAccept();
  impl->RunThread();
  return std::unique_ptr<FaultProxy>(new FaultProxy(std::move(impl)));
}

FaultProxy::FaultProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FaultProxy::~FaultProxy() { impl_->Shutdown(); }

std::string FaultProxy::address() const { return "127.0.0.1:" + std::to_string(impl_->port()); }

void FaultProxy::SetUp(bool up) { impl_->SetUp(up); }
bool FaultProxy::up() const { return impl_->up(); }
void FaultProxy::SetProfile(const LinkProfile& profile) { impl_->SetProfile(profile); }
ProxyCounters FaultProxy::Counters() const { return impl_->Counters(); }

}  // namespace kitsync::scenario

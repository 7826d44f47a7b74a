// A TCP proxy on loopback that makes a link behave like a degraded border-post uplink: it delays,
// throttles, stalls and cuts what passes through it, and can go down and come back up on the
// same port. The scenario driver puts one between each simulated tablet and the sync server,
// because kernel network emulation (tc netem) is not available where the scenarios run.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kitsync/core/status.h"

namespace kitsync::scenario {

// How the link treats each chunk (at most 4 KiB) read from either side. Out-of-range values are
// clamped: probabilities into [0, 1], negative durations and rates to 0, and a max_latency below
// min_latency is raised to it.
// clang-format off
struct LinkProfile {
  std::chrono::milliseconds min_latency{30};   // one-way delay, drawn uniformly per chunk
  std::chrono::milliseconds max_latency{150};
  int64_t bytes_per_second = 64 * 1024;        // per direction; 0 = unlimited
  double stall_probability = 0.0;              // per chunk: a lost segment; the direction holds still for `stall` (TCP retransmission)
  std::chrono::milliseconds stall{400};
  double cut_probability = 0.0;                // per chunk: the connection is reset on both sides (RST)
};

struct ProxyCounters {
  int64_t connections = 0;   // accepted and forwarded
  int64_t cuts = 0;          // connections reset by cut_probability or by going down
  int64_t stalls = 0;
  int64_t bytes_to_target = 0;
  int64_t bytes_from_target = 0;
  int64_t live_connections = 0;  // alive now: accepted, and not yet closed and freed
};
// clang-format on

class FaultProxy {
 public:
  // Listens on 127.0.0.1 with an ephemeral port, forwarding each connection to `target`
  // ("127.0.0.1:PORT"). Starts up (accepting) with `profile`. Runs its own thread.
  // Draws come from a generator seeded with `seed`.
  static kitsync::core::Result<std::unique_ptr<FaultProxy>> Start(const std::string& target,
                                                                  LinkProfile profile,
                                                                  uint64_t seed);
  ~FaultProxy();  // closes everything, joins its thread
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // "127.0.0.1:PORT"; the port never changes, even across SetUp(false)/SetUp(true)
  std::string address() const;

  // Down: the listening socket is CLOSED (so new connections are refused at once — clients probe
  // reachability with a plain TCP connect and must see "refused", not "accepted then dropped"),
  // and live connections are reset. Up: listening again on the same port (SO_REUSEADDR).
  // Thread-safe; returns once applied.
  void SetUp(bool up);
  // Whether the proxy is listening. Coming back up can fail only if another socket took the
  // port while it was down (see SetUp); the proxy then stays down and this says so.
  bool up() const;

  void SetProfile(const LinkProfile& profile);  // applies to chunks read from now on
  ProxyCounters Counters() const;

  class Impl;

 private:
  explicit FaultProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kitsync::scenario

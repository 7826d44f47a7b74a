// The tablet's sync scheduler. It runs a SyncSession by itself: soon after local changes appear
// (other processes, such as the CLI, write to the same database, so it polls cheaply for them),
// on an interval to pull, and after a failure on a backoff timer of its own, resuming where the
// last pass stopped. Its state is a thread-safe snapshot for whatever shows it to the officer.
//
// Threading: timers and state changes run on a strand of the given io_context; a pass (SQLite
// and blocking gRPC calls) runs on one worker thread of the engine's own, so the io_context stays
// free for signals and timers. The io_context must outlive the engine.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kitsync/core/status.h"
#include "kitsync/core/store.h"
#include "kitsync/sync/client_backoff.h"
#include "kitsync/sync/client_session.h"
#include "kitsync/sync/client_transport.h"

namespace kitsync::sync {

struct EngineOptions {
  std::string db_path;
  core::StoreOptions store_options;
  SessionOptions session;  // `stop` is the engine's own
  BackoffPolicy backoff;
  std::chrono::milliseconds interval{60'000};      // a pass this often to pull, when healthy
  std::chrono::milliseconds poll_interval{5'000};  // how often to look for local changes
  // While backing off, the pending count shown is recounted at most this often: an exact count
  // reads the whole change log.
  std::chrono::milliseconds count_refresh{30'000};
  // UNAVAILABLE this many times in a row while the server's port accepts connections means the
  // server is refusing this tablet (e.g. its TLS identity), not an outage.
  int enrolment_unavailable_threshold = 3;
  std::chrono::milliseconds probe_timeout{3'000};
  std::function<double()> jitter;  // uniform draws in [0, 1); random when empty
};

using TransportFactory =
    std::function<core::Result<std::unique_ptr<Transport>>(const core::ServerLink& link)>;
// Whether the server at an address accepts TCP connections (see TcpConnects).
using ReachabilityProbe =
    std::function<bool(const std::string& address, std::chrono::milliseconds timeout)>;

struct EngineState {
  bool running = false;            // started and not stopped
  bool in_progress = false;        // a pass is running
  SyncProgress progress;           // of the running pass, or the last one
  std::optional<int64_t> pending;  // changes not yet acknowledged; unknown before the first look
  std::optional<std::chrono::system_clock::time_point> last_success;
  core::Status last_error;  // of the most recent failed pass (kept after a later success)
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  int consecutive_failures = 0;
  // The server answers but refuses this tablet: UNAUTHENTICATED, no enrolment in the database,
  // or repeated UNAVAILABLE with the server's port open. Cleared by a successful pass.
  bool enrolment_problem = false;
  std::chrono::milliseconds next_retry{0};  // backoff chosen after the last failure
  int64_t passes = 0;                       // passes started
  std::optional<SyncReport> last_report;
};

class SyncEngine {
 public:
  using StateCallback = std::function<void(const EngineState&)>;

  SyncEngine(boost::asio::io_context& io, EngineOptions options, TransportFactory transports,
             ReachabilityProbe probe);
  // Stops, waiting for a running pass to end (promptly: its transport is cancelled).
  ~SyncEngine();
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  // Called on the io_context's strand after every state change. Set before Start().
  void OnStateChange(StateCallback callback);
  // Begins with a pass at once. Call once.
  void Start();
  // Cancels the timers and any running pass and waits for the pass to end. Thread-safe,
  // idempotent; the engine cannot be started again.
  void Stop();
  // A pass as soon as none is running, even while backing off. Thread-safe.
  void SyncNow();

  EngineState Snapshot() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kitsync::sync

#include "kitsync/sync/client_engine.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <random>

#include "kitsync/sync/client_failure.h"

namespace kitsync::sync {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// What a pass on the worker thread hands back to the strand.
struct PassOutcome {
  SyncReport report;
  bool server_answers = false;  // UNAVAILABLE, yet the server's port accepted a connection
  bool not_enrolled = false;    // the database holds no server link
};

class SyncEngine::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, EngineOptions options, TransportFactory transports,
       ReachabilityProbe probe)
      : options_(std::move(options)),
        transports_(std::move(transports)),
        probe_(std::move(probe)),
        strand_(asio::make_strand(io)),
        poll_timer_(strand_),
        sync_timer_(strand_),
        rng_(std::random_device{}()) {
    options_.session.stop = &stop_;
  }

  void SetCallback(StateCallback callback) { callback_ = std::move(callback); }

  void Start() {
    {
      std::lock_guard lock(state_mu_);
      state_.running = true;
    }
    asio::post(strand_, [self = shared_from_this()] {
      if (self->stop_) return;  // stopped before it began: arm nothing that would outlive Stop()
      self->ArmPoll();
      self->StartPass();
    });
  }

  void Stop() {
    // Held throughout, so a second caller (a signal, then the destructor) returns only once the
    // pass has ended.
    std::lock_guard stop_lock(stop_mu_);
    if (stop_.exchange(true)) return;
    {
      std::lock_guard lock(state_mu_);
      state_.running = false;
    }
    {
      std::lock_guard lock(transport_mu_);
      if (transport_) transport_->Cancel();
    }
    asio::post(strand_, [self = shared_from_this()] {
      self->poll_timer_.cancel();
      self->sync_timer_.cancel();
      self->Notify();
    });
    {
      std::lock_guard lock(worker_mu_);
      worker_open_ = false;
    }
    worker_.join();
    std::lock_guard lock(state_mu_);
    state_.in_progress = false;
  }

  void SyncNow() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->busy_) {
        self->again_ = true;  // the running pass may have read the log before the request
        return;
      }
      self->StartPass();
    });
  }

  EngineState Snapshot() const {
    std::lock_guard lock(state_mu_);
    return state_;
  }

 private:
  // --- On the strand -----------------------------------------------------------------------

  void ArmPoll() {
    poll_timer_.expires_after(options_.poll_interval);
    poll_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stop_) return;
      self->LookForLocalWork();
      self->ArmPoll();
    });
  }

  void ArmSync(milliseconds delay) {
    sync_timer_.expires_after(delay);
    sync_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->StartPass();
    });
  }

  // Reads one change-log row at most: cheap enough to run every few seconds on a tablet.
  void LookForLocalWork() {
    if (busy_ || !store_) return;
    auto next = store_->PendingChanges(1);
    if (!next.ok()) return;  // busy with another process's write; look again next time
    if (next->empty()) {
      SetPending(0);
      return;
    }
    if (failures_ == 0) {
      StartPass();
      return;
    }
    // Backing off: the retry timer decides when to try, but the count shown should still grow.
    const Clock::time_point now = Clock::now();
    if (now - last_count_ >= options_.count_refresh) {
      last_count_ = now;
      auto status = store_->GetStatus(/*verify_chain=*/false);
      if (status.ok()) SetPending(status->pending);
    }
  }

  void StartPass() {
    if (busy_ || stop_) return;
    std::lock_guard worker_lock(worker_mu_);
    if (!worker_open_) return;
    busy_ = true;
    sync_timer_.cancel();
    {
      std::lock_guard lock(state_mu_);
      state_.in_progress = true;
      state_.progress = SyncProgress();
      ++state_.passes;
    }
    Notify();
    asio::post(worker_, [self = shared_from_this()] {
      PassOutcome outcome = self->RunPass();
      asio::post(self->strand_,
                 [self, outcome = std::move(outcome)] { self->OnPassDone(outcome); });
    });
  }

  void OnPassDone(const PassOutcome& outcome) {
    busy_ = false;
    last_count_ = Clock::now();
    const core::Status& status = outcome.report.status;
    if (stop_) {
      std::lock_guard lock(state_mu_);
      state_.in_progress = false;
      return;
    }
    milliseconds next = options_.interval;
    {
      std::lock_guard lock(state_mu_);
      state_.in_progress = false;
      state_.last_report = outcome.report;
      if (store_) state_.pending = outcome.report.pending;
      if (status.ok()) {
        failures_ = 0;
        reachable_unavailable_ = 0;
        state_.last_success = std::chrono::system_clock::now();
        state_.enrolment_problem = false;
        state_.next_retry = milliseconds(0);
      } else {
        ++failures_;
        state_.last_error = status;
        state_.last_error_time = std::chrono::system_clock::now();
        const bool enrolment = IsEnrolmentProblem(outcome);  // always: it counts a streak
        state_.enrolment_problem = state_.enrolment_problem || enrolment;
        next = BackoffDelay(options_.backoff, failures_ - 1, Draw());
        state_.next_retry = next;
      }
      state_.consecutive_failures = failures_;
    }
    if (!status.ok()) {
      spdlog::warn("sync failed ({} in a row), next try in {} ms: {}", failures_, next.count(),
                   status.ToString());
    }
    if (again_) next = milliseconds(0);
    again_ = false;
    ArmSync(next);
    Notify();
  }

  bool IsEnrolmentProblem(const PassOutcome& outcome) {
    if (outcome.not_enrolled) return true;
    const core::Status& status = outcome.report.status;
    if (ClassifyFailure(status) == SyncFailure::kEnrolment) return true;
    if (status.code() != core::Code::kUnavailable) {
      reachable_unavailable_ = 0;
      return false;
    }
    reachable_unavailable_ = outcome.server_answers ? reachable_unavailable_ + 1 : 0;
    return reachable_unavailable_ >= options_.enrolment_unavailable_threshold;
  }

  double Draw() {
    if (options_.jitter) return options_.jitter();
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  void SetPending(int64_t pending) {
    {
      std::lock_guard lock(state_mu_);
      if (state_.pending == pending) return;
      state_.pending = pending;
    }
    Notify();
  }

  void Notify() {
    if (!callback_) return;
    callback_(Snapshot());
  }

  // --- On the worker thread ----------------------------------------------------------------

  PassOutcome RunPass() {
    PassOutcome outcome;
    core::Status ready = Prepare(outcome);
    if (!ready.ok()) {
      outcome.report.status = ready;
      return outcome;
    }
    SyncSession session(*store_, *transport_, options_.session);
    session.OnProgress([this, self = shared_from_this()](const SyncProgress& progress) {
      {
        std::lock_guard lock(state_mu_);
        state_.progress = progress;
        state_.pending = progress.pending;
      }
      asio::post(strand_, [self] { self->Notify(); });
    });
    outcome.report = session.Run();
    if (outcome.report.status.code() == core::Code::kUnavailable && probe_ && !stop_) {
      outcome.server_answers = probe_(address_, options_.probe_timeout);
    }
    return outcome;
  }

  // Opens the store and the transport on first use, so a database that appears later (enrolment
  // finishing in another process) is picked up by a retry.
  core::Status Prepare(PassOutcome& outcome) {
    if (!store_) {
      auto store = core::Store::Open(options_.db_path, options_.store_options);
      if (!store.ok()) {
        return core::Status(store.status().code() == core::Code::kUnavailable
                                ? core::Code::kAborted
                                : store.status().code(),
                            "on this tablet: " + store.status().message());
      }
      store_ = std::move(store).value();
    }
    if (transport_) return core::Status::Ok();
    auto link = store_->LoadServerLink();
    if (!link.ok()) {
      outcome.not_enrolled = link.status().code() == core::Code::kNotFound;
      return link.status();
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, transports_(*link));
    address_ = link->address;
    std::lock_guard lock(transport_mu_);
    transport_ = std::move(transport);
    // Stop() may have run between the check above and here; it found no transport to cancel.
    if (stop_) transport_->Cancel();
    return core::Status::Ok();
  }

  EngineOptions options_;
  const TransportFactory transports_;
  const ReachabilityProbe probe_;
  StateCallback callback_;

  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer poll_timer_;
  asio::steady_timer sync_timer_;
  asio::thread_pool worker_{1};
  std::mutex worker_mu_;
  bool worker_open_ = true;  // guarded by worker_mu_

  std::mutex stop_mu_;
  std::atomic<bool> stop_{false};

  // Used by the worker during a pass and by the strand between passes, never both: `busy_`
  // hands them over, and each hand-over is a post.
  std::unique_ptr<core::Store> store_;
  std::string address_;
  mutable std::mutex transport_mu_;  // also lets Stop() reach the transport from any thread
  std::unique_ptr<Transport> transport_;

  // Strand only.
  bool busy_ = false;
  bool again_ = false;  // SyncNow() arrived during a pass
  int failures_ = 0;
  int reachable_unavailable_ = 0;
  Clock::time_point last_count_{};
  std::mt19937_64 rng_;

  mutable std::mutex state_mu_;
  EngineState state_;
};

SyncEngine::SyncEngine(asio::io_context& io, EngineOptions options, TransportFactory transports,
                       ReachabilityProbe probe)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(transports),
                                   std::move(probe))) {}

SyncEngine::~SyncEngine() { Stop(); }

void SyncEngine::OnStateChange(StateCallback callback) { impl_->SetCallback(std::move(callback)); }
void SyncEngine::Start() { impl_->Start(); }
void SyncEngine::Stop() { impl_->Stop(); }
void SyncEngine::SyncNow() { impl_->SyncNow(); }
EngineState SyncEngine::Snapshot() const { return impl_->Snapshot(); }

}  // namespace kitsync::sync

// SyncEngine over the in-memory server: it retries on its own timer, notices local writes, and
// names an enrolment problem instead of retrying silently. Waits are bounded loops on observed
// state, never assertions about timing.
#include "kitsync/sync/client_engine.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "tablet_fixture.h"

namespace kitsync::testing {
namespace {

using namespace std::chrono_literals;
using sync::EngineState;

constexpr auto kPatience = 20s;

class EngineTest : public TabletTest {
 protected:
  void SetUp() override {
    TabletTest::SetUp();
    // The engine opens the database itself; it needs to know where the server is.
    ASSERT_TRUE(tablet_->SaveServerLink({"127.0.0.1:1", "token", ""}).ok());
    options_.db_path = db_path_;
    options_.backoff = {10ms, 2.0, 40ms, sync::Jitter::kNone};
    options_.interval = 1h;       // no pass by the clock during a test...
    options_.poll_interval = 1h;  // ...nor by local changes, unless a test asks for it
    options_.session.batch_size = 20;
  }

  void TearDown() override { StopEngine(); }

  void StartEngine() {
    engine_ = std::make_unique<sync::SyncEngine>(
        io_, options_,
        [t = transport_](const core::ServerLink&)
            -> core::Result<std::unique_ptr<sync::Transport>> { return Forwarding(t); },
        [this](const std::string&, std::chrono::milliseconds) { return server_answers_.load(); });
    engine_->OnStateChange([this](const EngineState& s) {
      std::lock_guard lock(history_mu_);
      history_.push_back(s);
    });
    engine_->Start();
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void StopEngine() {
    if (!engine_) return;
    engine_->Stop();
    if (io_thread_.joinable()) io_thread_.join();  // returns once the engine's timers are gone
    engine_.reset();
  }

  // Polls the engine's snapshot until `done` holds or patience runs out.
  ::testing::AssertionResult WaitFor(const std::function<bool(const EngineState&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(engine_->Snapshot())) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(5ms);
    }
    const EngineState s = engine_->Snapshot();
    return ::testing::AssertionFailure()
           << "gave up waiting: passes=" << s.passes << " failures=" << s.consecutive_failures
           << " last_error=" << s.last_error.ToString();
  }

  std::vector<EngineState> History() {
    std::lock_guard lock(history_mu_);
    return history_;
  }

  int64_t ServerAcked() {
    return transport_->WithServer([](FakeServer& s) { return s.acked_seq(); });
  }

  sync::EngineOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<sync::SyncEngine> engine_;
  std::thread io_thread_;
  std::atomic<bool> server_answers_{false};
  std::mutex history_mu_;
  std::vector<EngineState> history_;
};

TEST_F(EngineTest, RetriesOnItsOwnTimerUntilThePassSucceeds) {
  RegisterMany(*tablet_, "ENT", 45);
  transport_->SetFaults({.unavailable_calls = 3});
  StartEngine();

  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.last_success.has_value(); }));
  const EngineState s = engine_->Snapshot();
  EXPECT_EQ(s.passes, 4);  // three failures, each retried by the backoff timer alone
  EXPECT_EQ(s.consecutive_failures, 0);
  EXPECT_EQ(s.last_error.code(), core::Code::kUnavailable);  // kept for the record
  EXPECT_FALSE(s.enrolment_problem);
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(ServerAcked(), 45);
  EXPECT_EQ(LocalStatus().acked_seq, 45);

  // The failures were counted up, with growing delays from the policy.
  std::vector<std::pair<int, std::chrono::milliseconds>> failures;
  for (const EngineState& h : History()) {
    if (!h.in_progress && h.consecutive_failures > 0 &&
        (failures.empty() || failures.back().first != h.consecutive_failures)) {
      failures.emplace_back(h.consecutive_failures, h.next_retry);
    }
  }
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0].second, 10ms);
  EXPECT_EQ(failures[1].second, 20ms);
  EXPECT_EQ(failures[2].second, 40ms);
}

TEST_F(EngineTest, ResumesWhereTheLastPassStopped) {
  RegisterMany(*tablet_, "ENT", 100);
  transport_->SetFaults({.lose_ack_after_commit = 3});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.last_success.has_value(); }));
  EXPECT_EQ(engine_->Snapshot().passes, 2);
  transport_->WithServer([](FakeServer& s) {
    for (const auto& [seq, times] : s.receipts()) EXPECT_EQ(times, 1) << "change " << seq;
    EXPECT_EQ(s.acked_seq(), 100);
    return 0;
  });
}

TEST_F(EngineTest, SyncsLocalChangesWrittenByAnotherProcess) {
  options_.poll_interval = 10ms;
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.last_success.has_value(); }));
  const int64_t passes = engine_->Snapshot().passes;
  EXPECT_EQ(ServerAcked(), 0);

  auto cli = OpenAgain();  // the CLI records handovers in its own process
  RegisterMany(*cli, "LATER", 7);
  ASSERT_TRUE(WaitFor([&](const EngineState&) { return ServerAcked() == 7; }));
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return !s.in_progress && s.pending == 0; }));
  EXPECT_GT(engine_->Snapshot().passes, passes);
  EXPECT_EQ(LocalStatus().acked_seq, 7);
}

TEST_F(EngineTest, RevokedCredentialIsAnEnrolmentProblem) {
  RegisterMany(*tablet_, "ENT", 5);
  transport_->SetFaults({.unauthenticated = true});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures >= 2; }));
  const EngineState s = engine_->Snapshot();
  EXPECT_TRUE(s.enrolment_problem);
  EXPECT_EQ(s.last_error.code(), core::Code::kUnauthenticated);
  EXPECT_EQ(s.pending, 5);
  EXPECT_EQ(ServerAcked(), 0);
}

TEST_F(EngineTest, RepeatedUnavailableFromAnAnsweringServerIsAnEnrolmentProblem) {
  options_.enrolment_unavailable_threshold = 3;
  server_answers_ = true;
  transport_->SetFaults({.unavailable_calls = 1000});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures >= 4; }));
  EXPECT_TRUE(engine_->Snapshot().enrolment_problem);
  // Not before the third failure in a row.
  for (const EngineState& h : History()) {
    if (h.consecutive_failures > 0 && h.consecutive_failures < 3) {
      EXPECT_FALSE(h.enrolment_problem);
    }
  }
}

TEST_F(EngineTest, UnavailableFromASilentServerIsAnOutageOnly) {
  options_.enrolment_unavailable_threshold = 3;
  server_answers_ = false;
  transport_->SetFaults({.unavailable_calls = 1000});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures >= 6; }));
  EXPECT_FALSE(engine_->Snapshot().enrolment_problem);
}

TEST_F(EngineTest, DatabaseWithoutEnrolmentIsAnEnrolmentProblem) {
  const std::string path = dir_.File("not-enrolled.db");
  ASSERT_NE(MakeTablet(path), nullptr);
  options_.db_path = path;
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures >= 1; }));
  const EngineState s = engine_->Snapshot();
  EXPECT_TRUE(s.enrolment_problem);
  EXPECT_EQ(s.last_error.code(), core::Code::kNotFound);
  EXPECT_EQ(transport_->calls(), 0);
}

TEST_F(EngineTest, StopEndsALongBackoffAtOnce) {
  options_.backoff = {1h, 2.0, 2h, sync::Jitter::kNone};
  transport_->SetFaults({.unavailable_calls = 1000});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures == 1; }));
  EXPECT_EQ(engine_->Snapshot().next_retry, 1h);
  StopEngine();  // joins the io thread: hangs (and the test times out) if a timer survived
  EXPECT_EQ(transport_->calls(), 1);
}

TEST_F(EngineTest, SyncNowSkipsTheBackoff) {
  options_.backoff = {1h, 2.0, 2h, sync::Jitter::kNone};
  RegisterMany(*tablet_, "ENT", 3);
  transport_->SetFaults({.unavailable_calls = 1});
  StartEngine();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.consecutive_failures == 1; }));
  engine_->SyncNow();
  ASSERT_TRUE(WaitFor([](const EngineState& s) { return s.last_success.has_value(); }));
  EXPECT_EQ(ServerAcked(), 3);
}

}  // namespace
}  // namespace kitsync::testing

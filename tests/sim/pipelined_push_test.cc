// A tablet's backlog pushed to a real gRPC server on 127.0.0.1 (real SQLite on both sides): one
// push stream for the whole backlog, counted as gRPC calls on the wire, and a cut in the middle
// of that stream, with batches applied by the server whose acks never reached the tablet.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "fault_proxy.h"
#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/sync/client_session.h"
#include "kitsync/sync/server_grpc.h"
#include "observer.h"
#include "sync_test_support.h"

namespace kitsync::simtest {
namespace {

using namespace std::chrono_literals;
using synctest::Tablet;

constexpr int kHandovers = 150;
constexpr int64_t kChanges = 1 + 2 * kHandovers;  // the opening receipt, then a registration
                                                  // and a handover per family
constexpr int kBatchSize = 4;                     // 76 batches
constexpr const char* kPushMethod = "/kitsync.v1.Sync/Push";

// Counts the calls a channel starts, by method: what went on the wire, whatever the transport
// believes it did.
class CallCounter : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  class Counts {
   public:
    void Add(const std::string& method) {
      std::lock_guard lock(mu_);
      ++calls_[method];
    }
    int Of(const std::string& method) const {
      std::lock_guard lock(mu_);
      auto it = calls_.find(method);
      return it == calls_.end() ? 0 : it->second;
    }

   private:
    mutable std::mutex mu_;
    std::map<std::string, int> calls_;
  };

  explicit CallCounter(std::shared_ptr<Counts> counts) : counts_(std::move(counts)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    counts_->Add(info->method());
    return new PassThrough;
  }

 private:
  class PassThrough : public grpc::experimental::Interceptor {
   public:
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      methods->Proceed();
    }
  };
  std::shared_ptr<Counts> counts_;
};

// Passes a push through, counting the batches and changes the session hands it, and can cut the
// link at an ack: it waits until the server has applied more than that ack says, resets the
// connection, and the session never hears that ack or any later one.
class CuttingTransport final : public sync::Transport {
 public:
  CuttingTransport(sync::Transport& inner, std::function<void(uint64_t acked_seq)> cut_at)
      : inner_(inner), cut_(std::move(cut_at)) {}

  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override {
    return inner_.Push(
        [&]() -> core::Result<std::optional<v1::PushBatch>> {
          auto batch = next();
          if (batch.ok() && *batch) {
            ++batches;
            changes += (*batch)->records().changes_size();
          }
          return batch;
        },
        [&](const v1::PushAck& ack) {
          if (++acks == cut_at_ack && cut_) {
            cut_(ack.acked_seq());
            return core::Status::Unavailable("link cut (test)");
          }
          return on_ack(ack);
        });
  }
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override {
    return inner_.Pull(request, on_batch);
  }
  core::Result<v1::StatusResponse> GetStatus() override {
    auto status = inner_.GetStatus();
    if (status.ok()) server_held = static_cast<int64_t>(status->acked_seq());
    return status;
  }
  void Cancel() override { inner_.Cancel(); }

  int cut_at_ack = 0;        // 0: never
  int64_t server_held = -1;  // as the last status call said
  int batches = 0;
  int64_t changes = 0;
  int acks = 0;

 private:
  sync::Transport& inner_;
  std::function<void(uint64_t)> cut_;
};

class PipelinedPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    server_.LoadMasterData();
    auto grpc = sync::GrpcServer::Start(&server_.logic(), sync::ServerConfig{});
    ASSERT_TRUE(grpc.ok()) << grpc.status().ToString();
    grpc_ = std::move(grpc).value();
    tablet_ = server_.EnrolTablet("ENT", "ENT tablet 1");
    ASSERT_NE(tablet_.store, nullptr);
    for (int i = 0; i < kHandovers; ++i) {
      ASSERT_FALSE(synctest::RecordHandover(tablet_, "PIPE" + std::to_string(i)).empty());
    }
    ASSERT_EQ(tablet_.store->GetStatus()->pending, kChanges);
  }

  void TearDown() override {
    proxy_.reset();
    if (grpc_) grpc_->Shutdown(std::chrono::seconds(2));
  }

  std::string ServerAddress() const { return "127.0.0.1:" + std::to_string(grpc_->port()); }

  // A GrpcTransport to `address` with `token`, whose channel counts its calls in counts_.
  std::unique_ptr<sync::GrpcTransport> Connect(const std::string& address,
                                               const std::string& token) {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> counters;
    counters.push_back(std::make_unique<CallCounter>(counts_));
    auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
        address, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(counters));
    sync::GrpcTransportOptions options;
    options.window = 4;
    return std::make_unique<sync::GrpcTransport>(channel, token, options);
  }

  sync::SyncReport Run(Tablet& t, sync::Transport& transport) {
    sync::SessionOptions options;
    options.batch_size = kBatchSize;
    options.wall_clock = server_.clock().AsWallClock();
    return sync::SyncSession(*t.store, transport, options).Run();
  }

  int64_t ServerHeld() {
    auto status = server_.logic().GetStatus(tablet_.token, v1::StatusRequest());
    EXPECT_TRUE(status.ok()) << status.status().ToString();
    return status.ok() ? static_cast<int64_t>(status->acked_seq()) : -1;
  }

  // The tablet holds exactly what the server holds for its post: no change lost, none doubled.
  void ExpectServerHoldsExactlyTheTablets() {
    auto link = Connect(ServerAddress(), tablet_.token);
    ASSERT_TRUE(Run(tablet_, *link).status.ok());  // the tablet's own changes come back
    Tablet observer = EnrolObserver(server_, "ENT");
    ASSERT_NE(observer.store, nullptr);
    const int pushes_before = counts_->Of(kPushMethod);
    auto observer_link = Connect(ServerAddress(), observer.token);
    const sync::SyncReport pulled = Run(observer, *observer_link);
    ASSERT_TRUE(pulled.status.ok()) << pulled.status.ToString();
    EXPECT_EQ(counts_->Of(kPushMethod), pushes_before);  // nothing to send opens no stream
    auto server_view = observer.store->DigestFacts();
    auto tablet_view = tablet_.store->DigestFacts();
    ASSERT_TRUE(server_view.ok() && tablet_view.ok());
    EXPECT_EQ(server_view->sha256_hex, tablet_view->sha256_hex);
    EXPECT_EQ(server_view->facts, tablet_view->facts);
  }

  synctest::TestServer server_;
  std::unique_ptr<sync::GrpcServer> grpc_;
  std::unique_ptr<scenario::FaultProxy> proxy_;
  Tablet tablet_;
  std::shared_ptr<CallCounter::Counts> counts_ = std::make_shared<CallCounter::Counts>();
};

TEST_F(PipelinedPushTest, ABacklogOfManyBatchesGoesOverOnePushStream) {
  auto link = Connect(ServerAddress(), tablet_.token);
  const sync::SyncReport report = Run(tablet_, *link);
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_EQ(report.pushed, kChanges);
  EXPECT_EQ(report.pending, 0);
  // 76 batches, one call on the wire.
  EXPECT_EQ(counts_->Of(kPushMethod), 1);
  EXPECT_EQ(ServerHeld(), kChanges);
  EXPECT_EQ(tablet_.store->GetStatus()->acked_seq, kChanges);
  ASSERT_NO_FATAL_FAILURE(ExpectServerHoldsExactlyTheTablets());
}

TEST_F(PipelinedPushTest, ACutInTheMiddleOfAPipelinedStreamResumesWithNothingLostOrDuplicated) {
  scenario::LinkProfile clean;
  clean.min_latency = 0ms;
  clean.max_latency = 0ms;
  clean.bytes_per_second = 0;
  auto proxy = scenario::FaultProxy::Start(ServerAddress(), clean, /*seed=*/7);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  proxy_ = std::move(proxy).value();

  // At the 30th ack, the server has applied at least one more batch that was already on the
  // stream when the link goes.
  int64_t held_at_cut = 0;
  auto cut = [&](uint64_t acked_seq) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (ServerHeld() <= static_cast<int64_t>(acked_seq) &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    held_at_cut = ServerHeld();
    proxy_->SetUp(false);
  };
  auto first_link = Connect(proxy_->address(), tablet_.token);
  CuttingTransport first(*first_link, cut);
  first.cut_at_ack = 30;
  const sync::SyncReport cut_pass = Run(tablet_, first);

  EXPECT_EQ(cut_pass.status.code(), core::Code::kUnavailable) << cut_pass.status.ToString();
  EXPECT_EQ(counts_->Of(kPushMethod), 1);
  const int64_t tablet_acked = tablet_.store->GetStatus()->acked_seq;
  EXPECT_EQ(tablet_acked, 29 * kBatchSize);  // the session heard 29 acks
  // Applied by the server, unheard by the tablet: the case a pipelined stream makes common.
  EXPECT_GT(held_at_cut, tablet_acked);

  // The link comes back; the next pass takes the server's word for what it holds and sends
  // only the rest, on one stream again.
  proxy_->SetUp(true);
  ASSERT_TRUE(proxy_->up());
  auto second_link = Connect(proxy_->address(), tablet_.token);  // as the next pass would
  CuttingTransport second(*second_link, nullptr);
  const sync::SyncReport resumed = Run(tablet_, second);
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.ToString();
  EXPECT_EQ(counts_->Of(kPushMethod), 2);
  EXPECT_EQ(resumed.pushed, kChanges - tablet_acked);
  // Nothing the server held was sent again.
  EXPECT_GE(second.server_held, held_at_cut);
  EXPECT_EQ(second.changes, kChanges - second.server_held);
  EXPECT_EQ(ServerHeld(), kChanges);
  EXPECT_EQ(tablet_.store->GetStatus()->acked_seq, kChanges);
  EXPECT_EQ(tablet_.store->GetStatus()->pending, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectServerHoldsExactlyTheTablets());
}

}  // namespace
}  // namespace kitsync::simtest

// Three tablets at two posts, each recording offline, sync with a real gRPC server on
// 127.0.0.1 (ephemeral port) in different orders, and converge: for each post, every tablet holds
// exactly what the server holds, compared by a digest of the facts, not by counts.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <map>
#include <vector>

#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/sync/client_session.h"
#include "kitsync/sync/server_grpc.h"
#include "observer.h"
#include "sync_test_support.h"

namespace kitsync::simtest {
namespace {

using synctest::Tablet;

class GrpcConvergenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    server_.LoadMasterData();
    auto grpc = sync::GrpcServer::Start(&server_.logic(), sync::ServerConfig{});
    ASSERT_TRUE(grpc.ok()) << grpc.status().ToString();
    grpc_ = std::move(grpc).value();
    tablets_.push_back(server_.EnrolTablet("ENT", "ENT tablet 1"));
    tablets_.push_back(server_.EnrolTablet("ENT", "ENT tablet 2"));
    tablets_.push_back(server_.EnrolTablet("NUN", "NUN tablet 1"));
    for (const Tablet& t : tablets_) ASSERT_NE(t.store, nullptr);
  }

  void TearDown() override {
    if (grpc_) grpc_->Shutdown(std::chrono::seconds(2));
  }

  sync::SyncReport Sync(Tablet& t) {
    core::ServerLink link{"127.0.0.1:" + std::to_string(grpc_->port()), t.token, ""};
    auto transport = sync::GrpcTransport::Create(link);
    EXPECT_TRUE(transport.ok()) << transport.status().ToString();
    if (!transport.ok()) return {};
    sync::SessionOptions options;
    options.batch_size = 3;  // several batches in flight even for a small day
    options.pull_batch_size = 4;
    options.wall_clock = server_.clock().AsWallClock();
    sync::SyncSession session(*t.store, **transport, options);
    return session.Run();
  }

  // A few families served, one shared by both posts, and a correction.
  void RecordOffline(Tablet& t, int first_doc) {
    for (int i = 0; i < 4; ++i) {
      ASSERT_FALSE(synctest::RecordHandover(t, "CONV" + std::to_string(first_doc + i)).empty());
    }
    core::HandoverFilter all;
    auto list = t.store->ListHandovers(all);
    ASSERT_TRUE(list.ok());
    ASSERT_TRUE(t.store
                    ->VoidHandover({list->back().handover.id, "entered for the wrong family",
                                    t.post_code + "-OF-1"})
                    .ok());
  }

  synctest::TestServer server_;
  std::unique_ptr<sync::GrpcServer> grpc_;
  std::vector<Tablet> tablets_;
};

TEST_F(GrpcConvergenceTest, ThreeTabletsAtTwoPostsConvergeWhateverTheOrderOfSyncs) {
  ASSERT_NO_FATAL_FAILURE(RecordOffline(tablets_[0], 100));
  ASSERT_NO_FATAL_FAILURE(RecordOffline(tablets_[1], 200));
  ASSERT_NO_FATAL_FAILURE(RecordOffline(tablets_[2], 100));  // the same families, at NUN

  // The links come back in different orders; a tablet may sync before its sibling has anything
  // on the server, and again after.
  const std::vector<std::vector<int>> orders = {{2, 0, 1}, {1, 2, 0}, {0, 1, 2}};
  int64_t pushed = 0;
  for (const auto& order : orders) {
    for (int i : order) {
      sync::SyncReport report = Sync(tablets_[i]);
      ASSERT_TRUE(report.status.ok()) << report.status.ToString();
      pushed += report.pushed;
      server_.clock().Advance(60'000);
    }
  }
  // Per tablet: the opening receipt, 4 registrations, 4 handovers and a void.
  EXPECT_EQ(pushed, 3 * 10);

  std::map<std::string, std::vector<Tablet*>> by_post;
  for (Tablet& t : tablets_) by_post[t.post_code].push_back(&t);
  for (auto& [post, tablets] : by_post) {
    Tablet observer = EnrolObserver(server_, post);
    ASSERT_NE(observer.store, nullptr);
    ASSERT_TRUE(Sync(observer).status.ok());
    auto server_view = observer.store->DigestFacts();
    ASSERT_TRUE(server_view.ok());
    EXPECT_EQ(server_view->facts, static_cast<int64_t>(10 * tablets.size())) << post;
    for (Tablet* t : tablets) {
      auto digest = t->store->DigestFacts();
      ASSERT_TRUE(digest.ok());
      EXPECT_EQ(digest->sha256_hex, server_view->sha256_hex) << post << " " << t->device_id;
      EXPECT_EQ(t->store->GetStatus()->pending, 0);
    }
  }
  // A NUN tablet never holds ENT's records, and the other way round.
  EXPECT_NE(tablets_[0].store->DigestFacts()->sha256_hex,
            tablets_[2].store->DigestFacts()->sha256_hex);
}

}  // namespace
}  // namespace kitsync::simtest

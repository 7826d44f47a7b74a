// What the centre writes through ServerLogic: master data (upserted, each change on the master
// channel) and stock it receives, dispatches and adjusts (on the posts' channels).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "kitsync/sync/wire.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

class ServerCentralTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.LoadMasterData(); }

  int64_t Count(const std::string& sql) {
    RawDb db(server_.db_path());
    return db.QueryInt(sql);
  }
  core::Result<v1::LoadMasterDataResponse> Load(const core::MasterData& data) {
    return server_.logic().LoadMasterData(server_.admin_token(),
                                          MasterRequest(data, server_.clock().now()));
  }
  core::Result<v1::RecordCentralMovementResponse> Move(v1::MovementKind kind,
                                                       const std::string& post, int64_t quantity,
                                                       const std::string& to = "",
                                                       const std::string& reason = "") {
    v1::RecordCentralMovementRequest r;
    r.set_kind(kind);
    r.set_kit_type_code("HYG-KIT");
    r.set_post_code(post);
    r.set_quantity(quantity);
    r.set_counterpart_post_code(to);
    r.set_reference("WB-77");
    r.set_reason(reason);
    r.set_officer_code("HQ-OF-1");
    return server_.logic().RecordCentralMovement(server_.admin_token(), r);
  }

  TestServer server_;
};

TEST_F(ServerCentralTest, MasterLoadAppendsOnlyNewOrChangedRecordsToTheMasterChannel) {
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel = 'master'"), 10);
  auto same = Load(TestMasterData());
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->changed(), 0u);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel = 'master'"), 10);

  core::MasterData changed = TestMasterData();
  changed.posts[1].name = "Entikong crossing";
  core::Round& round = changed.rounds[0];
  round.entitlements[0].max_per_beneficiary = 2;
  auto load = Load(changed);
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  EXPECT_EQ(load->changed(), 2u);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel = 'master'"), 12);
  EXPECT_EQ(Count("SELECT max_per_beneficiary FROM round_entitlements"), 2);

  // A tablet that pulls gets the latest version of each.
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  ASSERT_GT(PullAll(server_.logic(), t), 0);
  auto held = t.store->LoadMasterData();
  ASSERT_TRUE(held.ok());
  for (const core::Post& p : held->posts) {
    if (p.code == "ENT") {
      EXPECT_EQ(p.name, "Entikong crossing");
    }
  }
}

TEST_F(ServerCentralTest, MasterLoadWithABadRecordChangesNothing) {
  core::MasterData bad = TestMasterData();
  bad.posts[1].name = "Renamed";
  bad.officers.push_back({"00000000-0000-7000-8000-0000000000ff", "GHOST-1", "Ghost",
                          "00000000-0000-7000-8000-0000000000ee", core::OfficerRole::kOfficer});
  auto refused = Load(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), 10);
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryText("SELECT name FROM posts WHERE code = 'ENT'"), "Entikong");

  core::MasterData clash = TestMasterData();
  clash.kit_types.push_back({"00000000-0000-7000-8000-0000000000aa", "HYG-KIT", "Copy", "kit"});
  auto duplicate = Load(clash);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().code(), core::Code::kAlreadyExists);
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), 10);
}

TEST_F(ServerCentralTest, MasterLoadRefusesFactsAndEmptyRequests) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  v1::LoadMasterDataRequest request;
  request.mutable_records()->CopyFrom(NextPushBatch(*t.store, 10, 1).records());
  auto refused = server_.logic().LoadMasterData(server_.admin_token(), request);
  EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(server_.logic().LoadMasterData(server_.admin_token(), {}).status().code(),
            core::Code::kInvalidArgument);
}

TEST_F(ServerCentralTest, GetMasterDataReturnsWhatWasLoaded) {
  auto got = server_.logic().GetMasterData(server_.admin_token(), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto changes = sync::ReadRecordBatch(got->records());
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  EXPECT_EQ(changes->size(), 10u);
  bool found_round = false;
  for (const sync::WireChange& c : *changes) {
    if (auto* r = std::get_if<core::Round>(&c.record); r && r->code == "HYG-R1") {
      found_round = true;
      ASSERT_EQ(r->entitlements.size(), 1u);
      EXPECT_EQ(r->entitlements[0].kit_type_id, TestMasterData().kit_types[0].id);
    }
  }
  EXPECT_TRUE(found_round);
}

TEST_F(ServerCentralTest, DispatchRecordsTransferOutAndInEachOnItsOwnPostsChannel) {
  ASSERT_TRUE(Move(v1::MOVEMENT_KIND_RECEIPT, "HQ", 100).ok());
  auto dispatch = Move(v1::MOVEMENT_KIND_TRANSFER_OUT, "HQ", 40, "ENT");
  ASSERT_TRUE(dispatch.ok()) << dispatch.status().ToString();
  ASSERT_EQ(dispatch->movement_ids_size(), 2);

  RawDb db(server_.db_path());
  const std::string hq = PostId("HQ");
  const std::string ent = PostId("ENT");
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM feed WHERE channel = '" + hq + "'"), 2);
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM feed WHERE channel = '" + ent + "'"), 1);
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM stock_movements WHERE kind = 'transfer_in' AND "
                        "post_id = '" +
                        ent + "' AND counterpart_post_id = '" + hq + "' AND quantity = 40"),
            1);
  RawDb meta(server_.db_path());
  const std::string server_device = meta.QueryText(
      "SELECT value FROM meta WHERE key = "
      "'server_device_id'");
  EXPECT_EQ(
      db.QueryInt("SELECT count(*) FROM stock_movements WHERE device_id = '" + server_device + "'"),
      3);

  // An ENT tablet learns of the stock on its way; HQ's own movements never reach it.
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  EXPECT_EQ(PullAll(server_.logic(), t), 11);  // 10 master records + the transfer in
  auto stock = t.store->Stock();
  ASSERT_TRUE(stock.ok());
  for (const core::StockLine& line : *stock) {
    if (line.kit_type_code == "HYG-KIT") {
      EXPECT_EQ(line.received, 10'000 + 40);
    }
  }
}

TEST_F(ServerCentralTest, DispatchBeyondTheBalanceChangesNothing) {
  ASSERT_TRUE(Move(v1::MOVEMENT_KIND_RECEIPT, "HQ", 10).ok());
  auto refused = Move(v1::MOVEMENT_KIND_TRANSFER_OUT, "HQ", 11, "ENT");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("holds 10"));
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel != 'master'"), 1);
}

TEST_F(ServerCentralTest, CentralMovementRequestsAreChecked) {
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_ADJUSTMENT, "HQ", -3).status().code(),
            core::Code::kInvalidArgument)
      << "an adjustment needs a reason";
  EXPECT_TRUE(Move(v1::MOVEMENT_KIND_ADJUSTMENT, "HQ", -3, "", "water damage").ok());
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_COUNT, "HQ", 3).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_TRANSFER_IN, "HQ", 3, "ENT").status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(Move(static_cast<v1::MovementKind>(42), "HQ", 3).status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_RECEIPT, "HQ", 0).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(
      Move(v1::MOVEMENT_KIND_RECEIPT, "HQ", std::numeric_limits<int64_t>::min()).status().code(),
      core::Code::kInvalidArgument);
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_RECEIPT, "HQ", 5, "ENT").status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_TRANSFER_OUT, "HQ", 5).status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(Move(v1::MOVEMENT_KIND_RECEIPT, "NOWHERE", 5).status().code(), core::Code::kNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 1);
}

}  // namespace
}  // namespace kitsync::synctest

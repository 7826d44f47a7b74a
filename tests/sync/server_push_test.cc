// Push and pull through ServerLogic, in process: exactly-once application, the cursor and hash
// chain, ownership, references, clocks, field validation, and the channels a device may read.
// Every "nothing applied" is checked in the server's tables, not in its answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <optional>

#include "kitsync/core/canonical.h"
#include "kitsync/core/change_log.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/wire.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

TEST(WireIdsTest, AnIdTravelsAsSixteenBytesAndComesBackAsTheSameText) {
  for (const std::string& id : std::vector<std::string>{
           "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", core::NewUuidV7()}) {
    const std::string bytes = sync::UuidToBytes(id);
    ASSERT_EQ(bytes.size(), 16u) << id;
    auto back = sync::UuidFromBytes(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, id);
    EXPECT_TRUE(core::IsValidUuid(*back)) << *back;
  }
  // Byte for byte, the digits in order with the dashes left out.
  const char expected[] = "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
  EXPECT_EQ(sync::UuidToBytes("00112233-4455-6677-8899-aabbccddeeff"),
            std::string(expected, sizeof expected - 1));
  EXPECT_EQ(sync::UuidFromBytes(std::string(15, 'x')).status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(sync::UuidFromBytes(std::string(17, 'x')).status().code(),
            core::Code::kInvalidArgument);
}

class ServerPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(Options());
    server_->LoadMasterData();
    a_ = server_->EnrolTablet("ENT", "ENT tablet 1");
    b_ = server_->EnrolTablet("ENT", "ENT tablet 2");
    ASSERT_TRUE(a_.store && b_.store);
  }
  virtual sync::ServerLogicOptions Options() { return {}; }

  sync::ServerLogic& logic() { return server_->logic(); }
  int64_t now() { return server_->clock().now(); }

  // What the server holds of a device, read from its tables.
  int64_t FeedChangesFrom(const Tablet& t) {
    RawDb db(server_->db_path());
    return db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = '" +
                       t.device_id + "'");
  }
  int64_t AckedSeq(const Tablet& t) {
    RawDb db(server_->db_path());
    return db.QueryInt("SELECT acked_seq FROM devices WHERE id = '" + t.device_id + "'");
  }
  int64_t Rows(const std::string& table) {
    RawDb db(server_->db_path());
    return db.QueryInt("SELECT count(*) FROM " + table);
  }

  // All of a tablet's pending changes (at most 100).
  std::vector<core::ChangeEntry> Pending(Tablet& t) {
    auto entries = t.store->PendingChanges(100);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<core::ChangeEntry>{};
  }

  std::unique_ptr<TestServer> server_;
  Tablet a_;
  Tablet b_;
};

// Tablet a's log after two handovers: receipt, beneficiary, handover, beneficiary, handover.
constexpr int64_t kLogOfTwoHandovers = 5;
// TestMasterData(): 2 kit types, 3 posts, 3 officers, 2 rounds.
constexpr int64_t kMasterRecords = 10;
// Each handover to a new family makes the server send one served summary to the other posts'
// tablets; tablets of the same post hold the handover itself and get none.
constexpr int64_t kSummariesOfTwoHandovers = 0;

TEST_F(ServerPushTest, PushThenPullRoundTripBetweenTwoTabletsOfOnePost) {
  const std::string h1 = RecordHandover(a_, "A1000001");
  const std::string h2 = RecordHandover(a_, "A1000002");

  auto ack = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->acked_seq(), uint64_t{kLogOfTwoHandovers});
  EXPECT_EQ(ack->applied(), uint64_t{kLogOfTwoHandovers});
  EXPECT_EQ(ack->flagged(), 0u);
  ASSERT_TRUE(a_.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());

  EXPECT_EQ(PullAll(logic(), b_), kMasterRecords + kLogOfTwoHandovers + kSummariesOfTwoHandovers);
  auto seen = b_.store->ListHandovers({});
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  ASSERT_EQ(seen->size(), 2u);
  std::set<std::string> ids;
  for (const core::HandoverView& v : *seen) {
    ids.insert(v.handover.id);
    EXPECT_EQ(v.handover.device_id, a_.device_id);
    EXPECT_EQ(v.handover.post_id, PostId("ENT"));
  }
  EXPECT_EQ(ids, (std::set<std::string>{h1, h2}));
  // Tablet b now counts tablet a's receipt and handovers in the post's stock.
  auto stock = b_.store->Stock();
  ASSERT_TRUE(stock.ok());
  for (const core::StockLine& line : *stock) {
    if (line.kit_type_code == "HYG-KIT") {
      EXPECT_EQ(line.received, 20'000);
      EXPECT_EQ(line.handed_out, 2);
    }
  }

  // The pushing tablet is not sent its own changes back: it holds them already.
  EXPECT_EQ(PullAll(logic(), a_), kMasterRecords + kSummariesOfTwoHandovers);
}

TEST_F(ServerPushTest, ResentBatchIsAckedAndNotAppliedTwice) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  const v1::PushBatch batch = NextPushBatch(*a_.store, 100, now());

  auto first = logic().Push(a_.token, batch);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->applied(), uint64_t{kLogOfTwoHandovers});
  // The ack was lost; the tablet sends the same batch again.
  auto again = logic().Push(a_.token, batch);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->acked_seq(), uint64_t{kLogOfTwoHandovers});
  EXPECT_EQ(again->applied(), 0u);

  EXPECT_EQ(FeedChangesFrom(a_), kLogOfTwoHandovers);
  EXPECT_EQ(Rows("handovers"), 2);
  EXPECT_EQ(Rows("beneficiaries"), 2);
  EXPECT_EQ(Rows("stock_movements"), 1);
}

TEST_F(ServerPushTest, OldBatchReplayedLaterIsAckedWithNothingApplied) {
  RecordHandover(a_, "A1000001");
  const v1::PushBatch old_batch = NextPushBatch(*a_.store, 100, now());
  ASSERT_TRUE(logic().Push(a_.token, old_batch).ok());
  ASSERT_TRUE(a_.store->AcknowledgeUpload(3).ok());
  RecordHandover(a_, "A1000002");
  auto newer = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now()));
  ASSERT_TRUE(newer.ok()) << newer.status().ToString();
  EXPECT_EQ(newer->acked_seq(), 5u);

  server_->clock().Advance(60'000);
  auto replay = logic().Push(a_.token, old_batch);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_EQ(replay->acked_seq(), 5u);  // what the server holds, not what the batch ends at
  EXPECT_EQ(replay->applied(), 0u);
  EXPECT_EQ(FeedChangesFrom(a_), 5);
  EXPECT_EQ(Rows("handovers"), 2);
}

TEST_F(ServerPushTest, EmptyBatchIsAckedWithWhereTheServerStands) {
  RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  v1::PushBatch empty;
  empty.set_sender_wall_ms(now());
  auto ack = logic().Push(a_.token, empty);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->acked_seq(), 3u);
  EXPECT_EQ(ack->applied(), 0u);
  EXPECT_EQ(FeedChangesFrom(a_), 3);
}

TEST_F(ServerPushTest, OverlappingBatchAppliesOnlyTheNewTail) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  const std::vector<core::ChangeEntry> all = Pending(a_);
  ASSERT_EQ(all.size(), 5u);
  const std::vector<core::ChangeEntry> head(all.begin(), all.begin() + 3);
  ASSERT_TRUE(logic().Push(a_.token, BuildPushBatch(head, now())).ok());

  auto ack = logic().Push(a_.token, BuildPushBatch(all, now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->acked_seq(), 5u);
  EXPECT_EQ(ack->applied(), 2u);
  EXPECT_EQ(FeedChangesFrom(a_), 5);
}

TEST_F(ServerPushTest, GapIsFailedPreconditionAndNothingApplied) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  const std::vector<core::ChangeEntry> all = Pending(a_);
  const std::vector<core::ChangeEntry> tail(all.begin() + 2, all.end());  // changes 3..5

  auto refused = logic().Push(a_.token, BuildPushBatch(tail, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("starts at change 3"));
  EXPECT_THAT(refused.status().message(), HasSubstr("up to 0"));
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  EXPECT_EQ(AckedSeq(a_), 0);
  EXPECT_EQ(Rows("handovers"), 0);

  // From where the server stands, the same changes go in.
  auto ack = logic().Push(a_.token, BuildPushBatch(all, now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->applied(), 5u);
}

TEST_F(ServerPushTest, TamperedPayloadBreaksTheChainAndNothingIsApplied) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  v1::PushBatch batch = NextPushBatch(*a_.store, 100, now());
  ASSERT_TRUE(batch.records().changes(2).has_handover());
  // Still a well-formed handover, but not the one the tablet hashed.
  batch.mutable_records()->mutable_changes(2)->mutable_handover()->set_quantity(2);

  auto refused = logic().Push(a_.token, batch);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("hash chain broken"));
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  EXPECT_EQ(AckedSeq(a_), 0);
  EXPECT_EQ(Rows("handovers"), 0);
  EXPECT_EQ(Rows("beneficiaries"), 0);
}

// A stream's waiting batches go to the store in one transaction: each batch up to the first
// refused one is applied and acknowledged, the refused one leaves nothing, and those after it
// are not applied; whether the store or the batch's own fields refused it.
TEST_F(ServerPushTest, BatchesAppliedTogetherStandUpToTheFirstRefusedOne) {
  for (const char* doc : {"A1000001", "A1000002", "A1000003"}) RecordHandover(a_, doc);
  const std::vector<core::ChangeEntry> all = Pending(a_);
  ASSERT_EQ(all.size(), 7u);  // receipt, then a registration and a handover three times
  const v1::PushBatch first = BuildPushBatch({all.begin(), all.begin() + 3}, now());
  v1::PushBatch second = BuildPushBatch({all.begin() + 3, all.begin() + 5}, now());
  const v1::PushBatch third = BuildPushBatch({all.begin() + 5, all.end()}, now());
  auto prepare = [&](const v1::PushBatch& second_batch) {
    std::vector<sync::PreparedPush> batches;
    batches.push_back(logic().PreparePush(first, {}));
    batches.push_back(logic().PreparePush(second_batch, first.tip_hash()));
    batches.push_back(logic().PreparePush(third, second_batch.tip_hash()));
    return batches;
  };

  v1::PushBatch altered = second;
  altered.mutable_records()->mutable_changes(0)->mutable_beneficiary()->set_full_name("Someone");
  auto acks = logic().ApplyPreparedPushes(a_.token, prepare(altered));
  ASSERT_EQ(acks.size(), 2u);
  ASSERT_TRUE(acks[0].ok()) << acks[0].status().ToString();
  EXPECT_EQ(acks[0]->acked_seq(), 3u);
  EXPECT_EQ(acks[1].status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(acks[1].status().message(), HasSubstr("hash chain broken"));
  EXPECT_EQ(AckedSeq(a_), 3);
  EXPECT_EQ(FeedChangesFrom(a_), 3);
  EXPECT_EQ(Rows("handovers"), 1);
  EXPECT_EQ(Rows("beneficiaries"), 1);

  v1::PushBatch ahead = second;  // refused before the store sees it
  ahead.set_sender_wall_ms(now() + logic().options().max_clock_skew_ms + 1);
  acks = logic().ApplyPreparedPushes(a_.token, prepare(ahead));
  ASSERT_EQ(acks.size(), 2u);
  ASSERT_TRUE(acks[0].ok()) << acks[0].status().ToString();
  EXPECT_EQ(acks[0]->acked_seq(), 3u);
  EXPECT_EQ(acks[0]->applied(), 0u);  // held already
  EXPECT_EQ(acks[1].status().code(), core::Code::kOutOfRange);
  EXPECT_EQ(AckedSeq(a_), 3);
  EXPECT_EQ(Rows("handovers"), 1);

  acks = logic().ApplyPreparedPushes(a_.token, prepare(second));
  ASSERT_EQ(acks.size(), 3u);
  for (const auto& ack : acks) ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(acks[1]->acked_seq(), 5u);
  EXPECT_EQ(acks[1]->applied(), 2u);
  EXPECT_EQ(acks[2]->acked_seq(), 7u);
  EXPECT_EQ(AckedSeq(a_), 7);
  EXPECT_EQ(FeedChangesFrom(a_), 7);
  EXPECT_EQ(Rows("handovers"), 3);
}

// A batch of such a group refused after some of its records were written leaves none of them;
// the batch before it stays.
TEST_F(ServerPushTest, ABatchRefusedHalfWayThroughAGroupLeavesNothingOfItself) {
  RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  const std::string taken = RawDb(server_->db_path()).QueryText("SELECT id FROM beneficiaries");
  auto family = [&](const std::string& id, char hash, int logical) {
    core::Beneficiary b;
    b.id = id;
    b.doc_hash = std::string(64, hash);
    b.full_name = "Family " + std::string(1, hash);
    b.household_size = 1;
    b.post_id = b_.post_id;
    b.device_id = b_.device_id;
    b.hlc = {now(), logical};
    return core::RemoteChange{b.hlc, b};
  };
  const core::RemoteChange one = family(core::NewUuidV7(), 'b', 1);
  const core::RemoteChange two = family(core::NewUuidV7(), 'c', 2);
  const core::RemoteChange clash = family(taken, 'd', 3);  // an ID the server holds
  const v1::PushBatch first = ChainedBatch(core::GenesisHash(b_.device_id), 1, {one}, now());
  const v1::PushBatch second = ChainedBatch(first.tip_hash(), 2, {two, clash}, now());
  std::vector<sync::PreparedPush> batches;
  batches.push_back(logic().PreparePush(first, {}));
  batches.push_back(logic().PreparePush(second, first.tip_hash()));

  auto acks = logic().ApplyPreparedPushes(b_.token, std::move(batches));
  ASSERT_EQ(acks.size(), 2u);
  ASSERT_TRUE(acks[0].ok()) << acks[0].status().ToString();
  EXPECT_EQ(acks[1].status().code(), core::Code::kAlreadyExists);
  EXPECT_EQ(AckedSeq(b_), 1);
  EXPECT_EQ(FeedChangesFrom(b_), 1);
  EXPECT_EQ(Rows("beneficiaries"), 2);  // a's family and the first batch's
  EXPECT_EQ(Rows("beneficiaries WHERE id = '" +
                 std::get<core::Beneficiary>(two.record).id + "'"),
            0);
}

TEST_F(ServerPushTest, TamperingAfterAHeldPrefixBreaksTheChainFromTheStoredTip) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  const std::vector<core::ChangeEntry> all = Pending(a_);
  ASSERT_TRUE(logic().Push(a_.token, BuildPushBatch({all.begin(), all.begin() + 3}, now())).ok());
  v1::PushBatch rest = BuildPushBatch({all.begin() + 3, all.end()}, now());
  rest.mutable_records()->mutable_changes(0)->mutable_beneficiary()->set_full_name("Someone");

  auto refused = logic().Push(a_.token, rest);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(AckedSeq(a_), 3);
  EXPECT_EQ(FeedChangesFrom(a_), 3);
}

TEST_F(ServerPushTest, RecordsOfAnotherPostArePermissionDeniedAndNothingApplied) {
  // A device enrolled at NUN whose database claims to be at ENT: its records are ENT's.
  Tablet nun = server_->EnrolTablet("NUN", "NUN tablet");
  core::StoreOptions options;
  options.clock = server_->clock().AsWallClock();
  options.durable = false;
  auto rogue = core::Store::Create(server_->dir().File("rogue.db"),
                                   {"ENT", "rogue", nun.programme_key, nun.device_id}, options);
  ASSERT_TRUE(rogue.ok()) << rogue.status().ToString();
  ASSERT_TRUE((*rogue)->ImportMasterData(TestMasterData()).ok());
  core::MovementInput receipt;
  receipt.kit_type_code = "HYG-KIT";
  receipt.quantity = 5;
  receipt.officer_code = "ENT-OF-1";
  ASSERT_TRUE((*rogue)->RecordMovement(receipt).ok());

  auto refused = logic().Push(nun.token, NextPushBatch(**rogue, 100, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("NUN"));
  EXPECT_EQ(FeedChangesFrom(nun), 0);
  EXPECT_EQ(AckedSeq(nun), 0);
  EXPECT_EQ(Rows("stock_movements"), 0);
}

TEST_F(ServerPushTest, RecordsOfAnotherDeviceArePermissionDenied) {
  RecordHandover(a_, "A1000001");
  // Tablet b sends tablet a's changes as its own.
  auto refused = logic().Push(b_.token, NextPushBatch(*a_.store, 100, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kPermissionDenied);
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  EXPECT_EQ(AckedSeq(b_), 0);
  EXPECT_EQ(Rows("handovers"), 0);
}

TEST_F(ServerPushTest, VoidOfAHandoverTheServerDoesNotHoldIsFailedPrecondition) {
  core::HandoverVoid v;
  v.handover_id = core::NewUuidV7();
  v.reason = "wrong beneficiary";
  v.officer_id = TestMasterData().officers[1].id;  // ENT-OF-1
  v.device_id = a_.device_id;
  v.hlc = {now(), 0};
  v.wall_ms = now();
  auto refused =
      logic().Push(a_.token, ChainedBatch(core::GenesisHash(a_.device_id), 1, {{v.hlc, v}}, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr(v.handover_id));
  EXPECT_EQ(Rows("handover_voids"), 0);
  EXPECT_EQ(AckedSeq(a_), 0);
}

TEST_F(ServerPushTest, VoidOfAnotherPostsHandoverIsFailedPrecondition) {
  Tablet nun = server_->EnrolTablet("NUN", "NUN tablet");
  const std::string nun_handover = RecordHandover(nun, "N2000001");
  ASSERT_TRUE(logic().Push(nun.token, NextPushBatch(*nun.store, 100, now())).ok());

  core::HandoverVoid v;
  v.handover_id = nun_handover;
  v.reason = "not ours";
  v.officer_id = TestMasterData().officers[1].id;
  v.device_id = a_.device_id;
  v.hlc = {now(), 1};
  v.wall_ms = now();
  auto refused =
      logic().Push(a_.token, ChainedBatch(core::GenesisHash(a_.device_id), 1, {{v.hlc, v}}, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(Rows("handover_voids"), 0);
}

TEST_F(ServerPushTest, VoidByAnotherTabletOfThePostReachesTheFirst) {
  const std::string handover = RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  ASSERT_TRUE(a_.store->AcknowledgeUpload(3).ok());
  ASSERT_GT(PullAll(logic(), b_), 0);
  auto voided = b_.store->VoidHandover({handover, "recorded twice", "ENT-OF-1"});
  ASSERT_TRUE(voided.ok()) << voided.status().ToString();

  auto ack = logic().Push(b_.token, NextPushBatch(*b_.store, 100, now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->applied(), 2u);  // b's receipt and the void
  ASSERT_GT(PullAll(logic(), a_), 0);
  auto seen = a_.store->ListHandovers({});
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 1u);
  ASSERT_TRUE((*seen)[0].void_record.has_value());
  EXPECT_EQ((*seen)[0].void_record->reason, "recorded twice");
}

TEST_F(ServerPushTest, SameIdWithDifferentContentIsAlreadyExistsAndNothingApplied) {
  RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  RawDb db(server_->db_path());
  const std::string taken = db.QueryText("SELECT id FROM beneficiaries");

  core::Beneficiary clash;
  clash.id = taken;
  clash.doc_hash = std::string(64, 'a');
  clash.full_name = "Another person";
  clash.household_size = 1;
  clash.post_id = b_.post_id;
  clash.device_id = b_.device_id;
  clash.hlc = {now(), 5};
  auto refused = logic().Push(
      b_.token, ChainedBatch(core::GenesisHash(b_.device_id), 1, {{clash.hlc, clash}}, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kAlreadyExists);
  EXPECT_EQ(FeedChangesFrom(b_), 0);
  EXPECT_EQ(AckedSeq(b_), 0);
  EXPECT_EQ(Rows("beneficiaries"), 1);
}

TEST_F(ServerPushTest, AHandoverAlreadyHeldIsSkippedWhenTheSameAndRefusedWhenNot) {
  RecordHandover(a_, "A1000002");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  auto listed = a_.store->ListHandovers({});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const core::Handover h = listed->front().handover;
  const int64_t feed_before = FeedChangesFrom(a_);
  auto tip = [&] {
    return RawDb(server_->db_path())
        .QueryText("SELECT tip_hash FROM devices WHERE id = '" + a_.device_id + "'");
  };

  // The same handover again, alone and then twice in one batch, as the device's next changes
  // (a tablet restored from a copy of itself sends what it had sent): held, so skipped.
  int64_t next = AckedSeq(a_) + 1;
  auto once = logic().Push(a_.token, ChainedBatch(tip(), next, {{h.hlc, h}}, now()));
  ASSERT_TRUE(once.ok()) << once.status().ToString();
  EXPECT_EQ(once->applied(), 0u);
  next = AckedSeq(a_) + 1;
  auto twice = logic().Push(a_.token, ChainedBatch(tip(), next, {{h.hlc, h}, {h.hlc, h}}, now()));
  ASSERT_TRUE(twice.ok()) << twice.status().ToString();
  EXPECT_EQ(twice->applied(), 0u);
  EXPECT_EQ(AckedSeq(a_), next + 1);
  EXPECT_EQ(FeedChangesFrom(a_), feed_before);

  // The same ID with other content: ALREADY_EXISTS, and nothing of the batch applied, also
  // what came before it in the batch.
  core::Handover second = h;
  second.id = core::NewUuidV7();
  second.hlc = {now(), 1};
  second.wall_ms = now();
  core::Handover other = h;
  other.proof_ref = "sha256:0ther";
  next = AckedSeq(a_) + 1;
  auto refused = logic().Push(
      a_.token, ChainedBatch(tip(), next, {{second.hlc, second}, {other.hlc, other}}, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kAlreadyExists);
  EXPECT_EQ(AckedSeq(a_), next - 1);
  EXPECT_EQ(FeedChangesFrom(a_), feed_before);
  EXPECT_EQ(Rows("handovers"), 1);
}

TEST_F(ServerPushTest, ChangeStampedFarAheadIsAcceptedAndFlagged) {
  const int64_t hour = 3'600'000;
  server_->clock().Advance(hour);  // the tablet's clock runs an hour ahead...
  RecordHandover(a_, "A1000001");
  server_->clock().Advance(-hour);  // ...and is set right before it syncs

  auto ack = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->applied(), 3u);
  EXPECT_EQ(ack->flagged(), 2u);  // the beneficiary and the handover, not the earlier receipt
  EXPECT_EQ(Rows("handovers WHERE clock_ahead = 1"), 1);
  EXPECT_EQ(Rows("beneficiaries WHERE clock_ahead = 1"), 1);
  EXPECT_EQ(Rows("stock_movements WHERE clock_ahead = 1"), 0);
}

TEST_F(ServerPushTest, SenderClockBeyondTheSkewIsOutOfRangeAndNothingApplied) {
  RecordHandover(a_, "A1000001");
  const int64_t skew = logic().options().max_clock_skew_ms;
  auto refused = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now() + skew + 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kOutOfRange);
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  EXPECT_EQ(AckedSeq(a_), 0);

  auto at_limit = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now() + skew));
  EXPECT_TRUE(at_limit.ok()) << at_limit.status().ToString();
}

// Sets an enum field to a number no version of the contract defines, as a hostile client can.
void SetRawEnum(google::protobuf::Message* message, const char* field, int value) {
  const auto* descriptor = message->GetDescriptor()->FindFieldByName(field);
  ASSERT_NE(descriptor, nullptr) << field;
  message->GetReflection()->SetEnumValue(message, descriptor, value);
}

TEST_F(ServerPushTest, MalformedFieldsAreInvalidArgumentAndNothingApplied) {
  RecordHandover(a_, "A1000001");
  const v1::PushBatch good = NextPushBatch(*a_.store, 100, now());
  // Changes: 0 receipt, 1 beneficiary, 2 handover.
  ASSERT_TRUE(good.records().changes(0).has_stock_movement());
  ASSERT_TRUE(good.records().changes(1).has_beneficiary());
  ASSERT_TRUE(good.records().changes(2).has_handover());
  auto change = [](v1::PushBatch& b, int i) { return b.mutable_records()->mutable_changes(i); };

  const std::vector<std::pair<std::string, std::function<void(v1::PushBatch&)>>> cases = {
      {"officer ref 0", [&](auto& b) { change(b, 2)->mutable_handover()->set_officer_ref(0); }},
      {"ref past the dictionary",
       [&](auto& b) { change(b, 2)->mutable_handover()->set_round_ref(999); }},
      {"5-byte ID", [&](auto& b) { change(b, 1)->mutable_beneficiary()->set_id("12345"); }},
      {"31-byte document hash",
       [&](auto& b) { change(b, 1)->mutable_beneficiary()->set_doc_hash(std::string(31, 'x')); }},
      {"household of 0",
       [&](auto& b) { change(b, 1)->mutable_beneficiary()->set_household_size(0); }},
      {"unknown collector",
       [&](auto& b) { SetRawEnum(change(b, 2)->mutable_handover(), "collector", 99); }},
      {"unknown proof kind",
       [&](auto& b) { SetRawEnum(change(b, 2)->mutable_handover(), "proof_kind", -7); }},
      {"unknown movement kind",
       [&](auto& b) { SetRawEnum(change(b, 0)->mutable_stock_movement(), "kind", 77); }},
      {"lowest int64 quantity",
       [&](auto& b) {
         change(b, 0)->mutable_stock_movement()->set_quantity(std::numeric_limits<int64_t>::min());
       }},
      {"wall offset at int64 max",
       [&](auto& b) {
         change(b, 2)->mutable_handover()->set_wall_offset_ms(std::numeric_limits<int64_t>::max());
       }},
      {"change without a record", [&](auto& b) { change(b, 1)->clear_record(); }},
      {"timestamp 0", [&](auto& b) { b.mutable_records()->set_base_hlc(0); }},
      {"tip hash of 5 bytes", [&](auto& b) { b.set_tip_hash("short"); }},
      {"first_seq 0", [&](auto& b) { b.set_first_seq(0); }},
      {"first_seq near 2^64", [&](auto& b) { b.set_first_seq(~uint64_t{0} - 1); }},
      {"negative sender clock", [&](auto& b) { b.set_sender_wall_ms(-5); }},
      {"pending near 2^64", [&](auto& b) { b.set_pending(~uint64_t{0}); }},
  };
  for (const auto& [name, mutate] : cases) {
    SCOPED_TRACE(name);
    v1::PushBatch bad = good;
    mutate(bad);
    auto refused = logic().Push(a_.token, bad);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument) << refused.status().ToString();
  }
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  EXPECT_EQ(AckedSeq(a_), 0);
  EXPECT_EQ(Rows("beneficiaries"), 0);

  auto ack = logic().Push(a_.token, good);  // the untouched batch still goes in
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->applied(), 3u);
}

// A signature's SHA-256 digest as a tablet records it: 64 lower-case hex digits.
const std::string kSignatureDigest =
    "5f1d0c9a8b7e6d5c4b3a29180f1e2d3c4b5a69788796a5b4c3d2e1f00112233e";

v1::Handover* HandoverIn(v1::PushBatch& batch) {
  for (v1::Change& c : *batch.mutable_records()->mutable_changes()) {
    if (c.has_handover()) return c.mutable_handover();
  }
  ADD_FAILURE() << "no handover in the batch";
  static v1::Handover none;
  return &none;
}

TEST_F(ServerPushTest, AProofDigestTravelsAsThirtyTwoBytesAndIsHeldAsTheSameText) {
  RecordHandover(a_, "A1000001", kSignatureDigest);
  v1::PushBatch batch = NextPushBatch(*a_.store, 100, now(), {.proof_digest = true});
  const v1::Handover& sent = *HandoverIn(batch);
  EXPECT_EQ(sent.proof_ref(), "");
  EXPECT_EQ(sent.proof_digest().size(), 32u);

  // The chain is re-hashed from the record the server reads, so an ack means it read back the
  // very text the tablet hashed.
  auto ack = logic().Push(a_.token, batch);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->acked_seq(), 3u);  // receipt, beneficiary, handover
  RawDb db(server_->db_path());
  EXPECT_EQ(db.QueryText("SELECT proof_ref FROM handovers"), kSignatureDigest);
}

TEST_F(ServerPushTest, AProofDigestOfAnotherLengthOrBesideAReferenceIsInvalidAndNothingApplied) {
  RecordHandover(a_, "A1000001", kSignatureDigest);
  for (const bool beside_a_reference : {false, true}) {
    v1::PushBatch batch = NextPushBatch(*a_.store, 100, now(), {.proof_digest = true});
    v1::Handover& sent = *HandoverIn(batch);
    if (beside_a_reference) {
      sent.set_proof_ref(kSignatureDigest);
    } else {
      sent.mutable_proof_digest()->pop_back();
    }
    auto refused = logic().Push(a_.token, batch);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument);
    EXPECT_THAT(refused.status().message(), HasSubstr("proof digest"));
    EXPECT_EQ(Rows("handovers"), 0);
    EXPECT_EQ(AckedSeq(a_), 0);
  }
}

TEST_F(ServerPushTest, OtherProofReferencesTravelAsTextEvenToAServerThatReadsDigests) {
  const std::string upper = "5F1D0C9A8B7E6D5C4B3A29180F1E2D3C4B5A69788796A5B4C3D2E1F00112233E";
  const std::vector<std::string> proofs = {"VCH-2026-0042", upper, kSignatureDigest.substr(1)};
  for (size_t i = 0; i < proofs.size(); ++i) {
    RecordHandover(a_, "A100000" + std::to_string(i), proofs[i]);
    v1::PushBatch batch = NextPushBatch(*a_.store, 100, now(), {.proof_digest = true});
    const v1::Handover& sent = *HandoverIn(batch);
    EXPECT_EQ(sent.proof_ref(), proofs[i]);
    EXPECT_EQ(sent.proof_digest(), "");
    auto ack = logic().Push(a_.token, batch);
    ASSERT_TRUE(ack.ok()) << proofs[i] << ": " << ack.status().ToString();
    ASSERT_TRUE(a_.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());
  }
  RawDb db(server_->db_path());
  for (const std::string& proof : proofs) {
    EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers WHERE proof_ref = '" + proof + "'"), 1)
        << proof;
  }
}

TEST_F(ServerPushTest, APullCarriesProofDigestsAsBytesOnlyToATabletThatReadsThem) {
  auto status = logic().GetStatus(a_.token, {});
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_THAT(status->wire_features(), ::testing::Contains(sync::kProofDigestFeature));
  RecordHandover(b_, "B1000001", kSignatureDigest);
  ASSERT_TRUE(logic().Push(b_.token, NextPushBatch(*b_.store, 100, now())).ok());

  for (const bool reads_digests : {false, true}) {
    v1::PullRequest request;
    request.set_batch_size(1000);
    if (reads_digests) request.add_wire_features(sync::kProofDigestFeature);
    auto pulled = logic().Pull(a_.token, request);
    ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
    const v1::Handover* h = nullptr;
    for (const v1::Change& c : pulled->records().changes()) {
      if (c.has_handover()) h = &c.handover();
    }
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->proof_ref(), reads_digests ? "" : kSignatureDigest);
    EXPECT_EQ(h->proof_digest().size(), reads_digests ? 32u : 0u);
    auto read = sync::ReadRecordBatch(pulled->records());
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    bool found = false;
    for (const sync::WireChange& c : *read) {
      if (auto* handover = std::get_if<core::Handover>(&c.record)) {
        EXPECT_EQ(handover->proof_ref, kSignatureDigest);
        found = true;
      }
    }
    EXPECT_TRUE(found);
  }
}

TEST_F(ServerPushTest, MasterDataInAPushIsPermissionDenied) {
  // No tablet logs master data, so the batch is made by hand; its tip cannot matter, the
  // record is refused before the chain is compared.
  v1::PushBatch batch;
  batch.set_first_seq(1);
  batch.set_tip_hash(std::string(32, '\0'));
  batch.set_sender_wall_ms(now());
  sync::RecordBatchWriter writer(batch.mutable_records());
  writer.Add({now(), 0}, core::Post{core::NewUuidV7(), "FAKE", "Fake post"});

  auto refused = logic().Push(a_.token, batch);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kPermissionDenied);
  EXPECT_EQ(Rows("posts"), 3);
  EXPECT_EQ(AckedSeq(a_), 0);
}

TEST_F(ServerPushTest, PullSeesOnlyItsOwnPostAndMasterData) {
  Tablet nun = server_->EnrolTablet("NUN", "NUN tablet");
  RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  RecordHandover(nun, "N2000001");
  ASSERT_TRUE(logic().Push(nun.token, NextPushBatch(*nun.store, 100, now())).ok());

  // One big batch, inspected record by record: nothing of ENT reaches a NUN tablet but master
  // data and the served summaries, which name families only by document hash.
  v1::PullRequest request;
  request.set_batch_size(1000);
  auto batch = logic().Pull(nun.token, request);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->remaining(), 0u);
  auto changes = sync::ReadRecordBatch(batch->records());
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  EXPECT_EQ(changes->size(), static_cast<size_t>(kMasterRecords + 1));  // ENT's summary
  for (const sync::WireChange& c : *changes) {
    EXPECT_TRUE(std::holds_alternative<core::KitType>(c.record) ||
                std::holds_alternative<core::Post>(c.record) ||
                std::holds_alternative<core::Officer>(c.record) ||
                std::holds_alternative<core::Round>(c.record) ||
                std::holds_alternative<core::ServedSummary>(c.record))
        << "a NUN tablet received a record of kind " << c.record.index();
  }

  // And an ENT tablet gets ENT's records, none of NUN's.
  ASSERT_GT(PullAll(logic(), b_), 0);
  auto seen = b_.store->ListHandovers({});
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].handover.post_id, PostId("ENT"));
}

TEST_F(ServerPushTest, PullPagesFollowTheCursorAndCountWhatRemains) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());

  v1::PullRequest request;
  request.set_batch_size(4);
  const uint64_t total = kMasterRecords + kLogOfTwoHandovers + kSummariesOfTwoHandovers;
  uint64_t received = 0;
  for (int i = 0; i < 10; ++i) {
    auto batch = logic().Pull(b_.token, request);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    received += static_cast<uint64_t>(batch->records().changes_size());
    EXPECT_LE(batch->records().changes_size(), 4);
    EXPECT_EQ(batch->remaining(), total - received);
    ASSERT_TRUE(ApplyPullBatch(*b_.store, *batch).ok());
    if (batch->remaining() == 0) break;
    EXPECT_GT(batch->cursor(), request.cursor());
    request.set_cursor(batch->cursor());
  }
  EXPECT_EQ(received, total);

  request.set_cursor(1'000'000);
  auto beyond = logic().Pull(b_.token, request);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), core::Code::kOutOfRange);
}

// Within one pull a page is given what the page before said remained (as the gRPC stream does),
// and works out its own from it instead of counting the feed again: the figures must be the
// ones a count gives.
TEST_F(ServerPushTest, APullGivenWhatRemainedReportsWhatACountWould) {
  // Two pushes: one feed entry holds the first's three handovers, so entries are not changes.
  for (const char* doc : {"A1000001", "A1000002", "A1000003"}) RecordHandover(a_, doc);
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  RecordHandover(a_, "A1000004");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  v1::PullRequest request;
  request.set_batch_size(2);
  auto counted = logic().Pull(b_.token, request);  // counts: nothing carried forward
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  const uint64_t total =
      static_cast<uint64_t>(counted->records().changes_size()) + counted->remaining();
  uint64_t received = 0;
  std::optional<int64_t> remaining;
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto batch = logic().Pull(b_.token, request, remaining);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    received += static_cast<uint64_t>(batch->records().changes_size());
    EXPECT_EQ(batch->remaining(), total - received) << "page " << pages;
    ASSERT_TRUE(ApplyPullBatch(*b_.store, *batch).ok());
    if (batch->remaining() == 0) break;
    request.set_cursor(batch->cursor());
    remaining = static_cast<int64_t>(batch->remaining());
  }
  EXPECT_EQ(received, total);
  EXPECT_GT(pages, 4);
}

// What another tablet pushes while a pull goes on was not in the count the pull carries
// forward: the pull must not end before it has sent those changes too.
TEST_F(ServerPushTest, ChangesPushedWhileAPullGoesOnAreSentBeforeItEnds) {
  RecordHandover(a_, "A1000001");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  v1::PullRequest request;
  request.set_batch_size(3);
  auto first = logic().Pull(b_.token, request);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_GT(first->remaining(), 0u);
  ASSERT_TRUE(ApplyPullBatch(*b_.store, *first).ok());

  for (const char* doc : {"A1000002", "A1000003", "A1000004"}) RecordHandover(a_, doc);
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());

  request.set_cursor(first->cursor());
  std::optional<int64_t> remaining = static_cast<int64_t>(first->remaining());
  // Each page's figure and how many changes had arrived by then: a figure may fall short of
  // what the feed holds (changes added since the count), never exceed it.
  std::vector<std::pair<uint64_t, uint64_t>> pages;
  uint64_t received = static_cast<uint64_t>(first->records().changes_size());
  bool ended = false;
  for (int i = 0; i < 20 && !ended; ++i) {
    auto batch = logic().Pull(b_.token, request, remaining);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    ASSERT_TRUE(ApplyPullBatch(*b_.store, *batch).ok());
    received += static_cast<uint64_t>(batch->records().changes_size());
    pages.emplace_back(batch->remaining(), received);
    ended = batch->remaining() == 0;
    request.set_cursor(batch->cursor());
    remaining = static_cast<int64_t>(batch->remaining());
  }
  ASSERT_TRUE(ended);
  for (const auto& [figure, by_then] : pages) EXPECT_LE(figure, received - by_then);
  auto seen = b_.store->ListHandovers({});
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->size(), 4u);
  auto again = logic().Pull(b_.token, request);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->records().changes_size(), 0);
}

// A handover's feed entry refers to its row: what another tablet of the post pulls is rebuilt
// from the row, and must be the handover as pushed, every field of it.
TEST_F(ServerPushTest, AHandoverPulledByAnotherTabletIsTheOnePushedFieldForField) {
  core::BeneficiaryInput family;
  family.doc_number = "A1000009";
  family.full_name = "Beneficiary A1000009";
  family.household_size = 4;
  auto registered = a_.store->RegisterBeneficiary(family);
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  core::HandoverInput kit;
  kit.round_code = "HYG-R1";
  kit.beneficiary_id = registered->id;
  kit.kit_type_code = "HYG-KIT";
  kit.officer_code = "ENT-OF-1";
  kit.proof = {core::ProofKind::kSignature, "sha256:5f1d0c"};
  kit.consent = true;
  ASSERT_TRUE(a_.store->RecordHandover(kit).ok());
  // A second kit past the round's entitlement, collected by a neighbour "with \"quotes\"".
  kit.collected_by = core::Collector::kProxy;
  kit.proxy_relation = "neighbour \"Pak\" Budi";
  kit.override_reason = "first kit was lost in the river";
  kit.proof = {core::ProofKind::kPhoto, "sha256:9a9a"};
  auto second = a_.store->RecordHandover(kit);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_FALSE(second->handover.overridden_warnings.empty());

  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  ASSERT_GT(PullAll(logic(), b_), 0);

  auto encode = [](const core::Handover& h) {
    auto form = core::ToLoggedForm(core::Record(h));
    EXPECT_TRUE(form.ok()) << form.status().ToString();
    return form.ok() ? form->payload : std::string();
  };
  auto pushed = a_.store->ListHandovers({});
  auto pulled = b_.store->ListHandovers({});
  ASSERT_TRUE(pushed.ok() && pulled.ok());
  ASSERT_EQ(pushed->size(), 2u);
  ASSERT_EQ(pulled->size(), 2u);
  std::set<std::string> sent;
  std::set<std::string> received;
  for (const core::HandoverView& v : *pushed) sent.insert(encode(v.handover));
  for (const core::HandoverView& v : *pulled) received.insert(encode(v.handover));
  EXPECT_EQ(received, sent);
  EXPECT_TRUE(sent.count(encode(second->handover)));
}

// A batch's handovers are one feed entry per run, written after the registrations they name;
// a void in the same batch ends the run, so the handover it voids is in the feed before it.
// Another tablet of the post pulling in pages of one change gets each of them, and the void.
TEST_F(ServerPushTest, ABatchsHandoversAreOneEntryPerRunAndAVoidOfOneOfThemComesAfterIt) {
  const std::string first = RecordHandover(a_, "A3000001");
  RecordHandover(a_, "A3000002");
  ASSERT_TRUE(a_.store->VoidHandover({first, "wrong family", "ENT-OF-1"}).ok());
  RecordHandover(a_, "A3000003");
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());

  // receipt, beneficiary x2, (handovers 1-2), void, beneficiary, (handover 3), in feed order.
  RawDb db(server_->db_path());
  EXPECT_EQ(db.QueryText("SELECT group_concat(e, ' ') FROM (SELECT entity || "
                         "CASE WHEN entity = 'handovers' THEN ':' || entity_id ELSE '' END AS e "
                         "FROM feed WHERE origin_device = '" + a_.device_id +
                         "' ORDER BY server_seq)"),
            "stock_movement beneficiary beneficiary handovers:2 handover_void beneficiary "
            "handovers:1");
  EXPECT_EQ(db.QueryInt("SELECT count(DISTINCT server_seq) FROM handovers"), 2);

  EXPECT_EQ(PullAll(logic(), b_, 1), kMasterRecords + 8);
  auto seen = b_.store->ListHandovers({});
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  ASSERT_EQ(seen->size(), 3u);
  for (const core::HandoverView& v : *seen) {
    EXPECT_EQ(v.void_record.has_value(), v.handover.id == first) << v.handover.id;
  }
}

// A push's served summaries for other posts are one feed entry per post; a tablet of another
// post receives it whole, in one page even when the page asked for fewer changes, and what
// remains counts summaries, not entries.
TEST_F(ServerPushTest, AnotherPostsTabletPullsABatchsServedSummariesWholeAndCountsEachOne) {
  Tablet nun = server_->EnrolTablet("NUN", "NUN tablet 1");
  ASSERT_TRUE(nun.store);
  for (const char* doc : {"A2000001", "A2000002", "A2000003"}) RecordHandover(a_, doc);
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 100, now())).ok());
  EXPECT_EQ(RawDb(server_->db_path())
                .QueryInt("SELECT count(*) FROM feed WHERE channel LIKE 'served:%'"),
            1);

  v1::PullRequest request;
  request.set_batch_size(2);
  const uint64_t total = kMasterRecords + 3;  // the master data, then the three summaries
  uint64_t received = 0;
  int largest_page = 0;
  for (int i = 0; i < 20; ++i) {
    auto batch = logic().Pull(nun.token, request);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    received += static_cast<uint64_t>(batch->records().changes_size());
    largest_page = std::max(largest_page, batch->records().changes_size());
    EXPECT_EQ(batch->remaining(), total - received);
    ASSERT_TRUE(ApplyPullBatch(*nun.store, *batch).ok());
    if (batch->remaining() == 0) break;
    request.set_cursor(batch->cursor());
  }
  EXPECT_EQ(received, total);
  EXPECT_EQ(largest_page, 3);
  EXPECT_EQ(RawDb(nun.db_path).QueryInt("SELECT count(*) FROM served_elsewhere WHERE quantity = 1"),
            3);
}

class SmallLimitsPushTest : public ServerPushTest {
 protected:
  sync::ServerLogicOptions Options() override {
    sync::ServerLogicOptions o;
    o.max_push_changes = 3;
    o.max_pull_batch = 2;
    return o;
  }
};

TEST_F(SmallLimitsPushTest, OversizedBatchIsRefusedAndPullBatchesAreCapped) {
  RecordHandover(a_, "A1000001");
  RecordHandover(a_, "A1000002");
  auto refused = logic().Push(a_.token, NextPushBatch(*a_.store, 100, now()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(FeedChangesFrom(a_), 0);
  ASSERT_TRUE(logic().Push(a_.token, NextPushBatch(*a_.store, 3, now())).ok());

  v1::PullRequest request;
  request.set_batch_size(1000);
  auto batch = logic().Pull(b_.token, request);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->records().changes_size(), 2);
}

}  // namespace
}  // namespace kitsync::synctest

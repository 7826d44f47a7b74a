// What the sync engine does to a tablet: pulled batches, cursors, the server link.
#include <gtest/gtest.h>

#include <algorithm>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::CanonicalDump;
using testing::SampleMasterData;

class StoreSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_path_ = dir_.File("a.db");
    b_path_ = dir_.File("b.db");
    a_ = testing::MakeTablet(a_path_, {clock_.AsWallClock()});
    b_ = testing::MakeTablet(b_path_, {clock_.AsWallClock()});
    ASSERT_TRUE(a_ && b_);
  }

  // Tablet A's pending changes as the server would hand them to B.
  std::vector<RemoteChange> ChangesOfA() {
    std::vector<RemoteChange> out;
    auto pending = a_->PendingChanges(1000);
    EXPECT_TRUE(pending.ok());
    for (const ChangeEntry& e : *pending) {
      if (e.entity == "beneficiary") out.push_back({e.hlc, *DecodeBeneficiary(e.payload)});
      if (e.entity == "handover") out.push_back({e.hlc, *DecodeHandover(e.payload)});
      if (e.entity == "handover_void") out.push_back({e.hlc, *DecodeHandoverVoid(e.payload)});
      if (e.entity == "stock_movement") out.push_back({e.hlc, *DecodeMovement(e.payload)});
    }
    return out;
  }

  void RecordAtA() {
    ASSERT_TRUE(a_->RecordMovement({MovementKind::kReceipt, "HYG-KIT", 10, "", "WB", "",
                                    "ENT-OF-1"}).ok());
    auto ben = a_->RegisterBeneficiary({"B7654321", "Siti", "", 2});
    ASSERT_TRUE(ben.ok());
    auto h = a_->RecordHandover(testing::SampleHandover(ben->id));
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(a_->VoidHandover({h->handover.id, "wrong kit", "ENT-OF-1"}).ok());
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::string a_path_, b_path_;
  std::unique_ptr<Store> a_, b_;
};

TEST_F(StoreSyncTest, PulledRecordsOfAnotherTabletAreHeldButNotReUploaded) {
  RecordAtA();
  ASSERT_TRUE(b_->ApplyPulled(ChangesOfA(), 4).ok());
  EXPECT_EQ(*b_->PullCursor(), 4);
  EXPECT_EQ(b_->GetStatus()->pending, 0);
  auto stock = b_->Stock();
  ASSERT_TRUE(stock.ok());
  EXPECT_EQ((*stock)[0].received, 10);
  EXPECT_EQ((*stock)[0].handed_out, 0);  // the one handover was voided
  auto list = b_->ListHandovers({});
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].void_record.has_value());
}

TEST_F(StoreSyncTest, ReplicasHoldingTheSameFactsHaveTheSameDigest) {
  RecordAtA();
  auto changes = ChangesOfA();
  EXPECT_NE(a_->DigestFacts()->sha256_hex, b_->DigestFacts()->sha256_hex);
  std::reverse(changes.begin() + 1, changes.end() - 1);  // another arrival order
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  auto a = a_->DigestFacts();
  auto b = b_->DigestFacts();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sha256_hex, b->sha256_hex);
  EXPECT_EQ(a->facts, 4);
  // One field of one fact differs: the digests differ.
  ASSERT_TRUE(b_->RegisterBeneficiary({"C1112223", "Ani", "", 1}).ok());
  EXPECT_NE(a_->DigestFacts()->sha256_hex, b_->DigestFacts()->sha256_hex);
}

// After the server is restored from a copy, a tablet lines its pull cursor up with the new feed
// epoch and receives again what it may already hold (the copied server's entries, re-sent
// logs): the cursor only goes back, and facts applied a second time change nothing.
TEST_F(StoreSyncTest, LiningUpWithANewFeedEpochMovesTheCursorBackAndReappliedFactsChangeNothing) {
  RecordAtA();
  const std::vector<RemoteChange> changes = ChangesOfA();
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  EXPECT_EQ(*b_->PullEpoch(), "");  // never lined up
  const std::string digest = b_->DigestFacts()->sha256_hex;
  const std::string dump = CanonicalDump(b_path_);

  EXPECT_EQ(b_->SetPullEpoch("epoch-2", 5).code(), Code::kInvalidArgument);  // never forward
  EXPECT_EQ(b_->SetPullEpoch("", 2).code(), Code::kInvalidArgument);
  EXPECT_EQ(*b_->PullCursor(), 4);
  ASSERT_TRUE(b_->SetPullEpoch("epoch-2", 2).ok());
  EXPECT_EQ(*b_->PullCursor(), 2);
  EXPECT_EQ(*b_->PullEpoch(), "epoch-2");

  // The new epoch's feed holds the same facts at other positions, in another order.
  std::vector<RemoteChange> again(changes.rbegin(), changes.rend());
  ASSERT_TRUE(b_->ApplyPulled({again.begin(), again.begin() + 2}, 3).ok());
  ASSERT_TRUE(b_->ApplyPulled({again.begin() + 2, again.end()}, 6).ok());
  EXPECT_EQ(*b_->PullCursor(), 6);
  EXPECT_EQ(b_->DigestFacts()->sha256_hex, digest);
  EXPECT_EQ(b_->Stock()->at(0).received, 10);
  EXPECT_EQ(b_->Stock()->at(0).handed_out, 0);
  EXPECT_EQ(b_->ListHandovers({})->size(), 1u);
  EXPECT_EQ(b_->GetStatus()->pending, 0);  // nothing pulled is ever uploaded
  // Only the cursor and the epoch differ from before the line-up.
  b_.reset();
  std::string after = CanonicalDump(b_path_);
  auto reopened = Store::Open(b_path_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->PullEpoch(), "epoch-2");
  auto strip = [](std::string text) {
    for (const std::string key : {"pull_cursor", "pull_epoch"}) {
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key)) {
        text.erase(at, text.find('\n', at) - at + 1);
      }
    }
    return text;
  };
  EXPECT_EQ(strip(after), strip(dump));
}

TEST_F(StoreSyncTest, TwoTabletsVoidingOneHandoverBothKeepBothVoids) {
  ASSERT_TRUE(a_->RecordMovement({MovementKind::kReceipt, "HYG-KIT", 10, "", "WB", "",
                                  "ENT-OF-1"}).ok());
  auto ben = a_->RegisterBeneficiary({"B7654321", "Siti", "", 2});
  ASSERT_TRUE(ben.ok());
  auto h = a_->RecordHandover(testing::SampleHandover(ben->id));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(b_->ApplyPulled(ChangesOfA(), 3).ok());
  // Both tablets void it before hearing of each other.
  auto void_a = a_->VoidHandover({h->handover.id, "wrong family", "ENT-OF-1"});
  auto void_b = b_->VoidHandover({h->handover.id, "entered twice", "ENT-OF-1"});
  ASSERT_TRUE(void_a.ok() && void_b.ok());
  ASSERT_TRUE(a_->ApplyPulled({{void_b->hlc, *void_b}}, 10).ok());
  ASSERT_TRUE(b_->ApplyPulled({{void_a->hlc, *void_a}}, 4).ok());

  EXPECT_EQ(a_->DigestFacts()->sha256_hex, b_->DigestFacts()->sha256_hex);
  EXPECT_EQ(a_->Stock()->at(0).handed_out, 0);  // voided once, counted once
  EXPECT_EQ(b_->Stock()->at(0).handed_out, 0);
  auto list = a_->ListHandovers({});
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->at(0).void_record->reason, "wrong family");  // the earlier void is shown
  EXPECT_TRUE(a_->VerifyChain()->ok);
  EXPECT_TRUE(b_->VerifyChain()->ok);
}

TEST_F(StoreSyncTest, ABatchAppliedTwiceChangesNothingTheSecondTime) {
  RecordAtA();
  auto changes = ChangesOfA();
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  const std::string once = CanonicalDump(b_path_);
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  ASSERT_TRUE(b_->ApplyPulled(changes, 9).ok());  // same records under a later cursor
  std::string twice = CanonicalDump(b_path_);
  EXPECT_EQ(b_->PullCursor().value(), 9);
  // Only the cursor differs.
  auto strip_cursor = [](std::string dump) {
    auto at = dump.find("pull_cursor");
    return dump.substr(0, at);
  };
  EXPECT_EQ(strip_cursor(once), strip_cursor(twice));
}

TEST_F(StoreSyncTest, OwnChangesComingBackDoNoHarm) {
  RecordAtA();
  const std::string before = CanonicalDump(a_path_);
  ASSERT_TRUE(a_->ApplyPulled(ChangesOfA(), 4).ok());
  EXPECT_TRUE(a_->VerifyChain()->ok);
  EXPECT_EQ(a_->GetStatus()->pending, 4);
  EXPECT_EQ(a_->Stock()->at(0).balance, 10);
  EXPECT_NE(CanonicalDump(a_path_), before);  // the cursor moved
}

TEST_F(StoreSyncTest, AnOlderCursorIsNeverStored) {
  ASSERT_TRUE(b_->ApplyPulled({}, 10).ok());
  ASSERT_TRUE(b_->ApplyPulled({}, 3).ok());
  EXPECT_EQ(*b_->PullCursor(), 10);
}

TEST_F(StoreSyncTest, AMalformedRecordRefusesTheWholeBatch) {
  RecordAtA();
  auto changes = ChangesOfA();
  Handover bad = std::get<Handover>(changes[2].record);
  bad.quantity = 0;
  changes.push_back({changes.back().hlc, bad});
  const std::string before = CanonicalDump(b_path_);
  EXPECT_EQ(b_->ApplyPulled(changes, 5).code(), Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(b_path_), before);
}

TEST_F(StoreSyncTest, PulledMasterDataIsUpserted) {
  MasterData m = SampleMasterData();
  KitType renamed = m.kit_types[0];
  renamed.name = "Hygiene kit (2026 edition)";
  Post dumai{NewUuidV7(), "DUM", "Dumai"};
  ASSERT_TRUE(b_->ApplyPulled({{Hlc{1, 0}, renamed}, {Hlc{2, 0}, dumai}}, 2).ok());
  auto loaded = b_->LoadMasterData();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->posts.size(), 3u);
  EXPECT_EQ(loaded->kit_types[0].name, "Hygiene kit (2026 edition)");
}

TEST_F(StoreSyncTest, LaterLocalChangesOrderAfterWhatWasPulled) {
  RecordAtA();
  auto changes = ChangesOfA();
  clock_.Advance(-10'000);  // B's clock is 10 s behind A's
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  auto ben = b_->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(ben.ok());
  EXPECT_GT(ben->hlc, changes.back().hlc);
}

TEST_F(StoreSyncTest, AClockFarAheadElsewhereDoesNotDragThisOne) {
  RecordAtA();
  auto changes = ChangesOfA();
  clock_.Advance(-48 * 3'600'000);  // B is two days behind A (A's clock is wrong)
  ASSERT_TRUE(b_->ApplyPulled(changes, 4).ok());
  auto ben = b_->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(ben.ok());
  EXPECT_LT(ben->hlc, changes.back().hlc);
  EXPECT_EQ(ben->hlc.physical_ms, *clock_.now_ms);
}

TEST_F(StoreSyncTest, ServerLinkIsKeptAndNotFoundBeforeEnrolment) {
  EXPECT_EQ(a_->LoadServerLink().status().code(), Code::kNotFound);
  ASSERT_TRUE(a_->SaveServerLink({"127.0.0.1:7443", "secret-token", ""}).ok());
  auto link = a_->LoadServerLink();
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->address, "127.0.0.1:7443");
  EXPECT_EQ(link->device_token, "secret-token");
}

// The records an upload sends are read from their rows (a handover's in the same statement as
// its entry), and each is exactly the record its entry's chain hash covers.
TEST_F(StoreSyncTest, PendingFactsAreTheRecordsTheirEntriesLog) {
  RecordAtA();
  auto ben = a_->RegisterBeneficiary({"B7654322", "Dewi", "", 3});
  ASSERT_TRUE(ben.ok());
  ASSERT_TRUE(a_->RecordHandover(testing::SampleHandover(ben->id)).ok());
  auto facts = a_->PendingFacts(1000);
  auto entries = a_->PendingChanges(1000);
  ASSERT_TRUE(facts.ok()) << facts.status().ToString();
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(facts->size(), entries->size());
  int handovers = 0;
  for (size_t i = 0; i < facts->size(); ++i) {
    const ChangeEntry& e = (*entries)[i];
    auto logged = ToLoggedForm((*facts)[i].record);
    ASSERT_TRUE(logged.ok()) << logged.status().ToString();
    EXPECT_EQ(logged->entity, e.entity) << "change " << e.seq;
    EXPECT_EQ(logged->entity_id, e.entity_id) << "change " << e.seq;
    EXPECT_EQ(logged->payload, e.payload) << "change " << e.seq;
    EXPECT_EQ((*facts)[i].entry.hash, e.hash);
    handovers += e.entity == "handover";
  }
  EXPECT_EQ(handovers, 2);
}

// An upload reads batch after batch over the same vector: each fact read over another (a
// handover over a registration, a plain handover over one with a proxy and overridden
// warnings, fewer facts than the vector holds) is the fact as a fresh read gives it.
TEST_F(StoreSyncTest, PendingFactsReadOverAnEarlierBatchAreThoseOfAFreshRead) {
  RecordAtA();
  auto ben = a_->RegisterBeneficiary({"B7654322", "Dewi", "", 3});
  ASSERT_TRUE(ben.ok());
  HandoverInput proxied = testing::SampleHandover(ben->id);
  proxied.collected_by = Collector::kProxy;
  proxied.proxy_relation = "sister";
  ASSERT_TRUE(a_->RecordHandover(proxied).ok());
  HandoverInput again = testing::SampleHandover(ben->id);  // beyond the round's one kit
  again.override_reason = "second kit for a newborn";
  auto over = a_->RecordHandover(again);
  ASSERT_TRUE(over.ok()) << over.status().ToString();
  ASSERT_FALSE(over->handover.overridden_warnings.empty());
  ASSERT_TRUE(a_->RegisterBeneficiary({"B7654323", "Ayu", "", 1}).ok());

  auto fresh = a_->PendingFacts(1000);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  const size_t n = fresh->size();
  ASSERT_GE(n, 8u);
  auto same = [&](const Store::PendingFact& got, const Store::PendingFact& want) {
    EXPECT_EQ(got.entry.seq, want.entry.seq);
    EXPECT_EQ(got.entry.hlc, want.entry.hlc);
    EXPECT_EQ(got.entry.entity, want.entry.entity);
    EXPECT_EQ(got.entry.entity_id, want.entry.entity_id);
    EXPECT_EQ(got.entry.op, want.entry.op);
    EXPECT_EQ(got.entry.hash, want.entry.hash);
    EXPECT_EQ(got.entry.prev_hash, want.entry.prev_hash);
    EXPECT_TRUE(got.entry.payload.empty()) << "change " << got.entry.seq;
    auto got_form = ToLoggedForm(got.record);
    auto want_form = ToLoggedForm(want.record);
    ASSERT_TRUE(got_form.ok() && want_form.ok());
    EXPECT_EQ(got_form->payload, want_form->payload) << "change " << got.entry.seq;
  };
  // Windows of three from every start, oldest first and then newest first, into one vector:
  // each position is read over the fact just before or after.
  std::vector<Store::PendingFact> reused;
  auto read_from = [&](size_t start) {
    const int64_t after = start == 0 ? 0 : (*fresh)[start - 1].entry.seq;
    ASSERT_TRUE(a_->PendingFacts(after, 3, reused).ok());
    ASSERT_EQ(reused.size(), std::min<size_t>(3, n - start));
    for (size_t i = 0; i < reused.size(); ++i) same(reused[i], (*fresh)[start + i]);
  };
  for (size_t start = 0; start < n; ++start) read_from(start);
  for (size_t start = n; start-- > 0;) read_from(start);
}

// A handover's row gone from under its entry (a damaged file) is named, not skipped.
TEST_F(StoreSyncTest, PendingFactsOfAHandoverWithoutItsRowIsDataLoss) {
  RecordAtA();
  {
    testing::RawDb raw(a_path_);
    raw.Exec("DROP TRIGGER handovers_are_append_only_d");
    raw.Exec("DELETE FROM handovers");
  }
  auto facts = a_->PendingFacts(1000);
  EXPECT_EQ(facts.status().code(), Code::kDataLoss) << facts.status().ToString();
  EXPECT_NE(facts.status().message().find("is missing"), std::string::npos)
      << facts.status().message();
}

// An upload that keeps sending while earlier batches await their acks reads on after the last
// entry it sent, never from before the upload cursor.
TEST_F(StoreSyncTest, PendingFactsAfterAnEntryContinueFromItAndNeverBeforeTheUploadCursor) {
  RecordAtA();
  auto all = a_->PendingFacts(1000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_GE(all->size(), 4u);
  const size_t n = all->size();

  auto rest = a_->PendingFacts((*all)[1].entry.seq, 1000);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ASSERT_EQ(rest->size(), n - 2);
  for (size_t i = 0; i < rest->size(); ++i) {
    EXPECT_EQ((*rest)[i].entry.seq, (*all)[i + 2].entry.seq);
    EXPECT_EQ((*rest)[i].entry.hash, (*all)[i + 2].entry.hash);
  }
  EXPECT_EQ(rest->front().entry.prev_hash, (*all)[1].entry.hash);

  auto one = a_->PendingFacts((*all)[0].entry.seq, 1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front().entry.seq, (*all)[1].entry.seq);

  ASSERT_TRUE(a_->AcknowledgeUpload((*all)[2].entry.seq).ok());
  auto from_cursor = a_->PendingFacts(0, 1000);
  ASSERT_TRUE(from_cursor.ok());
  ASSERT_EQ(from_cursor->size(), n - 3);
  EXPECT_EQ(from_cursor->front().entry.seq, (*all)[3].entry.seq);

  const int64_t last = all->back().entry.seq;
  auto at_end = a_->PendingFacts(last, 10);
  ASSERT_TRUE(at_end.ok());
  EXPECT_TRUE(at_end->empty());
  EXPECT_EQ(a_->PendingFacts(last + 1, 10).status().code(), Code::kOutOfRange);
}

TEST_F(StoreSyncTest, UploadCursorCanBeResetToWhatTheServerHolds) {
  RecordAtA();
  ASSERT_TRUE(a_->AcknowledgeUpload(4).ok());
  EXPECT_EQ(a_->GetStatus()->pending, 0);
  ASSERT_TRUE(a_->ResetUploadCursor(2).ok());
  auto pending = a_->PendingChanges(10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].seq, 3);
  EXPECT_EQ(a_->ResetUploadCursor(5).code(), Code::kOutOfRange);
}

}  // namespace
}  // namespace kitsync::core

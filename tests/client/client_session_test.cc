// SyncSession against an in-memory server that loses, duplicates and refuses on cue. Everything
// is checked in the tablet's database and the server's log: nothing lost, nothing re-sent once
// acknowledged.
#include "kitsync/sync/client_session.h"

#include <gtest/gtest.h>

#include "kitsync/sync/client_failure.h"
#include "tablet_fixture.h"

namespace kitsync::testing {
namespace {

using sync::SessionOptions;
using sync::SyncReport;
using sync::SyncSession;

constexpr int kChanges = 250;

SessionOptions SmallBatches() {
  SessionOptions options;
  options.batch_size = 20;  // 13 batches for kChanges
  options.pull_batch_size = 25;
  return options;
}

class SessionTest : public TabletTest {
 protected:
  SyncReport RunPass(SessionOptions options = SmallBatches()) {
    SyncSession session(*tablet_, *transport_, options);
    return session.Run();
  }

  // Every change of the tablet arrived at the server exactly once.
  void ExpectEachSentOnce(int64_t n) {
    transport_->WithServer([&](FakeServer& s) {
      ASSERT_EQ(s.acked_seq(), n);
      ASSERT_EQ(static_cast<int64_t>(s.receipts().size()), n);
      for (const auto& [seq, times] : s.receipts()) EXPECT_EQ(times, 1) << "change " << seq;
    });
  }

  void ExpectAllAcked(int64_t n) {
    const core::TabletStatus local = LocalStatus();
    EXPECT_EQ(local.last_seq, n);
    EXPECT_EQ(local.acked_seq, n);
    EXPECT_EQ(local.pending, 0);
  }
};

TEST_F(SessionTest, PushesEveryChangeOnceAndPullsTheFeed) {
  RegisterMany(*tablet_, "ENT", kChanges);
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "ENT-B", 30);
  FeedMasterData(*server_);
  FeedFrom(*other, *server_);

  std::vector<sync::SyncProgress> progress;
  SyncSession session(*tablet_, *transport_, SmallBatches());
  session.OnProgress([&](const sync::SyncProgress& p) { progress.push_back(p); });
  const SyncReport report = session.Run();

  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_EQ(report.pushed, kChanges);
  EXPECT_EQ(report.pending, 0);
  ExpectEachSentOnce(kChanges);
  ExpectAllAcked(kChanges);
  // The feed: 8 master records, the other tablet's 30, and this tablet's own coming back.
  EXPECT_EQ(report.pulled, 8 + 30 + kChanges);
  EXPECT_EQ(PullCursor(), 8 + 30 + kChanges);
  EXPECT_TRUE(tablet_->FindBeneficiaryByDocument("ENT-B-29").ok());
  // The 13 batches of 20 changes on one stream.
  EXPECT_EQ(transport_->push_sizes(), (std::vector<size_t>{13}));
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().pending, kChanges);
  EXPECT_EQ(progress.back().phase, sync::SyncPhase::kDone);
  EXPECT_EQ(progress.back().pushed, kChanges);
  for (size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i].pushed, progress[i - 1].pushed);
    EXPECT_LE(progress[i].pending, progress[i - 1].pending);
  }
}

// Batches that arrive while the tablet applies are applied together, in one transaction: the
// progress reports (one per commit) jump by several batches at a time.
TEST_F(SessionTest, PulledBatchesAlreadyWaitingAreAppliedTogether) {
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "ENT-B", 92);
  FeedMasterData(*server_);
  FeedFrom(*other, *server_);  // 8 + 92 changes: four batches of 25
  transport_->SetFaults({.pull_batches_waiting = true});

  std::vector<int64_t> pulled;
  SyncSession session(*tablet_, *transport_, SmallBatches());
  session.OnProgress([&](const sync::SyncProgress& p) {
    if (p.phase == sync::SyncPhase::kPull) pulled.push_back(p.pulled);
  });
  const SyncReport report = session.Run();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_EQ(report.pulled, 100);
  EXPECT_EQ(PullCursor(), 100);
  EXPECT_TRUE(tablet_->FindBeneficiaryByDocument("ENT-B-91").ok());
  // Before the pull, then once for all four batches.
  EXPECT_EQ(pulled, (std::vector<int64_t>{0, 100}));
}

// A link cut after batches were received but before they were applied loses none of them:
// they are whole and in order, so they are applied, with their cursor, before the error is
// reported, and the next pass starts after them.
TEST_F(SessionTest, PulledBatchesReceivedBeforeACutAreApplied) {
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "ENT-B", 92);
  FeedMasterData(*server_);
  FeedFrom(*other, *server_);
  transport_->SetFaults({.cut_pull_after_batches = 2, .pull_batches_waiting = true});

  const SyncReport cut = RunPass();
  EXPECT_EQ(cut.status.code(), core::Code::kUnavailable) << cut.status.ToString();
  EXPECT_EQ(cut.pulled, 50);
  EXPECT_EQ(PullCursor(), 50);

  const SyncReport rest = RunPass();
  ASSERT_TRUE(rest.status.ok()) << rest.status.ToString();
  EXPECT_EQ(rest.pulled, 50);
  EXPECT_EQ(PullCursor(), 100);
}

TEST_F(SessionTest, LostAckAfterCommitIsNotSentAgain) {
  RegisterMany(*tablet_, "ENT", kChanges);
  transport_->SetFaults({.lose_ack_after_commit = 5});

  SyncReport first = RunPass();
  EXPECT_EQ(first.status.code(), core::Code::kUnavailable) << first.status.ToString();
  EXPECT_EQ(sync::ClassifyFailure(first.status), sync::SyncFailure::kOutcomeUnknown);
  // Batches 1-4 were heard; batch 5 is on the server but the tablet does not know it yet.
  EXPECT_EQ(LocalStatus().acked_seq, 80);
  EXPECT_EQ(transport_->WithServer([](FakeServer& s) { return s.acked_seq(); }), 100);

  SyncReport second = RunPass();
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.pushed, kChanges - 80);
  ExpectEachSentOnce(kChanges);
  ExpectAllAcked(kChanges);
}

// An ack's cursor is committed without waiting for the disk (Store::AcknowledgeUpload), so a
// power cut can take it back to an earlier ack; the next pass lines up with the server first.
TEST_F(SessionTest, AnUploadCursorTakenBackByAPowerCutIsNotSentAgain) {
  RegisterMany(*tablet_, "ENT", kChanges);
  ASSERT_TRUE(RunPass().status.ok());
  // What a power cut just after the ack of change 80 would leave on disk.
  RawDb(db_path_).Exec("UPDATE meta SET value = '80' WHERE key = 'acked_seq'");
  ASSERT_EQ(LocalStatus().acked_seq, 80);
  RegisterMany(*tablet_, "LATER", 10);

  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  ExpectEachSentOnce(kChanges + 10);
  ExpectAllAcked(kChanges + 10);
}

// A server from before Handover.proof_digest would read an empty proof reference: the tablet
// sends a digest as bytes only to a server whose status names the feature.
TEST_F(SessionTest, ProofDigestsGoAsBytesOnlyToAServerThatReadsThem) {
  auto record = [&](const std::string& doc) {
    core::BeneficiaryInput b;
    b.doc_number = doc;
    b.full_name = "Beneficiary " + doc;
    b.household_size = 2;
    auto registered = tablet_->RegisterBeneficiary(b);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
    core::HandoverInput h = SampleHandover(registered->id);
    h.proof.ref = "5f1d0c9a8b7e6d5c4b3a29180f1e2d3c4b5a69788796a5b4c3d2e1f00112233e";
    auto recorded = tablet_->RecordHandover(h);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  };
  auto digests = [&] {
    return transport_->WithServer([](FakeServer& s) { return s.proof_digests_received(); });
  };
  core::MovementInput receipt;
  receipt.kind = core::MovementKind::kReceipt;
  receipt.kit_type_code = "HYG-KIT";
  receipt.quantity = 10;
  receipt.reference = "WB-1";
  receipt.officer_code = "ENT-OF-1";
  ASSERT_TRUE(tablet_->RecordMovement(receipt).ok());
  record("DIGEST-1");
  SyncReport before = RunPass();
  ASSERT_TRUE(before.status.ok()) << before.status.ToString();
  EXPECT_EQ(digests(), 0);

  transport_->WithServer([](FakeServer& s) {
    s.ReadProofDigests();
    return 0;
  });
  record("DIGEST-2");
  SyncReport after = RunPass();
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(digests(), 1);
  ExpectEachSentOnce(LocalStatus().last_seq);
  ExpectAllAcked(LocalStatus().last_seq);
}

TEST_F(SessionTest, LinkDropMidPushResumesAfterTheLastAck) {
  RegisterMany(*tablet_, "ENT", kChanges);
  transport_->SetFaults({.lose_batch = 8});

  SyncReport first = RunPass();
  EXPECT_EQ(first.status.code(), core::Code::kUnavailable);
  EXPECT_EQ(first.pushed, 140);
  EXPECT_EQ(first.pending, kChanges - 140);
  EXPECT_EQ(LocalStatus().acked_seq, 140);

  // A new connection, as the next run of the CLI would open.
  tablet_ = OpenAgain();
  SyncReport second = RunPass();
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  ExpectEachSentOnce(kChanges);
  ExpectAllAcked(kChanges);
}

TEST_F(SessionTest, DuplicateAcksCountOnce) {
  RegisterMany(*tablet_, "ENT", kChanges);
  transport_->SetFaults({.duplicate_acks = true});
  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_EQ(report.pushed, kChanges);
  ExpectEachSentOnce(kChanges);
  ExpectAllAcked(kChanges);
}

TEST_F(SessionTest, GapRefusalRereadsServerStatusAndResumes) {
  RegisterMany(*tablet_, "ENT", kChanges);
  transport_->SetFaults({.gap_at_batch = 4});
  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  ExpectEachSentOnce(kChanges);
  ExpectAllAcked(kChanges);
  // Status at the start, and again after the refusal.
  EXPECT_EQ(transport_->calls(), 1 + static_cast<int>(transport_->push_sizes().size()) + 1 + 1);
}

TEST_F(SessionTest, ServerRestoredDuringPushGetsTheLostChangesAgain) {
  RegisterMany(*tablet_, "ENT", kChanges);
  transport_->SetFaults({.restore_before_batch = 7, .restore_to = 50});
  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_TRUE(report.server_restored);
  ExpectAllAcked(kChanges);
  transport_->WithServer([](FakeServer& s) {
    EXPECT_EQ(s.acked_seq(), kChanges);
    // What the restore lost (51..120) was sent again, and so was the batch the restored server
    // refused (121..140, never acknowledged); nothing else was.
    for (const auto& [seq, times] : s.receipts()) {
      EXPECT_EQ(times, seq > 50 && seq <= 140 ? 2 : 1) << "change " << seq;
    }
    return 0;
  });
}

TEST_F(SessionTest, ServerRestoredBetweenPassesResetsTheUploadCursor) {
  RegisterMany(*tablet_, "ENT", 60);
  ASSERT_TRUE(RunPass().status.ok());
  transport_->WithServer([](FakeServer& s) {
    s.RestoreTo(25);
    return 0;
  });
  RegisterMany(*tablet_, "LATER", 10);

  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_TRUE(report.server_restored);
  EXPECT_EQ(transport_->WithServer([](FakeServer& s) { return s.acked_seq(); }), 70);
  ExpectAllAcked(70);
}

TEST_F(SessionTest, ServerHoldingMoreThanTheTabletEverMadeIsRefused) {
  RegisterMany(*tablet_, "ENT", 30);
  transport_->WithServer([](FakeServer& s) {
    s.ClaimAckedSeq(500);
    return 0;
  });
  SyncReport report = RunPass();
  EXPECT_EQ(report.status.code(), core::Code::kFailedPrecondition) << report.status.ToString();
  EXPECT_NE(report.status.message().find("older than the server's copy"), std::string::npos);
  EXPECT_EQ(LocalStatus().acked_seq, 0);
  EXPECT_TRUE(transport_->WithServer([](FakeServer& s) { return s.receipts().empty(); }));
}

TEST_F(SessionTest, ServerWithAnotherChainIsNotBelieved) {
  RegisterMany(*tablet_, "ENT", 30);
  // The server claims this tablet's first 20 changes, but its chain ends in another hash.
  auto entries = tablet_->PendingChanges(20);
  ASSERT_TRUE(entries.ok());
  entries->back().hash[0] = static_cast<char>(entries->back().hash[0] ^ 1);
  transport_->WithServer([&](FakeServer& s) {
    s.ReplaceLog(*entries);
    return 0;
  });
  SyncReport report = RunPass();
  EXPECT_EQ(report.status.code(), core::Code::kFailedPrecondition) << report.status.ToString();
  EXPECT_NE(report.status.message().find("differs"), std::string::npos);
  EXPECT_EQ(LocalStatus().acked_seq, 0);
  EXPECT_EQ(transport_->push_calls(), 0);
}

TEST_F(SessionTest, CutDownloadKeepsAppliedBatchesAndResumes) {
  FeedMasterData(*server_);
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "ENT-B", 92);
  FeedFrom(*other, *server_);  // 100 changes in the feed: 4 batches of 25
  transport_->SetFaults({.cut_pull_after_batches = 2, .duplicate_pull_batches = true});

  SyncReport first = RunPass();
  EXPECT_EQ(first.status.code(), core::Code::kUnavailable);
  EXPECT_EQ(first.pulled, 50);
  EXPECT_EQ(PullCursor(), 50);

  SyncReport second = RunPass();
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.pulled, 50);
  EXPECT_EQ(PullCursor(), 100);
  EXPECT_TRUE(tablet_->FindBeneficiaryByDocument("ENT-B-91").ok());
}

TEST_F(SessionTest, FeedBehindTheTabletIsReportedNotIgnored) {
  FeedMasterData(*server_);
  ASSERT_TRUE(RunPass().status.ok());
  ASSERT_EQ(PullCursor(), 8);
  transport_->WithServer([](FakeServer& s) { s.RestoreFeedTo(3); });
  RegisterMany(*tablet_, "ENT", 5);

  SyncReport report = RunPass();
  EXPECT_EQ(report.status.code(), core::Code::kFailedPrecondition) << report.status.ToString();
  EXPECT_NE(report.status.message().find("pull cursor"), std::string::npos);
  // The push still went through; only receiving is held up.
  EXPECT_EQ(report.pushed, 5);
  EXPECT_EQ(LocalStatus().acked_seq, 5);
  EXPECT_EQ(PullCursor(), 8);
}

// The server restored from a copy taken when its feed held 20 entries, after this tablet had
// pulled 38: the restored feed grows again with other entries. The tablet goes back to the
// copy's head and receives every one of them, though its old cursor is within the new feed.
TEST_F(SessionTest, FeedOfANewEpochIsReceivedAgainFromWhereTheEpochsAgree) {
  transport_->WithServer([](FakeServer& s) { s.UseFeedEpoch("epoch-1"); });
  FeedMasterData(*server_);
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "OTHER", 30);
  FeedFrom(*other, *server_);
  ASSERT_TRUE(RunPass().status.ok());
  ASSERT_EQ(PullCursor(), 38);
  EXPECT_EQ(*tablet_->PullEpoch(), "epoch-1");

  transport_->WithServer([](FakeServer& s) { s.RestoreFeedAsEpoch(20, "epoch-2"); });
  auto third = MakeTablet(dir_.File("third.db"));
  RegisterMany(*third, "THIRD", 25);
  FeedFrom(*third, *server_);  // entries 21..45 of the new epoch

  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_TRUE(report.server_restored);
  EXPECT_EQ(report.pulled, 25);
  EXPECT_EQ(PullCursor(), 45);
  EXPECT_EQ(*tablet_->PullEpoch(), "epoch-2");
  for (int i = 0; i < 25; ++i) {
    const std::string doc = "THIRD-" + std::to_string(i);
    EXPECT_TRUE(tablet_->FindBeneficiaryByDocument(doc).ok()) << doc << " was skipped";
  }
  // Lined up: the next pass neither goes back nor receives anything again.
  SyncReport next = RunPass();
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_FALSE(next.server_restored);
  EXPECT_EQ(next.pulled, 0);
}

// A tablet that pulled from a server from before epochs holds a cursor of the server's first
// epoch: upgraded and restored since, the server's feed agrees with it up to the restore.
TEST_F(SessionTest, ACursorFromBeforeEpochsGoesBackAsOneOfTheFirstEpoch) {
  FeedMasterData(*server_);
  auto other = MakeTablet(dir_.File("other.db"));
  RegisterMany(*other, "OTHER", 30);
  FeedFrom(*other, *server_);
  ASSERT_TRUE(RunPass().status.ok());
  ASSERT_EQ(PullCursor(), 38);
  EXPECT_EQ(*tablet_->PullEpoch(), "");  // the server reported none

  transport_->WithServer([](FakeServer& s) {
    s.UseFeedEpoch("epoch-1");
    s.RestoreFeedAsEpoch(20, "epoch-2");
  });
  auto third = MakeTablet(dir_.File("third.db"));
  RegisterMany(*third, "THIRD", 25);
  FeedFrom(*third, *server_);

  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_TRUE(report.server_restored);
  EXPECT_EQ(report.pulled, 25);
  EXPECT_EQ(PullCursor(), 45);
  EXPECT_EQ(*tablet_->PullEpoch(), "epoch-2");
}

// A tablet that never pulled has nothing to take back: it records the epoch and pulls it all.
TEST_F(SessionTest, ATabletThatNeverPulledRecordsTheEpochAndPullsEverything) {
  transport_->WithServer([](FakeServer& s) {
    s.UseFeedEpoch("epoch-1");
    s.RestoreFeedAsEpoch(0, "epoch-2");
  });
  FeedMasterData(*server_);
  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_FALSE(report.server_restored);
  EXPECT_EQ(report.pulled, 8);
  EXPECT_EQ(PullCursor(), 8);
  EXPECT_EQ(*tablet_->PullEpoch(), "epoch-2");
}

TEST_F(SessionTest, RevokedCredentialEndsThePassBeforeSendingAnything) {
  RegisterMany(*tablet_, "ENT", 10);
  transport_->SetFaults({.unauthenticated = true});
  SyncReport report = RunPass();
  EXPECT_EQ(sync::ClassifyFailure(report.status), sync::SyncFailure::kEnrolment);
  EXPECT_EQ(report.pending, 10);
  EXPECT_EQ(transport_->push_calls(), 0);
  EXPECT_EQ(LocalStatus().acked_seq, 0);
}

TEST_F(SessionTest, RefusedBatchStillLetsTheFeedArrive) {
  RegisterMany(*tablet_, "ENT", 50);
  FeedMasterData(*server_);
  transport_->SetFaults({.refuse_batch = 2});
  SyncReport report = RunPass();
  EXPECT_EQ(report.status.code(), core::Code::kInvalidArgument) << report.status.ToString();
  EXPECT_EQ(LocalStatus().acked_seq, 20);
  EXPECT_EQ(report.pulled, 8 + 20);  // master data, and the 20 this tablet's post now holds
}

TEST_F(SessionTest, StopEndsThePassAndKeepsWhatWasAcknowledged) {
  RegisterMany(*tablet_, "ENT", kChanges);
  std::atomic<bool> stop{false};
  SessionOptions options = SmallBatches();
  options.stop = &stop;
  SyncSession session(*tablet_, *transport_, options);
  session.OnProgress([&](const sync::SyncProgress& p) {
    if (p.pushed >= 60) stop = true;
  });
  SyncReport report = session.Run();
  EXPECT_EQ(report.status.code(), core::Code::kCancelled);
  EXPECT_EQ(LocalStatus().acked_seq, 60);
  EXPECT_EQ(transport_->WithServer([](FakeServer& s) { return s.acked_seq(); }), 60);
}

TEST_F(SessionTest, NothingToDoIsASuccess) {
  SyncReport report = RunPass();
  ASSERT_TRUE(report.status.ok()) << report.status.ToString();
  EXPECT_EQ(report.pushed, 0);
  EXPECT_EQ(report.pulled, 0);
  EXPECT_EQ(transport_->push_calls(), 0);
}

}  // namespace
}  // namespace kitsync::testing

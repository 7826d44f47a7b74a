// Conflicts through the real push path: detected beside the facts (never refusing a batch),
// listed for an admin with every side, resolved, and the resolution reaching the tablets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "kitsync/core/conflicts.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

class ServerConflictsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.LoadMasterData();
    ent_ = server_.EnrolTablet("ENT", "ENT tablet");
    nun_ = server_.EnrolTablet("NUN", "NUN tablet");
    ASSERT_NE(ent_.store, nullptr);
    ASSERT_NE(nun_.store, nullptr);
  }

  // One hygiene kit of round HYG-R1 for `beneficiary_id`, signed for at ENT.
  static core::HandoverInput HygieneKitAtEnt(const std::string& beneficiary_id) {
    core::HandoverInput kit;
    kit.round_code = "HYG-R1";
    kit.beneficiary_id = beneficiary_id;
    kit.kit_type_code = "HYG-KIT";
    kit.officer_code = "ENT-OF-1";
    kit.proof = {core::ProofKind::kSignature, "sha256:5f1d0c"};
    kit.consent = true;
    return kit;
  }

  // A family registered at ENT now, and a hygiene kit for it (not yet recorded).
  core::HandoverInput KitForNewFamilyAtEnt(const std::string& doc_number) {
    auto family = ent_.store->RegisterBeneficiary({doc_number, "Beneficiary " + doc_number, "", 4});
    EXPECT_TRUE(family.ok()) << family.status().ToString();
    return HygieneKitAtEnt(family.ok() ? family->id : "");
  }

  // The second kit of `kit`'s round, past the tablet's warning, recorded at ENT.
  void RecordSecondKit(core::HandoverInput kit) {
    kit.override_reason = "second kit agreed by phone with the round lead";
    ASSERT_TRUE(ent_.store->RecordHandover(kit).ok());
  }

  // One open entitlement conflict, of two handovers.
  void ExpectOneFamilyServedTwice() {
    const auto open = List("entitlement-exceeded", "open");
    ASSERT_EQ(open.size(), 1u);
    EXPECT_EQ(open[0].sides_size(), 2);
  }

  // Pushes everything the tablet has not had acknowledged; the push must succeed.
  void Push(Tablet& t) { PushUntilDrained(server_, t); }

  std::vector<v1::Conflict> List(const std::string& kind = "", const std::string& status = "") {
    v1::ListConflictsRequest r;
    r.set_kind(kind);
    r.set_status(status);
    auto out = server_.logic().ListConflicts(server_.admin_token(), r);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    if (!out.ok()) return {};
    return {out->conflicts().begin(), out->conflicts().end()};
  }

  core::Result<v1::ResolveConflictResponse> Resolve(const std::string& id,
                                                    const std::string& action,
                                                    const std::string& note,
                                                    const std::string& handover = "",
                                                    int64_t quantity = 0) {
    v1::ResolveConflictRequest r;
    r.set_id(id);
    r.set_action(action);
    r.set_actor("Siti (central office)");
    r.set_note(note);
    r.set_handover_id(handover);
    r.set_quantity(quantity);
    r.set_officer_code("HQ-OF-1");
    r.set_reference("WB-LATE");
    return server_.logic().ResolveConflict(server_.admin_token(), r);
  }

  // The stored conflicts must be what the facts say, looked at from scratch: every situation
  // that holds is stored, open with the same sides or resolved by an admin, and nothing else is
  // open.
  void ExpectStoredEqualsRecomputed() {
    auto recomputed = server_.store().RecomputeConflicts();
    ASSERT_TRUE(recomputed.ok()) << recomputed.status().ToString();
    auto stored = server_.store().ListConflicts({});
    ASSERT_TRUE(stored.ok());
    std::map<std::string, const sync::ConflictRecord*> by_key;
    for (const sync::ConflictRecord& r : *stored) by_key[r.conflict.key] = &r;
    std::set<std::string> holding;
    for (const core::DetectedConflict& c : *recomputed) {
      holding.insert(c.key);
      auto it = by_key.find(c.key);
      ASSERT_NE(it, by_key.end()) << "not stored: " << c.key;
      if (it->second->status == core::ConflictStatus::kOpen) {
        EXPECT_EQ(it->second->conflict, c) << c.key;
      } else {
        EXPECT_EQ(it->second->status, core::ConflictStatus::kResolved) << c.key;
      }
    }
    for (const sync::ConflictRecord& r : *stored) {
      if (r.status == core::ConflictStatus::kOpen) {
        EXPECT_TRUE(holding.count(r.conflict.key)) << "open but no longer holds: " << r.conflict.key;
      }
    }
  }

  int64_t Count(const std::string& sql) { return RawDb(server_.db_path()).QueryInt(sql); }

  // A PPE-SET handover past the tablet's warnings (it holds no PPE stock).
  std::string HandOverPpe(Tablet& t, const std::string& doc_number, int64_t quantity) {
    auto b = t.store->RegisterBeneficiary({doc_number, "Person " + doc_number, "", 2});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok()) return "";
    core::HandoverInput h;
    h.round_code = "PPE-R1";
    h.beneficiary_id = b->id;
    h.kit_type_code = "PPE-SET";
    h.quantity = quantity;
    h.officer_code = t.post_code + "-OF-1";
    h.consent = true;
    h.override_reason = "shipment arrived without its waybill entry";
    auto r = t.store->RecordHandover(h);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->handover.id : "";
  }

  TestServer server_;
  Tablet ent_;
  Tablet nun_;
};

TEST_F(ServerConflictsTest, FamilyServedAtTwoPostsIsRecordedBesideTheFactsNotRefused) {
  const std::string at_ent = RecordHandover(ent_, "P1234567");
  const std::string at_nun = RecordHandover(nun_, "P1234567");
  ASSERT_NO_FATAL_FAILURE(Push(nun_));  // the later-recorded one arrives first
  ASSERT_NO_FATAL_FAILURE(Push(ent_));
  EXPECT_EQ(Count("SELECT count(*) FROM handovers"), 2);  // both kits left; both stand

  auto ent_conflicts = List("entitlement-exceeded");
  ASSERT_EQ(ent_conflicts.size(), 1u);
  const v1::Conflict& c = ent_conflicts[0];
  EXPECT_EQ(c.status(), "open");
  EXPECT_EQ(c.severity(), "high");
  ASSERT_EQ(c.sides_size(), 2);
  EXPECT_EQ(c.sides(0).entity_id(), at_ent);  // ordered by clock, not by arrival
  EXPECT_EQ(c.sides(0).post_code(), "ENT");
  EXPECT_EQ(c.sides(1).entity_id(), at_nun);
  EXPECT_EQ(c.sides(1).post_code(), "NUN");
  EXPECT_THAT(c.post_codes(), ::testing::ElementsAre("ENT", "NUN"));

  // The same document registered at both posts is its own conflict.
  auto dup = List("duplicate-beneficiary");
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_EQ(dup[0].sides_size(), 2);
  ExpectStoredEqualsRecomputed();

  // A retried batch changes nothing, conflicts included.
  const int64_t updated = c.updated_wall_ms();
  server_.clock().Advance(60'000);
  ASSERT_TRUE(ent_.store->ResetUploadCursor(0).ok());
  ASSERT_NO_FATAL_FAILURE(Push(ent_));
  EXPECT_EQ(List("entitlement-exceeded")[0].updated_wall_ms(), updated);
  EXPECT_EQ(Count("SELECT count(*) FROM conflicts"), 2);
}

TEST_F(ServerConflictsTest, VoidingOneHandoverResolvesItAndTheTabletLearnsTheVoid) {
  RecordHandover(ent_, "P1234567");
  const std::string at_nun = RecordHandover(nun_, "P1234567");
  Push(ent_);
  Push(nun_);
  const std::string id = List("entitlement-exceeded").at(0).id();
  const int64_t feed_before = Count("SELECT count(*) FROM feed");

  // A void needs a reason, and the handover must be one of the conflict's.
  auto no_reason = Resolve(id, "void", "", at_nun);
  EXPECT_EQ(no_reason.status().code(), core::Code::kInvalidArgument);
  auto stranger = Resolve(id, "void", "served twice", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f");
  EXPECT_EQ(stranger.status().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(stranger.status().message(), HasSubstr("not one of this conflict's handovers"));
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), feed_before);  // nothing applied

  auto voided = Resolve(id, "void", "served twice: Nunukan kit to be returned", at_nun);
  ASSERT_TRUE(voided.ok()) << voided.status().ToString();
  EXPECT_EQ(voided->conflict().status(), "resolved");
  EXPECT_EQ(voided->conflict().resolved_by(), "Siti (central office)");
  // The void on NUN's channel, the family's new total at NUN for every tablet, and the decision
  // on the channels of both posts concerned.
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), feed_before + 4);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE entity = 'conflict_resolution'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel LIKE 'served:%' AND server_seq > " +
                  std::to_string(feed_before)),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM handover_voids WHERE handover_id = '" + at_nun + "'"), 1);

  // NUN's tablet learns the void on its next pull; ENT's holds nothing of NUN's.
  ASSERT_GT(PullAll(server_.logic(), nun_), 0);
  core::HandoverFilter all;
  auto listed = nun_.store->ListHandovers(all);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE((*listed)[0].void_record.has_value());
  EXPECT_EQ((*listed)[0].void_record->reason, "served twice: Nunukan kit to be returned");

  // A second decision on a settled conflict is refused.
  auto again = Resolve(id, "justify", "changed my mind");
  EXPECT_EQ(again.status().code(), core::Code::kFailedPrecondition);
  ExpectStoredEqualsRecomputed();

  // The decision is in the audit log with who made it.
  v1::ListAuditRequest audit_request;
  auto audit = server_.logic().ListAudit(server_.admin_token(), audit_request);
  ASSERT_TRUE(audit.ok());
  bool found = false;
  for (const v1::AuditEntry& e : audit->entries()) {
    if (e.action() == "resolve-conflict" && e.target() == id) {
      found = true;
      EXPECT_EQ(e.actor(), "Siti (central office)");
      EXPECT_THAT(e.detail(), HasSubstr("action=void"));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_THROW(RawDb(server_.db_path()).Exec("DELETE FROM audit_log"), std::exception);
}

TEST_F(ServerConflictsTest, AJustifiedConflictReopensWhenAnotherHandoverJoinsIt) {
  RecordHandover(ent_, "P1234567");
  RecordHandover(nun_, "P1234567");
  Push(ent_);
  Push(nun_);
  const std::string id = List("entitlement-exceeded").at(0).id();
  EXPECT_EQ(Resolve(id, "justify", "").status().code(), core::Code::kInvalidArgument);
  auto justified = Resolve(id, "justify", "household of 9: two kits agreed with the round lead");
  ASSERT_TRUE(justified.ok()) << justified.status().ToString();
  EXPECT_EQ(justified->conflict().status(), "resolved");
  EXPECT_EQ(justified->record_ids_size(), 0);

  // Both posts' tablets learn the decision, naming the handovers it covered.
  for (Tablet* t : {&ent_, &nun_}) {
    ASSERT_GT(PullAll(server_.logic(), *t), 0);
    auto decisions = t->store->ListResolutions();
    ASSERT_TRUE(decisions.ok()) << decisions.status().ToString();
    ASSERT_EQ(decisions->size(), 1u) << t->post_code;
    const core::ConflictResolution& d = decisions->front();
    EXPECT_EQ(d.conflict_id, id);
    EXPECT_EQ(d.action, "justify");
    EXPECT_EQ(d.decided_by, "Siti (central office)");
    EXPECT_EQ(d.note, "household of 9: two kits agreed with the round lead");
    EXPECT_EQ(d.subject_ids.size(), 2u);
  }

  // A third kit, at a third tablet, was never part of that decision.
  Tablet ent2 = server_.EnrolTablet("ENT", "ENT tablet 2");
  RecordHandover(ent2, "P1234567");
  Push(ent2);
  auto now = List("entitlement-exceeded");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].id(), id);
  EXPECT_EQ(now[0].status(), "open");
  EXPECT_EQ(now[0].sides_size(), 3);
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerConflictsTest, StockDeficitShowsTheNegativeBalanceAndAReceiptSettlesIt) {
  HandOverPpe(ent_, "D-1001", 2);
  HandOverPpe(ent_, "D-1002", 1);
  Push(ent_);
  // The running sum the pushes keep for stock checks is the handovers' own.
  EXPECT_EQ(Count("SELECT quantity FROM handover_totals h JOIN kit_types k "
                  "ON k.id = h.kit_type_id WHERE k.code = 'PPE-SET'"),
            3);
  EXPECT_EQ(Count("SELECT sum(quantity) FROM handover_totals"),
            Count("SELECT sum(quantity) FROM handovers"));
  auto deficits = List("stock-deficit");
  ASSERT_EQ(deficits.size(), 1u);
  const std::string id = deficits[0].id();
  ASSERT_EQ(deficits[0].sides_size(), 1);
  EXPECT_EQ(deficits[0].sides(0).quantity(), -3);
  EXPECT_EQ(deficits[0].sides(0).entity_id(), "ENT/PPE-SET");
  EXPECT_THAT(deficits[0].provisional(), HasSubstr("-3"));

  // A receipt of 2 is not enough: the decision stands for -3, the situation reopens at -1.
  auto partial = Resolve(id, "receipt", "late waybill", "", 2);
  ASSERT_TRUE(partial.ok()) << partial.status().ToString();
  EXPECT_EQ(partial->conflict().status(), "open");
  EXPECT_EQ(partial->conflict().sides(0).quantity(), -1);
  ASSERT_EQ(partial->record_ids_size(), 1);

  auto rest = Resolve(id, "receipt", "second part of the waybill", "", 1);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(rest->conflict().status(), "resolved");
  ExpectStoredEqualsRecomputed();

  // The receipts reach the post's tablet, whose stock now balances.
  ASSERT_GT(PullAll(server_.logic(), ent_), 0);
  auto stock = ent_.store->Stock();
  ASSERT_TRUE(stock.ok());
  bool seen = false;
  for (const core::StockLine& line : *stock) {
    if (line.kit_type_code != "PPE-SET") continue;
    seen = true;
    EXPECT_EQ(line.received, 3);
    EXPECT_EQ(line.balance, 0);
  }
  EXPECT_TRUE(seen);
}

// The quantities each post's served channel has carried, in feed order: each entry groups a
// transaction's totals by round and kit type.
std::vector<int64_t> SentTotals(const std::string& db_path, const std::string& post_id) {
  const std::string text = RawDb(db_path).QueryText(
      "SELECT coalesce(group_concat(qty, ','), '') FROM (SELECT json_extract(t.value, '$[1]') "
      "AS qty FROM feed f, json_each(CAST(f.payload AS TEXT), '$.groups') g, "
      "json_each(g.value, '$.totals') t WHERE f.channel = 'served:" + post_id +
      "' AND f.entity = 'served_summaries' ORDER BY f.server_seq, g.key, t.key)");
  std::vector<int64_t> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(std::stoll(text.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

TEST_F(ServerConflictsTest, APostsTotalForAFamilyIsSentOnceEachTimeItChanges) {
  auto family = ent_.store->RegisterBeneficiary({"P1234567", "Beneficiary P1234567", "", 3});
  ASSERT_TRUE(family.ok()) << family.status().ToString();
  core::HandoverInput kit = HygieneKitAtEnt(family->id);
  auto first = ent_.store->RecordHandover(kit);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Push(ent_);
  EXPECT_EQ(SentTotals(server_.db_path(), ent_.post_id), (std::vector<int64_t>{1}));

  // A second kit voided before the push: the batch leaves ENT's total as it was, so nothing new
  // is sent, though the family's situation was looked at again.
  kit.override_reason = "the first kit was damaged";
  auto second = ent_.store->RecordHandover(kit);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(
      ent_.store->VoidHandover({second->handover.id, "recorded twice", "ENT-OF-1"}).ok());
  Push(ent_);
  EXPECT_EQ(SentTotals(server_.db_path(), ent_.post_id), (std::vector<int64_t>{1}));

  // Voiding the first kit changes the total, in a batch of its own.
  ASSERT_TRUE(ent_.store->VoidHandover({first->handover.id, "wrong family", "ENT-OF-1"}).ok());
  Push(ent_);
  EXPECT_EQ(SentTotals(server_.db_path(), ent_.post_id), (std::vector<int64_t>{1, 0}));

  // The family served at NUN: NUN's total goes out, ENT's did not change.
  RecordHandover(nun_, "P1234567");
  Push(nun_);
  EXPECT_EQ(SentTotals(server_.db_path(), ent_.post_id), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(SentTotals(server_.db_path(), nun_.post_id), (std::vector<int64_t>{1}));

  // A database from a server that kept a table of the summaries it sent (schema steps 4 to 7)
  // is upgraded and every situation looked at again: nothing was left unsent, so nothing goes
  // out again.
  const int64_t feed = Count("SELECT count(*) FROM feed");
  {
    RawDb db(server_.db_path());
    db.Exec("CREATE TABLE served_summaries (doc_hash TEXT NOT NULL, round_id TEXT NOT NULL, "
            "kit_type_id TEXT NOT NULL, post_id TEXT NOT NULL, quantity INTEGER NOT NULL, "
            "server_seq INTEGER NOT NULL REFERENCES feed (server_seq), "
            "PRIMARY KEY (doc_hash, round_id, kit_type_id, post_id)) WITHOUT ROWID");
    db.Exec("CREATE INDEX handovers_by_post_kit ON handovers (post_id, kit_type_id, quantity)");
    db.Exec("DROP TABLE feed_epochs");  // schema step 9, after
    db.Exec("PRAGMA user_version = 7");
  }
  server_.Reopen();
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), feed);
  EXPECT_EQ(Count("SELECT count(*) FROM sqlite_schema WHERE name = 'served_summaries'"), 0);
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerConflictsTest, TwoKitsToANewFamilyInOneBatchAreAConflictFromThatBatch) {
  const core::HandoverInput kit = KitForNewFamilyAtEnt("P5550001");
  ASSERT_TRUE(ent_.store->RecordHandover(kit).ok());
  RecordSecondKit(kit);
  // The registration and both kits in one batch: the server held nothing of the family before.
  Push(ent_);
  ExpectOneFamilyServedTwice();
  EXPECT_EQ(SentTotals(server_.db_path(), ent_.post_id), (std::vector<int64_t>{2}));
  ExpectStoredEqualsRecomputed();
}

// The server knows which families' situations already hold a handover without reading each
// family back (docs/server.md, "First kits"); what it knows must cover the handovers it held
// before a restart...
TEST_F(ServerConflictsTest, AFamilyServedBeforeARestartIsCountedWhenServedAgainAfterIt) {
  const core::HandoverInput kit = KitForNewFamilyAtEnt("P5550002");
  ASSERT_TRUE(ent_.store->RecordHandover(kit).ok());
  Push(ent_);
  EXPECT_TRUE(List("entitlement-exceeded").empty());

  server_.Reopen();
  RecordSecondKit(kit);
  Push(ent_);
  ExpectOneFamilyServedTwice();
  ExpectStoredEqualsRecomputed();
}

// ...and those written through another connection to the same database since.
TEST_F(ServerConflictsTest, AFamilyServedThroughAnotherConnectionIsCountedWhenServedAgain) {
  const core::HandoverInput kit = KitForNewFamilyAtEnt("P5550003");
  Push(ent_);  // the registration: this store has looked at the database's handovers now

  auto other_store = sync::OpenSqliteServerStore(server_.data_dir(), {});
  ASSERT_TRUE(other_store.ok()) << other_store.status().ToString();
  sync::ServerLogic other(other_store->get(), server_.clock().AsWallClock());
  ASSERT_TRUE(ent_.store->RecordHandover(kit).ok());
  auto ack = other.Push(ent_.token, NextPushBatch(*ent_.store, 200, server_.clock().now()));
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  ASSERT_TRUE(ent_.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());

  RecordSecondKit(kit);
  Push(ent_);
  ExpectOneFamilyServedTwice();
}

// A batch's handovers before a void are written before it, those after it after: a family
// with kits on both sides of a void is counted whole.
TEST_F(ServerConflictsTest, AFamilysTwoKitsOnEitherSideOfAVoidInOneBatchAreBothCounted) {
  auto mistaken = ent_.store->RecordHandover(KitForNewFamilyAtEnt("P5550004"));
  ASSERT_TRUE(mistaken.ok()) << mistaken.status().ToString();
  Push(ent_);

  const core::HandoverInput kit = KitForNewFamilyAtEnt("P5550005");
  ASSERT_TRUE(ent_.store->RecordHandover(kit).ok());
  ASSERT_TRUE(
      ent_.store->VoidHandover({mistaken->handover.id, "recorded twice", "ENT-OF-1"}).ok());
  RecordSecondKit(kit);
  Push(ent_);  // registration, kit, void, kit: one batch
  ExpectOneFamilyServedTwice();
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerConflictsTest, AVoidAtThePostClearsTheConflictByItself) {
  RecordHandover(ent_, "P1234567");
  const std::string second = RecordHandover(ent_, "P7654321");
  (void)second;
  const std::string at_nun = RecordHandover(nun_, "P1234567");
  Push(ent_);
  Push(nun_);
  ASSERT_EQ(List("entitlement-exceeded", "open").size(), 1u);
  auto v = nun_.store->VoidHandover({at_nun, "recorded for the wrong family", "NUN-OF-1"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  Push(nun_);
  EXPECT_TRUE(List("entitlement-exceeded", "open").empty());
  auto cleared = List("entitlement-exceeded", "cleared");
  ASSERT_EQ(cleared.size(), 1u);
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerConflictsTest, WrongActionUnknownConflictAndBadFiltersAreRefusedPrecisely) {
  RecordHandover(ent_, "P1234567");
  RecordHandover(nun_, "P1234567");
  Push(ent_);
  Push(nun_);
  const std::string dup = List("duplicate-beneficiary").at(0).id();
  auto wrong = Resolve(dup, "receipt", "x", "", 5);
  EXPECT_EQ(wrong.status().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("keep-both"));
  EXPECT_EQ(Resolve("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", "justify", "x").status().code(),
            core::Code::kNotFound);
  EXPECT_EQ(Resolve("not-an-id", "justify", "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Resolve(dup, "keep-both", std::string(2000, 'x')).status().code(),
            core::Code::kInvalidArgument);
  v1::ListConflictsRequest bad_kind;
  bad_kind.set_kind("everything");
  EXPECT_EQ(server_.logic().ListConflicts(server_.admin_token(), bad_kind).status().code(),
            core::Code::kInvalidArgument);
  v1::ListConflictsRequest bad_post;
  bad_post.set_post_code("XYZ");
  EXPECT_EQ(server_.logic().ListConflicts(server_.admin_token(), bad_post).status().code(),
            core::Code::kNotFound);
  EXPECT_EQ(List("duplicate-beneficiary", "open").size(), 1u);  // nothing changed
  auto kept = Resolve(dup, "keep-both", "twins sharing a passport copy; verified in person");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->conflict().status(), "resolved");
}

TEST_F(ServerConflictsTest, OnlyTheAdminCredentialReachesConflictsAndAudit) {
  RecordHandover(ent_, "P1234567");
  RecordHandover(nun_, "P1234567");
  Push(ent_);
  Push(nun_);
  const std::string id = List("entitlement-exceeded").at(0).id();
  auto& logic = server_.logic();
  v1::ListConflictsRequest list;
  v1::GetConflictRequest get;
  get.set_id(id);
  v1::ResolveConflictRequest resolve;
  resolve.set_id(id);
  resolve.set_action("justify");
  resolve.set_actor("a tablet");
  resolve.set_note("trying");
  v1::ListAuditRequest audit;
  for (const std::string& token : {ent_.token, nun_.token}) {
    EXPECT_EQ(logic.ListConflicts(token, list).status().code(), core::Code::kPermissionDenied);
    EXPECT_EQ(logic.GetConflict(token, get).status().code(), core::Code::kPermissionDenied);
    EXPECT_EQ(logic.ResolveConflict(token, resolve).status().code(),
              core::Code::kPermissionDenied);
    EXPECT_EQ(logic.ListAudit(token, audit).status().code(), core::Code::kPermissionDenied);
  }
  for (const std::string& token : {std::string(), std::string("not-a-token")}) {
    EXPECT_EQ(logic.ListConflicts(token, list).status().code(), core::Code::kUnauthenticated);
    EXPECT_EQ(logic.GetConflict(token, get).status().code(), core::Code::kUnauthenticated);
    EXPECT_EQ(logic.ResolveConflict(token, resolve).status().code(),
              core::Code::kUnauthenticated);
    EXPECT_EQ(logic.ListAudit(token, audit).status().code(), core::Code::kUnauthenticated);
  }
  EXPECT_EQ(List("entitlement-exceeded", "open").size(), 1u);
  auto shown = logic.GetConflict(server_.admin_token(), get);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->conflict().sides_size(), 2);
}

}  // namespace
}  // namespace kitsync::synctest

namespace kitsync::synctest {
namespace {

class ServerCorrectionsTest : public ServerConflictsTest {
 protected:
  // Registers at ENT and brings the registration to the server and to a second ENT tablet.
  void SetUp() override {
    ServerConflictsTest::SetUp();
    ent2_ = server_.EnrolTablet("ENT", "ENT tablet 2");
    ASSERT_NE(ent2_.store, nullptr);
    auto b = ent_.store->RegisterBeneficiary({"P1234567", "Ana Lestari", "0812-1111", 4});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    beneficiary_ = b->id;
    Push(ent_);
    Push(ent2_);
    PullAll(server_.logic(), ent2_);
    PullAll(server_.logic(), ent_);
  }

  core::Result<core::BeneficiaryUpdate> Correct(Tablet& t, std::optional<std::string> phone,
                                                std::optional<std::string> name = std::nullopt) {
    core::BeneficiaryUpdateInput in;
    in.beneficiary_id = beneficiary_;
    in.phone = std::move(phone);
    in.full_name = std::move(name);
    in.officer_code = "ENT-OF-1";
    return t.store->UpdateBeneficiary(in);
  }

  core::Result<v1::CorrectBeneficiaryResponse> CorrectCentrally(const std::string& phone) {
    v1::CorrectBeneficiaryRequest r;
    r.set_beneficiary_id(beneficiary_);
    r.set_phone(phone);
    r.set_officer_code("HQ-OF-1");
    r.set_actor("Siti (central office)");
    return server_.logic().CorrectBeneficiary(server_.admin_token(), r);
  }

  std::string Phone(Tablet& t) {
    auto b = t.store->GetBeneficiary(beneficiary_);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? b->phone : "";
  }
  std::string ServerPhone() {
    return RawDb(server_.db_path())
        .QueryText("SELECT phone FROM beneficiaries WHERE id = '" + beneficiary_ + "'");
  }

  Tablet ent2_;
  std::string beneficiary_;
};

TEST_F(ServerCorrectionsTest, ACorrectionThatSawThePreviousOneIsNoConflict) {
  ASSERT_TRUE(Correct(ent_, "0812-2222").ok());
  Push(ent_);
  PullAll(server_.logic(), ent2_);
  ASSERT_TRUE(Correct(ent2_, "0812-3333").ok());
  Push(ent2_);
  PullAll(server_.logic(), ent_);
  EXPECT_TRUE(List("concurrent-update").empty());
  EXPECT_EQ(ServerPhone(), "0812-3333");
  EXPECT_EQ(Phone(ent_), "0812-3333");
  EXPECT_EQ(Phone(ent2_), "0812-3333");
}

TEST_F(ServerCorrectionsTest, PostAndCentreCorrectingTheSameFieldConvergeAndAreListedWithTheBase) {
  // The post corrects offline while the centre corrects too; neither has seen the other.
  server_.clock().Advance(1000);
  auto at_post = Correct(ent_, "0812-2222", std::string("Ana Lestari S."));
  ASSERT_TRUE(at_post.ok()) << at_post.status().ToString();
  auto central = CorrectCentrally("0813-9999");
  ASSERT_TRUE(central.ok()) << central.status().ToString();
  Push(ent_);

  // Every replica holds the same details, whichever order it saw the corrections in: the name
  // only the post changed is the post's; the phone goes to the later (HLC, device) version.
  PullAll(server_.logic(), ent_);
  PullAll(server_.logic(), ent2_);
  const std::string phone = ServerPhone();
  EXPECT_EQ(Phone(ent_), phone);
  EXPECT_EQ(Phone(ent2_), phone);
  auto name = ent2_.store->GetBeneficiary(beneficiary_);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->full_name, "Ana Lestari S.");
  auto d1 = ent_.store->DigestFacts();
  auto d2 = ent2_.store->DigestFacts();
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_EQ(d1->sha256_hex, d2->sha256_hex);

  auto listed = List("concurrent-update");
  ASSERT_EQ(listed.size(), 1u);
  const v1::Conflict& c = listed[0];
  EXPECT_EQ(c.status(), "open");
  ASSERT_EQ(c.sides_size(), 3);
  EXPECT_EQ(c.sides(0).entity(), "base");
  EXPECT_THAT(c.sides(0).detail(), HasSubstr("phone '0812-1111'"));
  EXPECT_EQ(c.sides(1).entity(), "correction");
  EXPECT_EQ(c.sides(2).entity(), "correction");
  EXPECT_THAT(c.provisional(), HasSubstr("phone '" + phone + "'"));
  ExpectStoredEqualsRecomputed();

  // The admin keeps the post's number: a central correction that every replica takes.
  auto picked = [&] {
    v1::ResolveConflictRequest r;
    r.set_id(c.id());
    r.set_action("pick");
    r.set_correction_id(at_post->id);
    r.set_actor("Siti (central office)");
    r.set_officer_code("HQ-OF-1");
    return server_.logic().ResolveConflict(server_.admin_token(), r);
  }();
  ASSERT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_EQ(picked->conflict().status(), "resolved");
  ASSERT_EQ(picked->record_ids_size(), 1);
  PullAll(server_.logic(), ent_);
  PullAll(server_.logic(), ent2_);
  EXPECT_EQ(ServerPhone(), "0812-2222");
  EXPECT_EQ(Phone(ent_), "0812-2222");
  EXPECT_EQ(Phone(ent2_), "0812-2222");
  ExpectStoredEqualsRecomputed();
  EXPECT_EQ(List("concurrent-update", "resolved").size(), 1u);
}

TEST_F(ServerCorrectionsTest, ALaterCorrectionThatSawBothRewritesWhatTheOpenConflictSaysStands) {
  server_.clock().Advance(1000);
  ASSERT_TRUE(Correct(ent_, "0812-2222").ok());
  ASSERT_TRUE(CorrectCentrally("0813-9999").ok());
  Push(ent_);
  ASSERT_EQ(List("concurrent-update").size(), 1u);
  // A tablet that has seen both settles the phone. Who disagreed is unchanged, and the question
  // stays open for the admin, but what stands meanwhile is the new number.
  PullAll(server_.logic(), ent2_);
  server_.clock().Advance(1000);
  ASSERT_TRUE(Correct(ent2_, "0812-5555").ok());
  Push(ent2_);
  auto now = List("concurrent-update");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].status(), "open");
  EXPECT_EQ(now[0].sides_size(), 3);
  EXPECT_THAT(now[0].provisional(), HasSubstr("phone '0812-5555'"));
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerCorrectionsTest, ACorrectionOfAnotherPostsBeneficiaryIsRefusedWithNothingApplied) {
  // NUN never holds ENT's beneficiary; a hand-made correction claiming it is refused.
  core::BeneficiaryUpdate u;
  u.id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f";
  u.beneficiary_id = beneficiary_;
  u.phone = "0000";
  u.post_id = nun_.post_id;
  u.officer_id = "00000000-0000-7000-8000-00000000000a";
  for (const core::Officer& o : TestMasterData().officers) {
    if (o.code == "NUN-OF-1") u.officer_id = o.id;
  }
  u.device_id = nun_.device_id;
  u.hlc = {server_.clock().now(), 0};
  u.base_hlc = u.hlc;
  u.wall_ms = server_.clock().now();
  const std::string genesis = core::GenesisHash(nun_.device_id);
  auto pushed = server_.logic().Push(
      nun_.token, ChainedBatch(genesis, 1, {{u.hlc, u}}, server_.clock().now()));
  EXPECT_EQ(pushed.status().code(), core::Code::kPermissionDenied) << pushed.status().ToString();
  EXPECT_EQ(ServerPhone(), "0812-1111");
  EXPECT_EQ(Count("SELECT count(*) FROM beneficiary_updates"), 0);
}

}  // namespace
}  // namespace kitsync::synctest

namespace kitsync::synctest {
namespace {

core::HandoverInput HygieneKitFor(const std::string& beneficiary_id, const std::string& post) {
  core::HandoverInput h;
  h.round_code = "HYG-R1";
  h.beneficiary_id = beneficiary_id;
  h.kit_type_code = "HYG-KIT";
  h.quantity = 1;
  h.officer_code = post + "-OF-1";
  h.proof = {core::ProofKind::kSignature, "sha256:5f1d0c"};
  h.consent = true;
  return h;
}

TEST_F(ServerConflictsTest, AfterAPullATabletWarnsBeforeServingAFamilyServedAtAnotherPost) {
  const std::string at_ent = RecordHandover(ent_, "P1234567");
  Push(ent_);
  // NUN registers the same family (its own registration: it never sees ENT's beneficiary).
  auto at_nun = nun_.store->RegisterBeneficiary({"P1234567", "Same family", "", 3});
  ASSERT_TRUE(at_nun.ok());
  auto before = nun_.store->CheckHandover(HygieneKitFor(at_nun->id, "NUN"));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_TRUE(before->empty()) << "nothing known yet, so nothing to warn of";

  ASSERT_GT(PullAll(server_.logic(), nun_), 0);
  auto warned = nun_.store->CheckHandover(HygieneKitFor(at_nun->id, "NUN"));
  ASSERT_TRUE(warned.ok());
  ASSERT_EQ(warned->size(), 1u);
  EXPECT_EQ((*warned)[0].code, "entitlement-exceeded");
  EXPECT_THAT((*warned)[0].message, HasSubstr("1 of them at other posts"));
  // NUN holds no personal data of ENT's: only the summary by document hash.
  EXPECT_EQ(RawDb(nun_.db_path).QueryInt("SELECT count(*) FROM beneficiaries"), 1);
  EXPECT_EQ(RawDb(nun_.db_path).QueryInt("SELECT count(*) FROM served_elsewhere"), 1);

  // ENT voids its handover; after the next pull NUN no longer warns.
  ASSERT_TRUE(ent_.store->VoidHandover({at_ent, "recorded for the wrong family", "ENT-OF-1"}).ok());
  Push(ent_);
  ASSERT_GT(PullAll(server_.logic(), nun_), 0);
  auto after_void = nun_.store->CheckHandover(HygieneKitFor(at_nun->id, "NUN"));
  ASSERT_TRUE(after_void.ok());
  EXPECT_TRUE(after_void->empty());
  // A repeated push of the same facts sends no new summary.
  const int64_t summaries = Count("SELECT count(*) FROM feed WHERE channel LIKE 'served:%'");
  ASSERT_TRUE(ent_.store->ResetUploadCursor(0).ok());
  Push(ent_);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE channel LIKE 'served:%'"), summaries);
  EXPECT_EQ(summaries, 2);  // served 1, then 0 after the void
}

}  // namespace
}  // namespace kitsync::synctest

namespace kitsync::synctest {
namespace {

// One family registered at Entikong and at Nunukan, each serving it a kit offline; both pushed.
class ServerMergesTest : public ServerConflictsTest {
 protected:
  void SetUp() override {
    ServerConflictsTest::SetUp();
    at_ent_ = RecordHandover(ent_, "P1234567");
    at_nun_ = RecordHandover(nun_, "P1234567");
    retired_ = RawDb(ent_.db_path).QueryText("SELECT id FROM beneficiaries");
    kept_ = RawDb(nun_.db_path).QueryText("SELECT id FROM beneficiaries");
    Push(ent_);
    Push(nun_);
    auto dup = List("duplicate-beneficiary");
    ASSERT_EQ(dup.size(), 1u);
    duplicate_ = dup[0].id();
  }

  core::Result<v1::ResolveConflictResponse> Decide(const std::string& id, const std::string& action,
                                                   const std::string& note,
                                                   const std::string& keep = "",
                                                   const std::string& correction = "") {
    v1::ResolveConflictRequest r;
    r.set_id(id);
    r.set_action(action);
    r.set_actor("Siti (central office)");
    r.set_note(note);
    r.set_keep_beneficiary_id(keep);
    r.set_correction_id(correction);
    r.set_officer_code("HQ-OF-1");
    return server_.logic().ResolveConflict(server_.admin_token(), r);
  }

  void MergeIntoNunukansRegistration() {
    auto merged = Decide(duplicate_, "merge", "one family: same passport, same household", kept_);
    ASSERT_TRUE(merged.ok()) << merged.status().ToString();
    EXPECT_EQ(merged->conflict().status(), "resolved");
    ASSERT_EQ(merged->record_ids_size(), 1);
    merge_ = merged->record_ids(0);
  }

  int64_t ServedBeneficiaries() {
    auto lines = server_.store().ReportServed({});
    EXPECT_TRUE(lines.ok()) << lines.status().ToString();
    if (!lines.ok() || lines->empty()) return -1;
    EXPECT_EQ(lines->back().post_code, "");  // the all-posts line
    return lines->back().beneficiaries;
  }

  std::string PhoneOn(Tablet& t, const std::string& id) {
    auto b = t.store->GetBeneficiary(id);
    EXPECT_TRUE(b.ok()) << t.post_code << ": " << b.status().ToString();
    return b.ok() ? b->phone : "";
  }

  std::string at_ent_, at_nun_, retired_, kept_, duplicate_, merge_;
};

TEST_F(ServerMergesTest, AMergeRepointsTheFamilysHandoversOnEveryReplicaWithoutRewritingThem) {
  EXPECT_EQ(ServedBeneficiaries(), 2);
  const int64_t feed_before = Count("SELECT count(*) FROM feed");
  ASSERT_NO_FATAL_FAILURE(MergeIntoNunukansRegistration());
  EXPECT_EQ(Count("SELECT count(*) FROM beneficiary_merges WHERE retired_id = '" + retired_ +
                  "' AND kept_id = '" + kept_ + "'"),
            1);
  // The handovers are untouched facts; the family is counted once.
  EXPECT_EQ(Count("SELECT count(*) FROM handovers WHERE id = '" + at_ent_ +
                  "' AND beneficiary_id = '" + retired_ + "'"),
            1);
  EXPECT_EQ(ServedBeneficiaries(), 1);
  // Entikong's channel receives Nunukan's registration, then the merge goes to both posts; the
  // decision too.
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE server_seq > " + std::to_string(feed_before) +
                  " AND entity = 'beneficiary' AND entity_id = '" + kept_ + "' AND channel = '" +
                  ent_.post_id + "'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE entity = 'beneficiary_merge'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM feed WHERE entity = 'conflict_resolution'"), 2);
  ExpectStoredEqualsRecomputed();

  for (Tablet* t : {&ent_, &nun_}) {
    ASSERT_GT(PullAll(server_.logic(), *t), 0);
    core::HandoverFilter f;
    f.beneficiary_id = kept_;
    auto listed = t->store->ListHandovers(f);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    ASSERT_EQ(listed->size(), 1u) << t->post_code;  // each post holds its own handovers
    EXPECT_EQ((*listed)[0].handover.id, t == &ent_ ? at_ent_ : at_nun_);
    EXPECT_EQ((*listed)[0].merged_into, t == &ent_ ? kept_ : "");
    EXPECT_EQ(RawDb(t->db_path).QueryInt("SELECT count(*) FROM beneficiary_merges"), 1);
  }
  // Pulling again brings nothing new: the merge applied once.
  EXPECT_EQ(PullAll(server_.logic(), ent_), 0);

  // Entikong serves the family again under the retired ID: recorded for the kept registration,
  // and counted for the family (past its entitlement, with the officer's reason).
  core::HandoverInput again;
  again.round_code = "HYG-R1";
  again.beneficiary_id = retired_;
  again.kit_type_code = "HYG-KIT";
  again.officer_code = "ENT-OF-1";
  again.proof = {core::ProofKind::kSignature, "sha256:aa"};
  again.consent = true;
  EXPECT_EQ(ent_.store->RecordHandover(again).status().code(), core::Code::kFailedPrecondition);
  again.override_reason = "second kit agreed with the round lead";
  auto third = ent_.store->RecordHandover(again);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->handover.beneficiary_id, kept_);
  EXPECT_EQ(third->merged_from, retired_);
  Push(ent_);
  EXPECT_EQ(ServedBeneficiaries(), 1);
  auto excess = List("entitlement-exceeded");
  ASSERT_EQ(excess.size(), 1u);
  EXPECT_EQ(excess[0].sides_size(), 3);  // one family: all three kits
  ExpectStoredEqualsRecomputed();

  v1::ListAuditRequest audit_request;
  auto audit = server_.logic().ListAudit(server_.admin_token(), audit_request);
  ASSERT_TRUE(audit.ok());
  bool found = false;
  for (const v1::AuditEntry& e : audit->entries()) {
    if (e.target() != duplicate_) continue;
    found = true;
    EXPECT_THAT(e.detail(), HasSubstr("action=merge keep=" + kept_ + " merges=" + merge_));
  }
  EXPECT_TRUE(found);
}

TEST_F(ServerMergesTest, AMergeNeedsANoteAndOneOfTheSidesThatStillStands) {
  const int64_t feed_before = Count("SELECT count(*) FROM feed");
  EXPECT_EQ(Decide(duplicate_, "merge", "", kept_).status().code(), core::Code::kInvalidArgument);
  auto stranger =
      Decide(duplicate_, "merge", "same family", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f");
  EXPECT_EQ(stranger.status().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(stranger.status().message(), HasSubstr("not one of this conflict's registrations"));
  EXPECT_EQ(Decide(duplicate_, "merge", "same family").status().code(),
            core::Code::kInvalidArgument);  // no --keep
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), feed_before);
  ASSERT_NO_FATAL_FAILURE(MergeIntoNunukansRegistration());

  // A third registration reopens the question; the retired one cannot be kept, a standing one
  // can, and what was merged before follows it.
  Tablet ent2 = server_.EnrolTablet("ENT", "ENT tablet 2");
  RecordHandover(ent2, "P1234567");
  const std::string third = RawDb(ent2.db_path).QueryText("SELECT id FROM beneficiaries");
  Push(ent2);
  auto reopened = List("duplicate-beneficiary", "open");
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_EQ(reopened[0].sides_size(), 3);
  auto retired = Decide(duplicate_, "merge", "keep the first", retired_);
  EXPECT_EQ(retired.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(retired.status().message(), HasSubstr("already merged into " + kept_));
  auto again = Decide(duplicate_, "merge", "the newest card is the right one", third);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->record_ids_size(), 2);
  // Every registration now stands for the third, in one step.
  EXPECT_EQ(Count("SELECT count(DISTINCT retired_id) FROM beneficiary_merges"), 2);
  for (const std::string& id : {retired_, kept_}) {
    EXPECT_EQ(RawDb(server_.db_path())
                  .QueryText("SELECT kept_id FROM beneficiary_merges WHERE retired_id = '" + id +
                             "' ORDER BY hlc DESC, id DESC LIMIT 1"),
              third);
  }
  ASSERT_GT(PullAll(server_.logic(), ent_), 0);
  EXPECT_EQ(RawDb(ent_.db_path)
                .QueryText("SELECT kept_id FROM beneficiary_merges WHERE retired_id = '" +
                           retired_ + "'"),
            third);
  EXPECT_EQ(ServedBeneficiaries(), 1);
  ExpectStoredEqualsRecomputed();
}

TEST_F(ServerMergesTest, ACorrectionThatMissedTheMergeIsUpdateVsVoidAndRestoreCarriesItOver) {
  ASSERT_NO_FATAL_FAILURE(MergeIntoNunukansRegistration());
  // Entikong, not having synced since, corrects the registration the office retired.
  server_.clock().Advance(1000);
  core::BeneficiaryUpdateInput in;
  in.beneficiary_id = retired_;
  in.phone = "0812-7777";
  in.officer_code = "ENT-OF-1";
  auto missed = ent_.store->UpdateBeneficiary(in);
  ASSERT_TRUE(missed.ok()) << missed.status().ToString();
  Push(ent_);

  auto open = List("update-vs-void");
  ASSERT_EQ(open.size(), 1u);
  const v1::Conflict& c = open[0];
  EXPECT_EQ(c.status(), "open");
  ASSERT_EQ(c.sides_size(), 2);
  EXPECT_EQ(c.sides(0).entity(), "merge");
  EXPECT_EQ(c.sides(0).entity_id(), merge_);
  EXPECT_EQ(c.sides(1).entity(), "correction");
  EXPECT_EQ(c.sides(1).entity_id(), missed->id);
  EXPECT_THAT(c.provisional(), HasSubstr("not applied to " + kept_));
  EXPECT_THAT(c.post_codes(), ::testing::ElementsAre("ENT"));
  // Meanwhile the kept registration is as it was.
  EXPECT_EQ(RawDb(server_.db_path())
                .QueryText("SELECT phone FROM beneficiaries WHERE id = '" + kept_ + "'"),
            "");
  ExpectStoredEqualsRecomputed();
  // Entikong, once it hears of the merge, no longer corrects the retired registration.
  ASSERT_GT(PullAll(server_.logic(), ent_), 0);
  in.phone = "0812-8888";
  EXPECT_EQ(ent_.store->UpdateBeneficiary(in).status().code(), core::Code::kFailedPrecondition);

  EXPECT_EQ(Decide(c.id(), "confirm", "").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Decide(c.id(), "restore", "", "", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f")
                .status()
                .code(),
            core::Code::kInvalidArgument);
  auto restored = Decide(c.id(), "restore", "the family's new number");
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->conflict().status(), "resolved");
  ASSERT_EQ(restored->record_ids_size(), 1);
  EXPECT_EQ(RawDb(server_.db_path())
                .QueryText("SELECT phone FROM beneficiaries WHERE id = '" + kept_ + "'"),
            "0812-7777");
  // Both posts' tablets hold the kept registration with the restored value.
  for (Tablet* t : {&ent_, &nun_}) {
    PullAll(server_.logic(), *t);
    EXPECT_EQ(PhoneOn(*t, kept_), "0812-7777") << t->post_code;
  }
  auto decisions = ent_.store->ListResolutions();
  ASSERT_TRUE(decisions.ok());
  ASSERT_FALSE(decisions->empty());
  EXPECT_EQ(decisions->back().action, "restore");
  ExpectStoredEqualsRecomputed();
  // A later correction of the kept registration at its own post reaches Entikong as well.
  core::BeneficiaryUpdateInput at_nun;
  at_nun.beneficiary_id = kept_;
  at_nun.phone = "0812-9999";
  at_nun.officer_code = "NUN-OF-1";
  ASSERT_TRUE(nun_.store->UpdateBeneficiary(at_nun).ok());
  Push(nun_);
  PullAll(server_.logic(), ent_);
  EXPECT_EQ(PhoneOn(ent_, kept_), "0812-9999");
}

TEST_F(ServerMergesTest, ConfirmLeavesTheMergeAndTheCorrectionUnapplied) {
  ASSERT_NO_FATAL_FAILURE(MergeIntoNunukansRegistration());
  server_.clock().Advance(1000);
  core::BeneficiaryUpdateInput in;
  in.beneficiary_id = retired_;
  in.full_name = "Ana L.";
  in.officer_code = "ENT-OF-1";
  ASSERT_TRUE(ent_.store->UpdateBeneficiary(in).ok());
  Push(ent_);
  auto open = List("update-vs-void");
  ASSERT_EQ(open.size(), 1u);
  auto confirmed = Decide(open[0].id(), "confirm", "the Nunukan spelling is on the passport");
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().ToString();
  EXPECT_EQ(confirmed->conflict().status(), "resolved");
  EXPECT_EQ(confirmed->record_ids_size(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM beneficiary_updates"), 1);  // kept, unapplied to the kept
  EXPECT_EQ(RawDb(server_.db_path())
                .QueryText("SELECT full_name FROM beneficiaries WHERE id = '" + kept_ + "'"),
            "Beneficiary P1234567");
  ExpectStoredEqualsRecomputed();
  // Neither the centre nor a device may correct the retired registration now.
  v1::CorrectBeneficiaryRequest central;
  central.set_beneficiary_id(retired_);
  central.set_phone("0000");
  central.set_officer_code("HQ-OF-1");
  central.set_actor("Siti (central office)");
  auto refused = server_.logic().CorrectBeneficiary(server_.admin_token(), central);
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr(kept_));
}

TEST_F(ServerMergesTest, ADeviceMayNotPushAMerge) {
  core::BeneficiaryMerge m;
  m.id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f";
  m.retired_id = retired_;
  m.kept_id = kept_;
  m.conflict_id = duplicate_;
  m.decided_by = "a tablet";
  m.device_id = nun_.device_id;
  m.hlc = {server_.clock().now(), 5};
  m.base_hlc = {server_.clock().now(), 0};
  m.wall_ms = server_.clock().now();
  auto cursor = server_.store().GetCursor({sync::Principal::Kind::kDevice, nun_.device_id,
                                           nun_.post_id, "NUN"});
  ASSERT_TRUE(cursor.ok());
  auto pushed = server_.logic().Push(
      nun_.token, ChainedBatch(cursor->tip_hash, cursor->acked_seq + 1, {{m.hlc, m}},
                               server_.clock().now()));
  EXPECT_EQ(pushed.status().code(), core::Code::kPermissionDenied) << pushed.status().ToString();
  EXPECT_EQ(Count("SELECT count(*) FROM beneficiary_merges"), 0);
}

}  // namespace
}  // namespace kitsync::synctest

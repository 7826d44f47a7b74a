// The central reports over a known situation built through the real push path: stock received
// at the warehouse and at two posts, dispatched from the warehouse, handed out at both posts
// (one handover voided, one family registered at both), adjusted, counted, and sent from one
// post to the other without having arrived yet. Every figure is checked exactly; then rows the
// reconciliation cannot account for are written into the server's database by hand, and the
// difference must be named on the right kit type and post.
#include "kitsync/sync/server_reports.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ServerReportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.LoadMasterData();
    // The warehouse: 100 received, 40 to ENT, 30 to NUN, 3 water-damaged.
    Central(v1::MOVEMENT_KIND_RECEIPT, "HQ", 100);
    Central(v1::MOVEMENT_KIND_TRANSFER_OUT, "HQ", 40, "ENT");
    Central(v1::MOVEMENT_KIND_TRANSFER_OUT, "HQ", 30, "NUN");
    Central(v1::MOVEMENT_KIND_ADJUSTMENT, "HQ", -3, "", "water damage");

    // ENT, on 2026-09-21 (the test clock's day): its own receipt of 10000 (EnrolTablet's), three
    // handovers of which one is voided, 2 damaged, 5 sent to NUN, then a count of one less than
    // the computed balance.
    ent_ = server_.EnrolTablet("ENT", "ENT tablet");
    RecordHandover(ent_, "A 0000001");
    RecordHandover(ent_, "A 0000002");
    const std::string mistaken = RecordHandover(ent_, "A 0000003");
    ASSERT_TRUE(
        ent_.store->VoidHandover({mistaken, "recorded for the wrong family", "ENT-OF-1"}).ok());
    Movement(ent_, core::MovementKind::kAdjustment, -2, "", "torn packaging");
    Movement(ent_, core::MovementKind::kTransferOut, 5, "NUN");
    Movement(ent_, core::MovementKind::kCount, 10'030);
    Push(ent_);

    // NUN, the next day: its own receipt of 10000 and two handovers, one to the family served at
    // ENT (same document, registered again here). The 5 from ENT have not arrived.
    server_.clock().Advance(24 * 60 * 60 * 1000);
    nun_ = server_.EnrolTablet("NUN", "NUN tablet");
    RecordHandover(nun_, "A 0000001");
    RecordHandover(nun_, "B 0000001");
    Push(nun_);
  }

  void Central(v1::MovementKind kind, const std::string& post, int64_t quantity,
               const std::string& to = "", const std::string& reason = "") {
    v1::RecordCentralMovementRequest r;
    r.set_kind(kind);
    r.set_kit_type_code("HYG-KIT");
    r.set_post_code(post);
    r.set_quantity(quantity);
    r.set_counterpart_post_code(to);
    r.set_reason(reason);
    r.set_officer_code("HQ-OF-1");
    auto done = server_.logic().RecordCentralMovement(server_.admin_token(), r);
    ASSERT_TRUE(done.ok()) << done.status().ToString();
  }

  void Movement(Tablet& t, core::MovementKind kind, int64_t quantity, const std::string& to = "",
                const std::string& reason = "") {
    core::MovementInput m;
    m.kind = kind;
    m.kit_type_code = "HYG-KIT";
    m.quantity = quantity;
    m.counterpart_post_code = to;
    m.reason = reason;
    m.officer_code = t.post_code + "-OF-1";
    auto done = t.store->RecordMovement(m);
    ASSERT_TRUE(done.ok()) << done.status().ToString();
  }

  void Push(Tablet& t) { PushUntilDrained(server_, t); }

  v1::ReconcileResponse Reconcile() {
    auto r = reports_.Reconcile(server_.admin_token(), {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::ReconcileResponse();
  }

  v1::HandoutsResponse Handouts(const v1::ReportFilter& filter) {
    v1::HandoutsRequest request;
    *request.mutable_filter() = filter;
    auto r = reports_.Handouts(server_.admin_token(), request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::HandoutsResponse();
  }

  // A raw insert into the server's database, as if a row had reached it by some other way.
  void InsertRaw(const std::string& sql) {
    RawDb db(server_.db_path());
    db.Exec(sql);
  }
  std::string AnyFeedSeq() {
    RawDb db(server_.db_path());
    return std::to_string(db.QueryInt("SELECT max(server_seq) FROM feed"));
  }

  TestServer server_;
  sync::ReportsLogic reports_{&server_.logic()};
  Tablet ent_;
  Tablet nun_;
};

// "kit type/post: received = handed out + in stock + transferred + adjusted (difference)".
std::string Line(const v1::ReconcileLine& l) {
  return l.kit_type_code() + "/" + (l.post_code().empty() ? "*" : l.post_code()) + ": " +
         std::to_string(l.received()) + " = " + std::to_string(l.handed_out()) + " + " +
         std::to_string(l.in_stock()) + " + " + std::to_string(l.transferred()) + " + " +
         std::to_string(l.adjusted()) + " (" + std::to_string(l.difference()) + ")";
}

std::vector<std::string> Lines(const v1::ReconcileResponse& r) {
  std::vector<std::string> out;
  for (const v1::ReconcileLine& l : r.lines()) out.push_back(Line(l));
  return out;
}

const v1::ReconcileLine& LineOf(const v1::ReconcileResponse& r, const std::string& kit,
                                const std::string& post) {
  for (const v1::ReconcileLine& l : r.lines()) {
    if (l.kit_type_code() == kit && l.post_code() == post) return l;
  }
  static const v1::ReconcileLine none;
  ADD_FAILURE() << "no line for " << kit << "/" << post;
  return none;
}

TEST_F(ServerReportsTest, HandoutsCountNonVoidedHandoversByRoundPostKitAndDay) {
  const v1::HandoutsResponse all = Handouts({});
  ASSERT_EQ(all.rows_size(), 2);
  auto row = [](const v1::HandoutRow& r) {
    return r.round_code() + " " + r.post_code() + " " + r.kit_type_code() + " " + r.day() + " " +
           std::to_string(r.handovers()) + " " + std::to_string(r.quantity());
  };
  EXPECT_EQ(row(all.rows(0)), "HYG-R1 ENT HYG-KIT 2026-09-21 2 2") << "the voided one left out";
  EXPECT_EQ(row(all.rows(1)), "HYG-R1 NUN HYG-KIT 2026-09-22 2 2");

  v1::ReportFilter f;
  f.set_post_code("NUN");
  ASSERT_EQ(Handouts(f).rows_size(), 1);
  EXPECT_EQ(Handouts(f).rows(0).post_code(), "NUN");
  f.Clear();
  f.set_since_day("2026-09-22");
  ASSERT_EQ(Handouts(f).rows_size(), 1);
  EXPECT_EQ(Handouts(f).rows(0).day(), "2026-09-22");
  f.Clear();
  f.set_until_day("2026-09-21");
  ASSERT_EQ(Handouts(f).rows_size(), 1);
  EXPECT_EQ(Handouts(f).rows(0).day(), "2026-09-21") << "until includes its whole day";
  f.Clear();
  f.set_round_code("PPE-R1");
  EXPECT_EQ(Handouts(f).rows_size(), 0);
  f.Clear();
  f.set_kit_type_code("HYG-KIT");
  f.set_round_code("HYG-R1");
  EXPECT_EQ(Handouts(f).rows_size(), 2);

  // Mistakes in a filter are refused, never read as "nothing happened".
  v1::HandoutsRequest bad;
  bad.mutable_filter()->set_post_code("XXX");
  EXPECT_EQ(reports_.Handouts(server_.admin_token(), bad).status().code(), core::Code::kNotFound);
  bad.Clear();
  bad.mutable_filter()->set_since_day("2026-02-30");
  EXPECT_EQ(reports_.Handouts(server_.admin_token(), bad).status().code(),
            core::Code::kInvalidArgument);
  bad.Clear();
  bad.mutable_filter()->set_since_day("2026-09-23");
  bad.mutable_filter()->set_until_day("2026-09-22");
  EXPECT_EQ(reports_.Handouts(server_.admin_token(), bad).status().code(),
            core::Code::kInvalidArgument);
}

TEST_F(ServerReportsTest, StockPerPostShowsEveryFigureTheLastCountAndItsDifference) {
  auto stock = reports_.StockByPost(server_.admin_token(), {});
  ASSERT_TRUE(stock.ok()) << stock.status().ToString();
  ASSERT_EQ(stock->rows_size(), 3);
  const v1::StockRow& ent = stock->rows(0);
  EXPECT_EQ(ent.post_code(), "ENT");
  EXPECT_EQ(ent.kit_type_code(), "HYG-KIT");
  EXPECT_EQ(ent.received(), 10'040);  // its receipt + the warehouse's dispatch
  EXPECT_EQ(ent.handed_out(), 2);
  EXPECT_EQ(ent.transferred(), 5);
  EXPECT_EQ(ent.adjusted(), -2);
  EXPECT_EQ(ent.balance(), 10'031);
  EXPECT_FALSE(ent.deficit());
  EXPECT_TRUE(ent.counted());
  EXPECT_EQ(ent.last_count(), 10'030);
  EXPECT_EQ(ent.count_difference(), -1);

  const v1::StockRow& hq = stock->rows(1);
  EXPECT_EQ(hq.post_code(), "HQ");
  EXPECT_EQ(hq.received(), 100);
  EXPECT_EQ(hq.handed_out(), 0);
  EXPECT_EQ(hq.transferred(), 70);
  EXPECT_EQ(hq.adjusted(), -3);
  EXPECT_EQ(hq.balance(), 27);
  EXPECT_FALSE(hq.counted());

  const v1::StockRow& nun = stock->rows(2);
  EXPECT_EQ(nun.post_code(), "NUN");
  EXPECT_EQ(nun.received(), 10'030);  // the 5 from ENT are still on their way
  EXPECT_EQ(nun.handed_out(), 2);
  EXPECT_EQ(nun.transferred(), 0);
  EXPECT_EQ(nun.adjusted(), 0);
  EXPECT_EQ(nun.balance(), 10'028);

  v1::StockByPostRequest one;
  one.mutable_filter()->set_post_code("HQ");
  auto hq_only = reports_.StockByPost(server_.admin_token(), one);
  ASSERT_TRUE(hq_only.ok());
  ASSERT_EQ(hq_only->rows_size(), 1);
  EXPECT_EQ(hq_only->rows(0).balance(), 27);
}

TEST_F(ServerReportsTest, BeneficiariesServedCountAFamilyRegisteredTwiceOnceByDocumentHash) {
  auto served = reports_.BeneficiariesServed(server_.admin_token(), {});
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  std::vector<std::string> rows;
  for (const v1::BeneficiariesRow& r : served->rows()) {
    rows.push_back(r.round_code() + " " + (r.post_code().empty() ? "*" : r.post_code()) + " " +
                   r.kit_type_code() + " " + std::to_string(r.beneficiaries()) + " " +
                   std::to_string(r.document_hashes()) + " " + std::to_string(r.handovers()));
  }
  EXPECT_THAT(rows, ElementsAre("HYG-R1 ENT HYG-KIT 2 2 2", "HYG-R1 NUN HYG-KIT 2 2 2",
                                "HYG-R1 * HYG-KIT 4 3 4"));
}

TEST_F(ServerReportsTest, ReconciliationBalancesExactlyWithStockInTransitNamed) {
  const v1::ReconcileResponse r = Reconcile();
  EXPECT_TRUE(r.balanced());
  // Centrally: 100 + 10000 + 10000 received from outside = 4 handed out + 20086 on shelves +
  // 5 on the road + 5 lost or damaged.
  EXPECT_THAT(Lines(r), ElementsAre("HYG-KIT/*: 20100 = 4 + 20086 + 5 + 5 (0)",
                                    "HYG-KIT/ENT: 10040 = 2 + 10031 + 5 + 2 (0)",
                                    "HYG-KIT/HQ: 100 = 0 + 27 + 70 + 3 (0)",
                                    "HYG-KIT/NUN: 10030 = 2 + 10028 + 0 + 0 (0)"));
  ASSERT_EQ(r.in_transit_size(), 1);
  EXPECT_EQ(r.in_transit(0).kit_type_code(), "HYG-KIT");
  EXPECT_EQ(r.in_transit(0).from_post_code(), "ENT");
  EXPECT_EQ(r.in_transit(0).to_post_code(), "NUN");
  EXPECT_EQ(r.in_transit(0).quantity(), 5);
  EXPECT_THAT(LineOf(r, "HYG-KIT", "").notes(), ElementsAre("in transit ENT -> NUN: 5"));

  // Once NUN records the arrival, nothing is in transit and it still balances.
  Movement(nun_, core::MovementKind::kTransferIn, 5, "ENT");
  Push(nun_);
  const v1::ReconcileResponse arrived = Reconcile();
  EXPECT_TRUE(arrived.balanced());
  EXPECT_EQ(arrived.in_transit_size(), 0);
  EXPECT_EQ(Line(LineOf(arrived, "HYG-KIT", "")), "HYG-KIT/*: 20100 = 4 + 20091 + 0 + 5 (0)");
}

// A handover whose kit left no trace in the stock: NUN never received a PPE-SET, yet a handover
// of two is held (here written straight into the database; in the field, a tablet that was
// overridden past its stock warning, or a receipt that never reached the server). Two kits left a
// post that, by the records, never had them: the reconciliation must say so on PPE-SET at NUN
// and centrally, not show a shelf of -2.
TEST_F(ServerReportsTest, AHandoverOfKitsThePostNeverHadIsANamedDifference) {
  RawDb db(server_.db_path());
  const std::string beneficiary =
      db.QueryText("SELECT id FROM beneficiaries WHERE post_id = '" + PostId("NUN") + "' LIMIT 1");
  InsertRaw(
      "INSERT INTO handovers (id, round_id, beneficiary_id, kit_type_id, quantity, post_id, "
      "officer_id, device_id, hlc, wall_ms, proof_kind, proof_ref, collected_by, proxy_relation, "
      "consent, override_reason, overridden_warnings, clock_ahead, server_seq) VALUES "
      "('01900000-0000-7000-8000-0000000000aa', '00000000-0000-7000-8000-000000000032', '" +
      beneficiary + "', '00000000-0000-7000-8000-000000000002', 2, '" + PostId("NUN") +
      "', '00000000-0000-7000-8000-000000000022', '" + nun_.device_id + "', 1, " +
      std::to_string(server_.clock().now()) + ", 'none', '', 'self', '', 1, '', '', 0, " +
      AnyFeedSeq() + ")");

  const v1::ReconcileResponse r = Reconcile();
  EXPECT_FALSE(r.balanced());
  const v1::ReconcileLine& post = LineOf(r, "PPE-SET", "NUN");
  EXPECT_EQ(Line(post), "PPE-SET/NUN: 0 = 2 + 0 + 0 + 0 (-2)");
  EXPECT_THAT(post.notes(), ElementsAre(HasSubstr("deficit: 2 more left the post")));
  const v1::ReconcileLine& central = LineOf(r, "PPE-SET", "");
  EXPECT_EQ(Line(central), "PPE-SET/*: 0 = 2 + 0 + 0 + 0 (-2)");
  EXPECT_THAT(central.notes(), ElementsAre("post NUN does not balance by -2"));
  // The other kit type is untouched.
  EXPECT_EQ(LineOf(r, "HYG-KIT", "").difference(), 0);
  EXPECT_EQ(LineOf(r, "HYG-KIT", "NUN").difference(), 0);

  // The stock report names the same deficit.
  auto stock = reports_.StockByPost(server_.admin_token(), {});
  ASSERT_TRUE(stock.ok());
  bool found = false;
  for (const v1::StockRow& row : stock->rows()) {
    if (row.post_code() == "NUN" && row.kit_type_code() == "PPE-SET") {
      found = true;
      EXPECT_EQ(row.balance(), -2);
      EXPECT_TRUE(row.deficit());
    }
  }
  EXPECT_TRUE(found);
}

// A movement of a kind this server does not know (say 'return', from a newer tablet, or a row
// mended by hand): it changes what is on ENT's shelf but is in none of the identity's figures.
TEST_F(ServerReportsTest, AMovementOfAnUnknownKindIsANamedDifference) {
  InsertRaw(
      "INSERT INTO stock_movements (id, post_id, kit_type_id, kind, quantity, "
      "counterpart_post_id, reference, reason, officer_id, device_id, hlc, wall_ms, clock_ahead, "
      "server_seq) VALUES ('01900000-0000-7000-8000-0000000000bb', '" +
      PostId("ENT") +
      "', '00000000-0000-7000-8000-000000000001', 'return', 4, '', '', '', "
      "'00000000-0000-7000-8000-000000000021', '" +
      ent_.device_id + "', 1, 1, 0, " + AnyFeedSeq() + ")");
  const v1::ReconcileResponse r = Reconcile();
  EXPECT_FALSE(r.balanced());
  const v1::ReconcileLine& ent = LineOf(r, "HYG-KIT", "ENT");
  EXPECT_EQ(Line(ent), "HYG-KIT/ENT: 10040 = 2 + 10035 + 5 + 2 (-4)");
  EXPECT_THAT(ent.notes(), ElementsAre(HasSubstr("1 movement row(s) of unknown kind 'return' "
                                                 "(quantity 4)")));
  EXPECT_EQ(LineOf(r, "HYG-KIT", "").difference(), -4);
  EXPECT_EQ(LineOf(r, "HYG-KIT", "NUN").difference(), 0);
  EXPECT_EQ(LineOf(r, "HYG-KIT", "HQ").difference(), 0);
}

// NUN records 8 arriving from ENT, which sent 5: each post balances on its own rows, but
// centrally 3 kits came from nowhere, and that is named rather than netted against transit.
TEST_F(ServerReportsTest, MoreArrivingThanWasSentIsANamedCentralDifference) {
  Movement(nun_, core::MovementKind::kTransferIn, 8, "ENT");
  Push(nun_);
  const v1::ReconcileResponse r = Reconcile();
  EXPECT_FALSE(r.balanced());
  EXPECT_EQ(r.in_transit_size(), 0);
  EXPECT_EQ(LineOf(r, "HYG-KIT", "NUN").difference(), 0);
  const v1::ReconcileLine& central = LineOf(r, "HYG-KIT", "");
  EXPECT_EQ(Line(central), "HYG-KIT/*: 20100 = 4 + 20094 + 0 + 5 (-3)");
  EXPECT_THAT(central.notes(),
              ElementsAre("NUN recorded 3 more arriving from ENT than ENT recorded sending "
                          "(ENT -> NUN)"));
}

TEST_F(ServerReportsTest, ReportsNeedTheAdminCredential) {
  const std::string device = ent_.token;
  EXPECT_EQ(reports_.Handouts(device, {}).status().code(), core::Code::kPermissionDenied);
  EXPECT_EQ(reports_.StockByPost(device, {}).status().code(), core::Code::kPermissionDenied);
  EXPECT_EQ(reports_.BeneficiariesServed(device, {}).status().code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(reports_.Reconcile(device, {}).status().code(), core::Code::kPermissionDenied);
  for (const std::string& bad : {std::string("ksa_not-the-token"), std::string()}) {
    EXPECT_EQ(reports_.Handouts(bad, {}).status().code(), core::Code::kUnauthenticated);
    EXPECT_EQ(reports_.StockByPost(bad, {}).status().code(), core::Code::kUnauthenticated);
    EXPECT_EQ(reports_.BeneficiariesServed(bad, {}).status().code(), core::Code::kUnauthenticated);
    EXPECT_EQ(reports_.Reconcile(bad, {}).status().code(), core::Code::kUnauthenticated);
  }
}

TEST(ReportDayTest, DaysAreCheckedCalendarDays) {
  EXPECT_EQ(*sync::DayStartMs("since", "1970-01-02"), 86'400'000);
  EXPECT_EQ(*sync::DayStartMs("since", "2026-09-21"), int64_t{20'717} * 86'400'000);
  for (const char* bad :
       {"2026-9-21", "2026-09-31", "21-09-2026", "2026/09/21", "", "2026-09-2x"}) {
    EXPECT_EQ(sync::DayStartMs("since", bad).status().code(), core::Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace kitsync::synctest

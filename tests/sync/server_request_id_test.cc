// The office's writes sent again after their answer was lost: with the same request ID, the
// server returns the first outcome and records nothing twice; the same ID with a different
// request is refused, with nothing applied.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

class ServerRequestIdTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.LoadMasterData(); }

  v1::RecordCentralMovementRequest Receipt(int64_t quantity, const std::string& request_id) {
    v1::RecordCentralMovementRequest r;
    r.set_kind(v1::MOVEMENT_KIND_RECEIPT);
    r.set_kit_type_code("HYG-KIT");
    r.set_post_code("HQ");
    r.set_quantity(quantity);
    r.set_reference("WB-HQ-0001");
    r.set_officer_code("HQ-OF-1");
    r.set_request_id(request_id);
    return r;
  }

  int64_t Count(const std::string& sql) { return RawDb(server_.db_path()).QueryInt(sql); }

  TestServer server_;
};

TEST_F(ServerRequestIdTest, ACentralReceiptSentTwiceUnderOneIdIsRecordedOnce) {
  const std::string id = "0190a1b2-0000-7000-8000-000000000001";
  auto first = server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(10000, id));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(10000, id));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 1);
  EXPECT_EQ(Count("SELECT coalesce(sum(quantity), 0) FROM stock_movements"), 10000);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log WHERE action = 'stock-receipt'"), 1);

  // Without an ID a repeat is a second receipt, as before: the ID is what makes it safe.
  ASSERT_TRUE(
      server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(5, "")).ok());
  ASSERT_TRUE(
      server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(5, "")).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 3);
}

TEST_F(ServerRequestIdTest, AnIdUsedForADifferentRequestIsRefusedWithNothingApplied) {
  const std::string id = "0190a1b2-0000-7000-8000-000000000002";
  ASSERT_TRUE(
      server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(100, id)).ok());
  const int64_t feed = Count("SELECT count(*) FROM feed");
  auto other = server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(200, id));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("different request"));
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM feed"), feed);

  for (const std::string& bad : {std::string(65, 'a'), std::string("with space"),
                                std::string("tab\there")}) {
    auto refused =
        server_.logic().RecordCentralMovement(server_.admin_token(), Receipt(1, bad));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements"), 1);
}

TEST_F(ServerRequestIdTest, ADecisionAndACorrectionSentTwiceAreTakenOnce) {
  Tablet ent = server_.EnrolTablet("ENT", "ENT tablet");
  ASSERT_NE(ent.store, nullptr);
  auto person = ent.store->RegisterBeneficiary({"P1234567", "Siti Rahma", "", 3});
  ASSERT_TRUE(person.ok());
  // A protective-equipment set handed out with none in stock at the post: a deficit for the
  // office to settle.
  core::HandoverInput h;
  h.round_code = "PPE-R1";
  h.beneficiary_id = person->id;
  h.kit_type_code = "PPE-SET";
  h.officer_code = "ENT-OF-1";
  h.consent = true;
  h.override_reason = "carton without a waybill";
  ASSERT_TRUE(ent.store->RecordHandover(h).ok());
  ASSERT_NO_FATAL_FAILURE(PushUntilDrained(server_, ent));
  v1::ListConflictsRequest list;
  list.set_kind("stock-deficit");
  auto deficits = server_.logic().ListConflicts(server_.admin_token(), list);
  ASSERT_TRUE(deficits.ok());
  ASSERT_EQ(deficits->conflicts_size(), 1);

  const int64_t receipts = Count("SELECT count(*) FROM stock_movements WHERE kind = 'receipt'");
  v1::ResolveConflictRequest resolve;
  resolve.set_id(deficits->conflicts(0).id());
  resolve.set_action("receipt");
  resolve.set_quantity(1);
  resolve.set_officer_code("HQ-OF-1");
  resolve.set_note("late waybill");
  resolve.set_actor("Siti (central office)");
  resolve.set_request_id("resolve-0001");
  auto decided = server_.logic().ResolveConflict(server_.admin_token(), resolve);
  ASSERT_TRUE(decided.ok()) << decided.status().ToString();
  // The repeat is answered as the first was, not "only an open conflict is resolved".
  auto repeated = server_.logic().ResolveConflict(server_.admin_token(), resolve);
  ASSERT_TRUE(repeated.ok()) << repeated.status().ToString();
  EXPECT_EQ(repeated->conflict().status(), "resolved");
  ASSERT_EQ(repeated->record_ids_size(), 1);
  EXPECT_EQ(repeated->record_ids(0), decided->record_ids(0));
  EXPECT_EQ(Count("SELECT count(*) FROM stock_movements WHERE kind = 'receipt'"), receipts + 1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_log WHERE action = 'resolve-conflict'"), 1);

  v1::CorrectBeneficiaryRequest correct;
  correct.set_beneficiary_id(person->id);
  correct.set_phone("0812-5555");
  correct.set_officer_code("HQ-OF-1");
  correct.set_actor("Siti (central office)");
  correct.set_request_id("correct-0001");
  auto fixed = server_.logic().CorrectBeneficiary(server_.admin_token(), correct);
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  auto fixed_again = server_.logic().CorrectBeneficiary(server_.admin_token(), correct);
  ASSERT_TRUE(fixed_again.ok()) << fixed_again.status().ToString();
  EXPECT_EQ(fixed_again->correction_id(), fixed->correction_id());
  EXPECT_EQ(Count("SELECT count(*) FROM beneficiary_updates"), 1);
}

}  // namespace
}  // namespace kitsync::synctest

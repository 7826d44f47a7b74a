// A tablet that learns of the office's merge of two registrations: whose a handover is, what the
// entitlement check counts, what may still be done with the retired ID, and that merges apply
// once and in any order.
#include <gtest/gtest.h>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::RawDb;

constexpr char kNunPost[] = "00000000-0000-7000-8000-000000000012";

class TabletMergesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("tablet.db");
    store_ = testing::MakeTablet(path_, {clock_.AsWallClock()});
    ASSERT_NE(store_, nullptr);
    auto x = store_->RegisterBeneficiary({"P1234567", "Ana Lestari", "0812-1111", 4});
    ASSERT_TRUE(x.ok()) << x.status().ToString();
    retired_ = *x;
    MovementInput receipt;
    receipt.kit_type_code = "HYG-KIT";
    receipt.quantity = 10;
    receipt.reference = "WB-1";
    receipt.officer_code = "ENT-OF-1";
    ASSERT_TRUE(store_->RecordMovement(receipt).ok());
    clock_.Advance(1000);
    auto h = store_->RecordHandover(testing::SampleHandover(retired_.id));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handover_ = h->handover.id;
    // The same family, registered at Nunukan.
    kept_ = retired_;
    kept_.id = NewUuidV7();
    kept_.full_name = "Ana Lestari S.";
    kept_.post_id = kNunPost;
    kept_.device_id = NewUuidV7();
    kept_.hlc = {(*clock_.now_ms) + 10, 0};
  }

  BeneficiaryMerge MergeInto(const std::string& kept_id, int64_t at_ms) {
    BeneficiaryMerge m;
    m.id = NewUuidV7();
    m.retired_id = retired_.id;
    m.kept_id = kept_id;
    m.base_hlc = retired_.hlc;
    m.conflict_id = NewUuidV7();
    m.decided_by = "Siti (central office)";
    m.device_id = server_device_;
    m.hlc = {at_ms, 0};
    m.wall_ms = at_ms;
    EXPECT_TRUE(ValidateMergeRecord(m).ok()) << ValidateMergeRecord(m).ToString();
    return m;
  }

  // The kept registration, then the merge, as the server sends them.
  void PullMerge() {
    merge_ = MergeInto(kept_.id, (*clock_.now_ms) + 100);
    ASSERT_TRUE(store_->ApplyPulled({{kept_.hlc, kept_}, {merge_.hlc, merge_}}, ++cursor_).ok());
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::string path_;
  std::unique_ptr<Store> store_;
  Beneficiary retired_;
  Beneficiary kept_;
  BeneficiaryMerge merge_;
  std::string handover_;
  std::string server_device_ = NewUuidV7();
  int64_t cursor_ = 0;
};

TEST_F(TabletMergesTest, ListingTheKeptBeneficiaryShowsTheRetiredOnesHandoversUnchanged) {
  ASSERT_NO_FATAL_FAILURE(PullMerge());
  for (const std::string& asked : {kept_.id, retired_.id}) {
    HandoverFilter f;
    f.beneficiary_id = asked;
    auto listed = store_->ListHandovers(f);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    ASSERT_EQ(listed->size(), 1u) << asked;
    EXPECT_EQ((*listed)[0].handover.id, handover_);
    EXPECT_EQ((*listed)[0].handover.beneficiary_id, retired_.id) << "the fact is never rewritten";
    EXPECT_EQ((*listed)[0].merged_into, kept_.id);
  }
  // The handover row and the change log still say what was recorded.
  RawDb raw(path_);
  EXPECT_EQ(raw.QueryText("SELECT beneficiary_id FROM handovers"), retired_.id);
  auto chain = store_->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);
}

TEST_F(TabletMergesTest, AHandoverForARetiredIdIsRecordedForTheKeptOneAndCountsForTheFamily) {
  ASSERT_NO_FATAL_FAILURE(PullMerge());
  clock_.Advance(1000);
  // The family's kit before the merge counts: a second one needs the officer's reason.
  HandoverInput second = testing::SampleHandover(retired_.id);
  auto refused = store_->RecordHandover(second);
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition) << refused.status().ToString();
  second.override_reason = "household split after the flood; agreed with the round lead";
  auto receipt = store_->RecordHandover(second);
  ASSERT_TRUE(receipt.ok()) << receipt.status().ToString();
  EXPECT_EQ(receipt->handover.beneficiary_id, kept_.id);
  EXPECT_EQ(receipt->merged_from, retired_.id);
  ASSERT_EQ(receipt->overridden.size(), 1u);
  EXPECT_EQ(receipt->overridden[0].code, "entitlement-exceeded");
  // Asked by either ID, the family now has both kits.
  HandoverFilter f;
  f.beneficiary_id = kept_.id;
  auto listed = store_->ListHandovers(f);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
}

TEST_F(TabletMergesTest, AnImportCountsTheFamilysEarlierRowsUnderItsRetiredAndKeptIds) {
  ASSERT_NO_FATAL_FAILURE(PullMerge());
  MovementInput receipt;
  receipt.kit_type_code = "PPE-SET";
  receipt.quantity = 10;
  receipt.reference = "WB-2";
  receipt.officer_code = "ENT-OF-1";
  ASSERT_TRUE(store_->RecordMovement(receipt).ok());
  clock_.Advance(1000);
  // PPE-R1 entitles a beneficiary to two sets: the third of the family's rows is one too many,
  // whichever of its IDs each row names.
  auto ppe = [](const std::string& beneficiary_id) {
    HandoverInput in = testing::SampleHandover(beneficiary_id);
    in.round_code = "PPE-R1";
    in.kit_type_code = "PPE-SET";
    return in;
  };
  auto refused = store_->ImportHandovers({ppe(retired_.id), ppe(kept_.id), ppe(retired_.id)});
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("handover 3: "), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("already received 2 "), std::string::npos)
      << refused.status().message();

  auto imported = store_->ImportHandovers({ppe(retired_.id), ppe(kept_.id)});
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  RawDb raw(path_);
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM handovers WHERE beneficiary_id = '" + kept_.id +
                         "' AND kit_type_id = '00000000-0000-7000-8000-000000000002'"),
            2)
      << "both are recorded for the kept registration";
}

TEST_F(TabletMergesTest, ARetiredIdWhoseKeptRegistrationHasNotArrivedIsRefusedNamingIt) {
  merge_ = MergeInto(kept_.id, (*clock_.now_ms) + 100);
  ASSERT_TRUE(store_->ApplyPulled({{merge_.hlc, merge_}}, ++cursor_).ok());
  auto refused = store_->RecordHandover(testing::SampleHandover(retired_.id));
  EXPECT_EQ(refused.status().code(), Code::kNotFound);
  EXPECT_NE(refused.status().message().find(kept_.id), std::string::npos)
      << refused.status().message();
}

TEST_F(TabletMergesTest, ARetiredBeneficiaryIsNotCorrectedAndTheErrorNamesTheKeptOne) {
  ASSERT_NO_FATAL_FAILURE(PullMerge());
  auto refused = store_->UpdateBeneficiary(
      {retired_.id, std::nullopt, std::string("0812-9999"), std::nullopt, "ENT-OF-1"});
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("merged into " + kept_.id), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(RawDb(path_).QueryInt("SELECT count(*) FROM beneficiary_updates"), 0);
}

TEST_F(TabletMergesTest, LookingUpTheDocumentFindsTheKeptRegistration) {
  auto before = store_->FindBeneficiaryByDocument("P1234567");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->id, retired_.id);
  ASSERT_NO_FATAL_FAILURE(PullMerge());
  auto after = store_->FindBeneficiaryByDocument("P1234567");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->id, kept_.id);
}

TEST_F(TabletMergesTest, MergesApplyOnceAndTheLatestStandsWhateverOrderTheyArriveIn) {
  Beneficiary other = kept_;
  other.id = NewUuidV7();
  const BeneficiaryMerge earlier = MergeInto(other.id, (*clock_.now_ms) + 100);
  const BeneficiaryMerge later = MergeInto(kept_.id, (*clock_.now_ms) + 200);
  ASSERT_TRUE(store_->ApplyPulled({{kept_.hlc, kept_}, {other.hlc, other}}, ++cursor_).ok());
  RawDb raw(path_);
  const std::string standing = "SELECT kept_id || '/' || merge_id FROM beneficiary_merges";
  // Later first, then the earlier one, then the later one again: the later stands.
  for (const BeneficiaryMerge& m : {later, earlier, later}) {
    ASSERT_TRUE(store_->ApplyPulled({{m.hlc, m}}, ++cursor_).ok());
    EXPECT_EQ(raw.QueryText(standing), kept_.id + "/" + later.id);
  }
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM beneficiary_merges"), 1);
  // A merge is the office's: it never enters this tablet's change log.
  EXPECT_EQ(raw.QueryInt("SELECT count(*) FROM change_log WHERE entity = 'beneficiary_merge'"), 0);
}

TEST(MergeRecordTest, CanonicalFormRoundTripsAndValidationRefusesNonsense) {
  BeneficiaryMerge m;
  m.id = NewUuidV7();
  m.retired_id = NewUuidV7();
  m.kept_id = NewUuidV7();
  m.base_hlc = {1'790'000'000'000, 3};
  m.conflict_id = NewUuidV7();
  m.decided_by = "Siti \"central\" office";
  m.device_id = NewUuidV7();
  m.hlc = {1'790'000'000'500, 0};
  m.wall_ms = 1'790'000'000'501;
  ASSERT_TRUE(ValidateMergeRecord(m).ok());
  const std::string encoded = EncodeBeneficiaryMerge(m);
  auto decoded = DecodeBeneficiaryMerge(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(EncodeBeneficiaryMerge(*decoded), encoded);
  auto logged = ToLoggedForm(Record(m));
  ASSERT_TRUE(logged.ok());
  EXPECT_EQ(logged->entity, "beneficiary_merge");
  auto back = DecodeLogged(logged->entity, logged->payload);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(EncodeBeneficiaryMerge(std::get<BeneficiaryMerge>(*back)), encoded);

  BeneficiaryMerge self = m;
  self.kept_id = m.retired_id;
  EXPECT_EQ(ValidateMergeRecord(self).code(), Code::kInvalidArgument);
  BeneficiaryMerge blind = m;
  blind.base_hlc = m.hlc;  // a merge orders after what it saw
  EXPECT_EQ(ValidateMergeRecord(blind).code(), Code::kInvalidArgument);
  BeneficiaryMerge nobody = m;
  nobody.decided_by = "";
  EXPECT_EQ(ValidateMergeRecord(nobody).code(), Code::kInvalidArgument);
  EXPECT_FALSE(DecodeBeneficiaryMerge(R"({"id":"x"})").ok());
}

}  // namespace
}  // namespace kitsync::core

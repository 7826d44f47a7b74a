// Recording, checking, importing and voiding handovers.
#include <gtest/gtest.h>

#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::CanonicalDump;
using testing::SampleHandover;
using testing::TempDir;

class HandoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("tablet.db");
    store_ = testing::MakeTablet(path_, {clock_.AsWallClock()});
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->RecordMovement({MovementKind::kReceipt, "HYG-KIT", 5, "", "WB-1", "",
                                        "ENT-OF-1"})
                    .ok());
    ASSERT_TRUE(store_->RecordMovement({MovementKind::kReceipt, "PPE-SET", 5, "", "WB-2", "",
                                        "ENT-OF-1"})
                    .ok());
    auto b = store_->RegisterBeneficiary({"B7654321", "Siti Rahma", "", 3});
    ASSERT_TRUE(b.ok());
    beneficiary_ = b->id;
  }

  // Records `in` and expects it to be refused with `code`, leaving the database unchanged.
  void ExpectRefused(const HandoverInput& in, Code code, const std::string& words) {
    const std::string before = CanonicalDump(path_);
    auto r = store_->RecordHandover(in);
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    EXPECT_EQ(CanonicalDump(path_), before);
  }

  TempDir dir_;
  testing::ManualClock clock_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::string beneficiary_;
};

TEST_F(HandoverTest, RecordedHandoverKeepsWhoWhatWhereAndWhen) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.collected_by = Collector::kProxy;
  in.proxy_relation = "spouse";
  auto r = store_->RecordHandover(in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto list = store_->ListHandovers({});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const HandoverView& v = (*list)[0];
  EXPECT_EQ(v.handover.id, r->handover.id);
  EXPECT_EQ(v.round_code, "HYG-R1");
  EXPECT_EQ(v.kit_type_code, "HYG-KIT");
  EXPECT_EQ(v.officer_code, "ENT-OF-1");
  EXPECT_EQ(v.handover.beneficiary_id, beneficiary_);
  EXPECT_EQ(v.handover.device_id, store_->identity().device_id);
  EXPECT_EQ(v.handover.wall_ms, *clock_.now_ms);
  EXPECT_EQ(v.handover.proof_kind, ProofKind::kSignature);
  EXPECT_EQ(v.handover.proxy_relation, "spouse");
  EXPECT_TRUE(v.handover.consent);
  EXPECT_FALSE(v.void_record.has_value());
}

TEST_F(HandoverTest, UnknownReferencesAreNamedWithTheKnownCodes) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.kit_type_code = "HYG-KTI";
  ExpectRefused(in, Code::kInvalidArgument, "Known kit types: HYG-KIT, PPE-SET");
  in = SampleHandover(beneficiary_);
  in.round_code = "NOPE";
  ExpectRefused(in, Code::kInvalidArgument, "unknown round 'NOPE'");
  in = SampleHandover(beneficiary_);
  in.officer_code = "ENT-OF-9";
  ExpectRefused(in, Code::kInvalidArgument, "unknown officer");
}

TEST_F(HandoverTest, QuantityOutsideSaneBoundsIsRefused) {
  HandoverInput in = SampleHandover(beneficiary_);
  for (int64_t q : {int64_t{0}, int64_t{-1}, kMaxQuantity + 1}) {
    in.quantity = q;
    ExpectRefused(in, Code::kInvalidArgument, "quantity");
  }
}

TEST_F(HandoverTest, MalformedOrUnknownBeneficiaryIsRefused) {
  ExpectRefused(SampleHandover("12345"), Code::kInvalidArgument, "not a valid ID");
  ExpectRefused(SampleHandover("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f"), Code::kNotFound,
                "register the beneficiary first");
}

TEST_F(HandoverTest, MissingProofIsRefusedWhereTheRoundRequiresIt) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.proof = {};
  ExpectRefused(in, Code::kInvalidArgument, "requires proof of receipt");
  // The PPE round does not require proof.
  in.round_code = "PPE-R1";
  in.kit_type_code = "PPE-SET";
  EXPECT_TRUE(store_->RecordHandover(in).ok());
}

TEST_F(HandoverTest, ConsentIsRequired) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.consent = false;
  ExpectRefused(in, Code::kInvalidArgument, "consent");
}

TEST_F(HandoverTest, ProxyCollectionNeedsTheRelation) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.collected_by = Collector::kProxy;
  ExpectRefused(in, Code::kInvalidArgument, "relation");
}

TEST_F(HandoverTest, TooLongTextIsRefused) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.proof.ref = std::string(kMaxReferenceLength + 1, 'x');
  ExpectRefused(in, Code::kInvalidArgument, "longer than");
}

TEST_F(HandoverTest, KitTypeOutsideTheRoundIsRefused) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.kit_type_code = "PPE-SET";
  ExpectRefused(in, Code::kInvalidArgument, "not distributed in round HYG-R1");
}

TEST_F(HandoverTest, OfficerOfAnotherPostIsRefused) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.officer_code = "NUN-OF-1";
  ExpectRefused(in, Code::kPermissionDenied, "not posted at ENT");
}

TEST_F(HandoverTest, SecondKitInTheRoundWarnsAndNeedsAReason) {
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(beneficiary_)).ok());
  auto warnings = store_->CheckHandover(SampleHandover(beneficiary_));
  ASSERT_TRUE(warnings.ok());
  ASSERT_EQ(warnings->size(), 1u);
  EXPECT_EQ((*warnings)[0].code, "entitlement-exceeded");
  ExpectRefused(SampleHandover(beneficiary_), Code::kFailedPrecondition, "already received 1");

  HandoverInput in = SampleHandover(beneficiary_);
  in.override_reason = "household of 9, approved by supervisor";
  auto r = store_->RecordHandover(in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->overridden.size(), 1u);
  auto list = store_->ListHandovers({});
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].handover.override_reason, in.override_reason);
  EXPECT_EQ((*list)[1].handover.overridden_warnings, std::vector<std::string>{"entitlement-exceeded"});
}

TEST_F(HandoverTest, HandingOutMoreThanTheStockWarns) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.round_code = "PPE-R1";
  in.kit_type_code = "PPE-SET";
  in.quantity = 2;
  ASSERT_TRUE(store_->RecordMovement({MovementKind::kAdjustment, "PPE-SET", -4, "", "",
                                      "water damage", "ENT-OF-1"})
                  .ok());  // 1 left
  ExpectRefused(in, Code::kFailedPrecondition, "stock of PPE-SET is 1");
  in.override_reason = "second carton found unopened, count pending";
  auto r = store_->RecordHandover(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->overridden[0].code, "stock-exceeded");
}

TEST_F(HandoverTest, AReasonWithoutAWarningIsNotRecordedAsAnOverride) {
  HandoverInput in = SampleHandover(beneficiary_);
  in.override_reason = "just in case";
  auto r = store_->RecordHandover(in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->handover.override_reason.empty());
}

TEST_F(HandoverTest, VoidedHandoverKeepsItsHistoryAndFreesTheEntitlement) {
  auto first = store_->RecordHandover(SampleHandover(beneficiary_));
  ASSERT_TRUE(first.ok());
  auto v = store_->VoidHandover({first->handover.id, "recorded for the wrong family", "ENT-OF-1"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  // The entitlement is free again, so no warning.
  auto second = store_->RecordHandover(SampleHandover(beneficiary_));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->overridden.empty());

  auto all = store_->ListHandovers({});
  ASSERT_EQ(all->size(), 2u);
  ASSERT_TRUE((*all)[0].void_record.has_value());
  EXPECT_EQ((*all)[0].void_record->reason, "recorded for the wrong family");
  HandoverFilter live;
  live.include_voided = false;
  EXPECT_EQ(store_->ListHandovers(live)->size(), 1u);
}

TEST_F(HandoverTest, VoidingTwiceOrWithoutReasonIsRefused) {
  auto h = store_->RecordHandover(SampleHandover(beneficiary_));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(store_->VoidHandover({h->handover.id, "", "ENT-OF-1"}).status().code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(store_->VoidHandover({h->handover.id, "duplicate entry", "ENT-OF-1"}).ok());
  const std::string before = CanonicalDump(path_);
  auto again = store_->VoidHandover({h->handover.id, "duplicate entry", "ENT-OF-1"});
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->VoidHandover({"0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", "x", "ENT-OF-1"})
                .status()
                .code(),
            Code::kNotFound);
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(HandoverTest, HandoversCannotBeRewrittenInTheDatabase) {
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(beneficiary_)).ok());
  testing::RawDb raw(path_);
  EXPECT_THROW(raw.Exec("UPDATE handovers SET quantity = 2"), std::runtime_error);
  EXPECT_THROW(raw.Exec("DELETE FROM handovers"), std::runtime_error);
}

TEST_F(HandoverTest, ListFiltersByRoundKitAndBeneficiary) {
  auto other = store_->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(beneficiary_)).ok());
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(other->id)).ok());
  HandoverInput ppe = SampleHandover(other->id);
  ppe.round_code = "PPE-R1";
  ppe.kit_type_code = "PPE-SET";
  ASSERT_TRUE(store_->RecordHandover(ppe).ok());

  HandoverFilter f;
  f.round_code = "PPE-R1";
  EXPECT_EQ(store_->ListHandovers(f)->size(), 1u);
  f = {};
  f.beneficiary_id = other->id;
  EXPECT_EQ(store_->ListHandovers(f)->size(), 2u);
  f = {};
  f.kit_type_code = "HYG-KIT";
  f.limit = 1;
  EXPECT_EQ(store_->ListHandovers(f)->size(), 1u);
  f = {};
  f.kit_type_code = "NOPE";
  EXPECT_EQ(store_->ListHandovers(f).status().code(), Code::kInvalidArgument);
}

TEST_F(HandoverTest, BulkImportCountsItsOwnHandoversAgainstEntitlement) {
  std::vector<HandoverInput> batch = {SampleHandover(beneficiary_), SampleHandover(beneficiary_)};
  const std::string before = CanonicalDump(path_);
  auto r = store_->ImportHandovers(batch);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("handover 2"), std::string::npos);
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(HandoverTest, BulkImportIsAllOrNothing) {
  auto other = store_->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(other.ok());
  HandoverInput bad = SampleHandover(other->id);
  bad.quantity = 0;
  const std::string before = CanonicalDump(path_);
  EXPECT_EQ(store_->ImportHandovers({SampleHandover(beneficiary_), bad}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(path_), before);

  auto ok = store_->ImportHandovers({SampleHandover(beneficiary_), SampleHandover(other->id)});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, 2);
  EXPECT_TRUE(store_->VerifyChain()->ok);
  EXPECT_EQ(store_->GetStatus()->pending, 2 + 2 + 2);  // receipts, registrations, handovers
}

TEST_F(HandoverTest, BulkImportCountsItsOwnHandoversAgainstStock) {
  std::vector<HandoverInput> batch;
  for (int i = 0; i < 6; ++i) {
    auto b = store_->RegisterBeneficiary({"D00000" + std::to_string(10 + i), "N", "", 1});
    ASSERT_TRUE(b.ok());
    batch.push_back(SampleHandover(b->id));
  }
  auto r = store_->ImportHandovers(batch);  // 5 kits in stock, 6 handovers
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("handover 6"), std::string::npos) << r.status().message();
}

TEST_F(HandoverTest, BulkImportRowsKeepNothingOfTheRowBefore) {
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(beneficiary_)).ok());
  auto other = store_->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(other.ok());
  HandoverInput second_kit = SampleHandover(beneficiary_);
  second_kit.override_reason = "household of 9, approved by supervisor";
  second_kit.collected_by = Collector::kProxy;
  second_kit.proxy_relation = "spouse";
  HandoverInput plain = SampleHandover(other->id);
  plain.proof = {ProofKind::kNone, ""};
  plain.round_code = "PPE-R1";
  plain.kit_type_code = "PPE-SET";
  auto r = store_->ImportHandovers({second_kit, plain});
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  HandoverFilter f;
  f.beneficiary_id = other->id;
  auto listed = store_->ListHandovers(f);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const Handover& h = (*listed)[0].handover;
  EXPECT_EQ(h.beneficiary_id, other->id);
  EXPECT_EQ((*listed)[0].round_code, "PPE-R1");
  EXPECT_EQ((*listed)[0].kit_type_code, "PPE-SET");
  EXPECT_EQ(h.proof_kind, ProofKind::kNone);
  EXPECT_EQ(h.proof_ref, "");
  EXPECT_EQ(h.collected_by, Collector::kSelf);
  EXPECT_EQ(h.proxy_relation, "");
  EXPECT_EQ(h.override_reason, "");
  EXPECT_TRUE(h.overridden_warnings.empty());
  f.beneficiary_id = beneficiary_;
  listed = store_->ListHandovers(f);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_NE((*listed)[1].handover.id, h.id);
  EXPECT_EQ((*listed)[1].handover.overridden_warnings,
            std::vector<std::string>{"entitlement-exceeded"});
  EXPECT_TRUE(store_->VerifyChain()->ok);
}

// A second registration of `of`'s family, as pulled from a tablet at Nunukan: the same
// document hash under another beneficiary ID.
Beneficiary FamilyRegisteredElsewhere(const Beneficiary& of, int64_t at_ms) {
  Beneficiary b = of;
  b.id = NewUuidV7();
  b.full_name = of.full_name + " (Nunukan)";
  b.post_id = "00000000-0000-7000-8000-000000000012";
  b.device_id = NewUuidV7();
  b.hlc = {at_ms, 0};
  return b;
}

TEST_F(HandoverTest, BulkImportCountsItsEarlierRowsForTheFamilyUnderAnotherRegistration) {
  auto registered = store_->FindBeneficiaryByDocument("B7654321");
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  const Beneficiary twin = FamilyRegisteredElsewhere(*registered, *clock_.now_ms + 10);
  ASSERT_TRUE(store_->ApplyPulled({{twin.hlc, twin}}, 1).ok());

  const std::string before = CanonicalDump(path_);
  auto r = store_->ImportHandovers({SampleHandover(beneficiary_), SampleHandover(twin.id)});
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("handover 2: "), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("already received 1 "), std::string::npos)
      << r.status().message();
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(HandoverTest, BulkImportCountsEarlierRowsOfTheFamilyHoweverFarBack) {
  ASSERT_TRUE(store_->RecordMovement({MovementKind::kReceipt, "HYG-KIT", 2000, "", "WB-3", "",
                                      "ENT-OF-1"})
                  .ok());
  // Many families, pulled in one batch: a long import's rows between the family's two kits.
  constexpr int kOthers = 1200;
  std::vector<RemoteChange> others;
  auto registered = store_->FindBeneficiaryByDocument("B7654321");
  ASSERT_TRUE(registered.ok());
  for (int i = 0; i < kOthers; ++i) {
    Beneficiary b = FamilyRegisteredElsewhere(*registered, *clock_.now_ms + 10 + i);
    b.doc_hash = DocumentHash("programme-key-0123", "E" + std::to_string(1'000'000 + i));
    others.push_back({b.hlc, b});
  }
  ASSERT_TRUE(store_->ApplyPulled(others, 1).ok());

  std::vector<HandoverInput> batch = {SampleHandover(beneficiary_)};
  for (const RemoteChange& other : others) {
    batch.push_back(SampleHandover(std::get<Beneficiary>(other.record).id));
  }
  batch.push_back(SampleHandover(beneficiary_));
  auto r = store_->ImportHandovers(batch);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  const std::string last = "handover " + std::to_string(kOthers + 2) + ": ";
  EXPECT_NE(r.status().message().find(last), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("already received 1 "), std::string::npos)
      << r.status().message();

  // With the officer's reason, every row is written, and only the family's second kit is an
  // override.
  batch.back().override_reason = "second kit agreed with the round lead";
  r = store_->ImportHandovers(batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, kOthers + 2);
  HandoverFilter overridden;
  overridden.beneficiary_id = beneficiary_;
  auto family = store_->ListHandovers(overridden);
  ASSERT_TRUE(family.ok());
  ASSERT_EQ(family->size(), 2u);
  EXPECT_TRUE((*family)[0].handover.overridden_warnings.empty());
  EXPECT_EQ((*family)[1].handover.overridden_warnings,
            std::vector<std::string>{"entitlement-exceeded"});
  EXPECT_TRUE(store_->VerifyChain()->ok);
}

}  // namespace
}  // namespace kitsync::core

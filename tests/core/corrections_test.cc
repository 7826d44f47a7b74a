// Corrections of a beneficiary's details: the officer's command, the canonical form, and the
// rule every replica applies (field by field, the later version stands), in SQL as in core.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "kitsync/core/canonical.h"
#include "kitsync/core/conflicts.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::CanonicalDump;

constexpr char kOfficer[] = "00000000-0000-7000-8000-000000000021";  // ENT-OF-1

class CorrectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("tablet.db");
    store_ = testing::MakeTablet(path_, {clock_.AsWallClock()});
    ASSERT_NE(store_, nullptr);
    auto b = store_->RegisterBeneficiary({"P1234567", "Ana Lestari", "0812-1111", 4});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    registered_ = *b;
  }

  Result<BeneficiaryUpdate> Correct(std::optional<std::string> name,
                                    std::optional<std::string> phone,
                                    std::optional<int64_t> household,
                                    const std::string& officer = "ENT-OF-1") {
    return store_->UpdateBeneficiary({registered_.id, name, phone, household, officer});
  }

  testing::TempDir dir_;
  testing::ManualClock clock_;
  std::string path_;
  std::unique_ptr<Store> store_;
  Beneficiary registered_;
};

TEST_F(CorrectionsTest, ACorrectionChangesOnlyTheFieldsGivenAndEntersTheChangeLog) {
  clock_.Advance(1000);
  auto u = Correct(std::nullopt, std::string("0812-2222"), std::nullopt);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_FALSE(u->full_name.has_value());
  EXPECT_EQ(u->base_hlc, registered_.hlc);
  EXPECT_GT(u->hlc, registered_.hlc);
  auto now = store_->GetBeneficiary(registered_.id);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->phone, "0812-2222");
  EXPECT_EQ(now->full_name, "Ana Lestari");
  EXPECT_EQ(now->household_size, 4);
  auto pending = store_->PendingChanges(100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->back().entity, "beneficiary_update");
  auto decoded = DecodeBeneficiaryUpdate(pending->back().payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(EncodeBeneficiaryUpdate(*decoded), pending->back().payload);
  EXPECT_EQ(decoded->phone, std::optional<std::string>("0812-2222"));
  auto chain = store_->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);

  // The next correction has seen this one.
  auto second = Correct(std::string("Ana L."), std::nullopt, std::nullopt);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->base_hlc, u->hlc);
}

TEST_F(CorrectionsTest, RefusedCorrectionsWriteNothing) {
  const std::string before = CanonicalDump(path_);
  EXPECT_EQ(Correct(std::nullopt, std::nullopt, std::nullopt).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Correct(std::string("Ana Lestari"), std::nullopt, std::nullopt).status().code(),
            Code::kFailedPrecondition);  // already so: nothing to correct
  EXPECT_EQ(Correct(std::string(""), std::nullopt, std::nullopt).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Correct(std::nullopt, std::nullopt, int64_t{0}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Correct(std::nullopt, std::nullopt, int64_t{51}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Correct(std::string(201, 'x'), std::nullopt, std::nullopt).status().code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(Correct(std::nullopt, std::string("1"), std::nullopt, "NOBODY").ok());
  EXPECT_EQ(store_->UpdateBeneficiary({"0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", std::nullopt,
                                       std::string("1"), std::nullopt, "ENT-OF-1"})
                .status()
                .code(),
            Code::kNotFound);
  EXPECT_EQ(store_->UpdateBeneficiary({"not-an-id", std::nullopt, std::string("1"), std::nullopt,
                                       "ENT-OF-1"})
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(path_), before);
}

// Corrections from three devices, with bases that saw some of the others, pulled by two tablets
// in different orders, some twice: both hold what core's rule says, field for field.
TEST_F(CorrectionsTest, PulledCorrectionsInAnyOrderGiveTheDetailsCoreComputes) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const std::vector<std::string> devices = {"00000000-0000-7000-8000-0000000000d1",
                                              "00000000-0000-7000-8000-0000000000d2",
                                              "00000000-0000-7000-8000-0000000000d3"};
    std::vector<BeneficiaryUpdate> made;
    int64_t t = registered_.hlc.physical_ms;
    for (int i = 0; i < 6; ++i) {
      BeneficiaryUpdate u;
      u.id = NewUuidV7();
      u.beneficiary_id = registered_.id;
      if (rng() % 2) u.full_name = "Name " + std::to_string(rng() % 3);
      if (rng() % 2 || !u.full_name) u.phone = "08" + std::to_string(rng() % 3);
      if (rng() % 3 == 0) u.household_size = 1 + static_cast<int64_t>(rng() % 5);
      u.post_id = registered_.post_id;
      u.officer_id = kOfficer;
      u.device_id = devices[rng() % 3];
      // Same HLC at two devices now and then, so the device ID decides; one device's clock
      // never gives two of its changes the same HLC.
      t += static_cast<int64_t>(rng() % 2);
      u.hlc = {t, static_cast<uint32_t>(rng() % 2)};
      while (std::any_of(made.begin(), made.end(), [&](const BeneficiaryUpdate& m) {
        return m.device_id == u.device_id && m.hlc == u.hlc;
      })) {
        u.hlc = {++t, 0};
      }
      u.base_hlc = made.empty() || rng() % 2 ? registered_.hlc : made[rng() % made.size()].hlc;
      if (u.base_hlc > u.hlc) u.base_hlc = registered_.hlc;
      u.wall_ms = t;
      ASSERT_TRUE(ValidateBeneficiaryUpdateRecord(u).ok());
      made.push_back(u);
    }
    const Beneficiary expected = CurrentDetails(registered_, made);
    std::string digest;
    for (int replica = 0; replica < 2; ++replica) {
      std::vector<BeneficiaryUpdate> order = made;
      order.push_back(made[rng() % made.size()]);  // one delivered twice
      std::shuffle(order.begin(), order.end(), rng);
      const std::string path = dir_.File("r" + std::to_string(seed) + "-" + std::to_string(replica));
      auto r = testing::MakeTablet(path, {clock_.AsWallClock()});
      ASSERT_NE(r, nullptr);
      ASSERT_TRUE(r->ApplyPulled({{registered_.hlc, registered_}}, 1).ok());
      int64_t cursor = 1;
      for (const BeneficiaryUpdate& u : order) {
        ASSERT_TRUE(r->ApplyPulled({{u.hlc, u}}, ++cursor).ok());
      }
      auto held = r->GetBeneficiary(registered_.id);
      ASSERT_TRUE(held.ok());
      EXPECT_EQ(held->full_name, expected.full_name);
      EXPECT_EQ(held->phone, expected.phone);
      EXPECT_EQ(held->household_size, expected.household_size);
      auto d = r->DigestFacts();
      ASSERT_TRUE(d.ok());
      if (replica == 0) digest = d->sha256_hex;
      EXPECT_EQ(d->sha256_hex, digest);
    }
  }
}

BeneficiaryUpdate Edit(const std::string& id, const std::string& device, int64_t at, int64_t base,
                       std::optional<std::string> phone) {
  BeneficiaryUpdate u;
  u.id = id;
  u.beneficiary_id = "b";
  u.phone = std::move(phone);
  u.post_id = "p";
  u.device_id = device;
  u.hlc = {at, 0};
  u.base_hlc = {base, 0};
  return u;
}

TEST(ConcurrentUpdateTest, EditsThatSawEachOtherOrAgreeAreNoConflict) {
  Beneficiary b;
  b.id = "b";
  b.phone = "1";
  b.hlc = {10, 0};
  // The second saw the first.
  EXPECT_FALSE(DetectConcurrentUpdate(b, {Edit("u1", "d1", 20, 10, "2"), Edit("u2", "d2", 30, 20, "3")}, {}));
  // Concurrent, but the same value.
  EXPECT_FALSE(DetectConcurrentUpdate(b, {Edit("u1", "d1", 20, 10, "2"), Edit("u2", "d2", 30, 10, "2")}, {}));
  // One device's edits are ordered by that device.
  EXPECT_FALSE(DetectConcurrentUpdate(b, {Edit("u1", "d1", 20, 10, "2"), Edit("u2", "d1", 30, 10, "3")}, {}));
}

TEST(ConcurrentUpdateTest, EditsThatDidNotSeeEachOtherAreListedWithTheBaseAndTheLaterStands) {
  Beneficiary b;
  b.id = "b";
  b.phone = "1";
  b.hlc = {10, 0};
  auto c = DetectConcurrentUpdate(
      b, {Edit("u2", "d2", 30, 10, "3"), Edit("u1", "d1", 20, 10, "2")}, {"u2"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, ConflictKind::kConcurrentUpdate);
  EXPECT_EQ(c->key, "concurrent-update/b");
  ASSERT_EQ(c->sides.size(), 3u);
  EXPECT_EQ(c->sides[0].entity, "base");
  EXPECT_EQ(c->sides[0].detail, "before the corrections: phone '1'");
  EXPECT_EQ(c->sides[1].entity_id, "u1");
  EXPECT_EQ(c->sides[2].entity_id, "u2");
  EXPECT_TRUE(c->sides[2].clock_ahead);
  EXPECT_TRUE(c->clock_ahead);
  EXPECT_NE(c->provisional.find("phone '3'"), std::string::npos) << c->provisional;
  EXPECT_NE(c->provisional.find("beyond the allowed skew"), std::string::npos);
  EXPECT_EQ(CurrentDetails(b, {Edit("u2", "d2", 30, 10, "3"), Edit("u1", "d1", 20, 10, "2")}).phone,
            "3");
  // Same HLC: the greater device ID stands, on every replica.
  EXPECT_EQ(CurrentDetails(b, {Edit("u1", "d1", 20, 10, "2"), Edit("u2", "d2", 20, 10, "3")}).phone,
            "3");
  EXPECT_EQ(CurrentDetails(b, {Edit("u2", "d2", 20, 10, "3"), Edit("u1", "d1", 20, 10, "2")}).phone,
            "3");
}

}  // namespace
}  // namespace kitsync::core

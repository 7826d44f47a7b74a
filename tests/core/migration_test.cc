// A tablet in the field upgrades kitsync with a round's records on it: opening its database
// migrates it step by step to the current schema, and nothing recorded before is lost or
// changed. The fixture is a database written by kitsync at schema version 1.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kitsync/core/store.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::TempDir;

std::set<std::string> Column(const std::string& path, const std::string& query) {
  return testing::RawDb(path).QueryColumn(query);
}

class TabletMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::LoadSqlFile(db_, std::string(KITSYNC_FIXTURES_DIR) + "/tablet_schema_v1.sql");
    ASSERT_EQ(Column(db_, "PRAGMA user_version"), std::set<std::string>{"1"});
  }

  TempDir dir_;
  const std::string db_ = dir_.File("tablet.db");
};

TEST_F(TabletMigrationTest, VersionOneDatabaseOpensUpgradedWithEveryRecordKept) {
  const std::set<std::string> handovers = Column(db_, "SELECT id FROM handovers");
  const std::set<std::string> beneficiaries = Column(db_, "SELECT id FROM beneficiaries");
  const std::set<std::string> entries = Column(db_, "SELECT seq || '/' || hash FROM change_log");
  ASSERT_EQ(handovers.size(), 52u);
  ASSERT_EQ(entries.size(), 105u);

  auto store = Store::Open(db_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(Column(db_, "PRAGMA user_version"), std::set<std::string>{"5"});
  // The same rows, and the change log untouched entry for entry.
  EXPECT_EQ(Column(db_, "SELECT id FROM handovers"), handovers);
  EXPECT_EQ(Column(db_, "SELECT id FROM beneficiaries"), beneficiaries);
  EXPECT_EQ(Column(db_, "SELECT seq || '/' || hash FROM change_log"), entries);

  auto status = (*store)->GetStatus(/*verify_chain=*/true);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_TRUE(status->chain.ok) << status->chain.problem;
  EXPECT_EQ(status->chain.entries, 105);
  EXPECT_EQ(status->pending, 105);
  EXPECT_EQ(status->identity.post_code, "ENT");

  auto stock = (*store)->Stock();
  ASSERT_TRUE(stock.ok()) << stock.status().ToString();
  for (const StockLine& line : *stock) {
    if (line.kit_type_code == "HYG-KIT") {
      EXPECT_EQ(line.received, 200);
      EXPECT_EQ(line.handed_out, 51);
      EXPECT_EQ(line.balance, 149);
    } else {
      EXPECT_EQ(line.kit_type_code, "PPE-SET");
      EXPECT_EQ(line.balance, 20);
    }
  }
  HandoverFilter all;
  auto listed = (*store)->ListHandovers(all);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 52u);
  int voided = 0;
  for (const HandoverView& h : *listed) voided += h.void_record.has_value();
  EXPECT_EQ(voided, 1);
  EXPECT_TRUE((*store)->DigestFacts().ok());
}

TEST_F(TabletMigrationTest, UpgradedTabletRecordsCorrectsAndChainsOnFromItsOldLog) {
  {
    auto store = Store::Open(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  // Opened a second time, nothing migrates again.
  auto store = Store::Open(db_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto person = (*store)->RegisterBeneficiary({"B99990001", "Yuni Bere", "", 3});
  ASSERT_TRUE(person.ok()) << person.status().ToString();
  HandoverInput kit;
  kit.round_code = "HYG-2026-11";
  kit.beneficiary_id = person->id;
  kit.kit_type_code = "HYG-KIT";
  kit.officer_code = "ENT-OF-01";
  kit.proof = {ProofKind::kSignature, "sig-after-upgrade"};
  kit.consent = true;
  auto receipt = (*store)->RecordHandover(kit);
  ASSERT_TRUE(receipt.ok()) << receipt.status().ToString();
  // A correction needs the per-field versions added by a later step.
  BeneficiaryUpdateInput fix;
  fix.beneficiary_id = person->id;
  fix.phone = "+62 812 0000 1111";
  fix.officer_code = "ENT-OF-01";
  auto corrected = (*store)->UpdateBeneficiary(fix);
  ASSERT_TRUE(corrected.ok()) << corrected.status().ToString();
  // So does a correction of a beneficiary registered before the upgrade.
  const std::string old_id = *Column(db_, "SELECT min(id) FROM beneficiaries WHERE id <> '" +
                                              person->id + "'")
                                  .begin();
  fix.beneficiary_id = old_id;
  ASSERT_TRUE((*store)->UpdateBeneficiary(fix).ok());
  auto updated = (*store)->GetBeneficiary(old_id);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->phone, "+62 812 0000 1111");

  auto status = (*store)->GetStatus(/*verify_chain=*/true);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->chain.ok) << status->chain.problem;
  EXPECT_EQ(status->chain.entries, 109);
  EXPECT_EQ(status->pending, 109);
}

}  // namespace
}  // namespace kitsync::core

// The tablet database: creation, schema, master data, beneficiaries, the change log.
#include "kitsync/core/store.h"

#include <gtest/gtest.h>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::CanonicalDump;
using testing::MakeTablet;
using testing::RawDb;
using testing::SampleMasterData;
using testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("tablet.db");
    store_ = MakeTablet(path_, {clock_.AsWallClock()});
    ASSERT_NE(store_, nullptr);
  }

  Beneficiary Register(const std::string& doc) {
    auto b = store_->RegisterBeneficiary({doc, "Siti Rahma", "", 3});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : Beneficiary{};
  }

  TempDir dir_;
  testing::ManualClock clock_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, CreateRefusesAnExistingFile) {
  auto again = Store::Create(path_, {"ENT", "tablet-2", "programme-key-0123", ""});
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
}

TEST_F(StoreTest, CreateRefusesAShortProgrammeKey) {
  auto s = Store::Create(dir_.File("other.db"), {"ENT", "t", "short", ""});
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("other.db")));
}

TEST_F(StoreTest, OpenOfAMissingFileSaysToInitialise) {
  auto s = Store::Open(dir_.File("missing.db"));
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_NE(s.status().message().find("kitsync init"), std::string::npos);
}

TEST_F(StoreTest, SchemaVersionIsRecordedAndWalIsOn) {
  RawDb raw(path_);
  EXPECT_EQ(raw.QueryInt("PRAGMA user_version"), 5);
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
}

TEST_F(StoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  RawDb(path_).Exec("PRAGMA user_version=99");
  auto s = Store::Open(path_);
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition);
}

TEST_F(StoreTest, IdentitySurvivesReopening) {
  const DeviceIdentity before = store_->identity();
  store_.reset();
  auto reopened = Store::Open(path_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->identity().device_id, before.device_id);
  EXPECT_EQ((*reopened)->identity().post_code, "ENT");
  EXPECT_TRUE(IsValidUuid(before.device_id));
}

TEST_F(StoreTest, MasterDataImportIsIdempotent) {
  ASSERT_TRUE(store_->ImportMasterData(SampleMasterData()).ok());
  ASSERT_TRUE(store_->ImportMasterData(SampleMasterData()).ok());
  auto m = store_->LoadMasterData();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kit_types.size(), 2u);
  EXPECT_EQ(m->rounds.size(), 2u);
  EXPECT_EQ(m->rounds[0].entitlements.size(), 1u);
}

TEST_F(StoreTest, MasterDataImportIsAllOrNothing) {
  const std::string before = CanonicalDump(path_);
  MasterData m = SampleMasterData();
  m.kit_types.push_back({NewUuidV7(), "WATER", "Water", "crate"});
  m.rounds.push_back({NewUuidV7(), "BAD", "Bad round", true, {}});  // no entitlements
  EXPECT_EQ(store_->ImportMasterData(m).code(), Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(StoreTest, MasterDataWithACodeClaimedTwiceIsRefused) {
  const std::string before = CanonicalDump(path_);
  MasterData m;
  m.kit_types.push_back({NewUuidV7(), "HYG-KIT", "Another hygiene kit", "kit"});
  Status s = store_->ImportMasterData(m);
  EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(StoreTest, MasterDataIsNotPartOfTheChangeLog) {
  auto st = store_->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->last_seq, 0);
}

TEST_F(StoreTest, DocumentNumberIsStoredOnlyAsItsKeyedHash) {
  Beneficiary b = Register("B 7654321");
  EXPECT_EQ(b.doc_hash, DocumentHash("programme-key-0123", "B7654321"));
  store_.reset();
  const std::string dump = CanonicalDump(path_);
  EXPECT_EQ(dump.find("7654321"), std::string::npos);
}

TEST_F(StoreTest, RegisteringTheSameDocumentTwiceNamesTheExistingBeneficiary) {
  Beneficiary b = Register("B7654321");
  auto again = store_->RegisterBeneficiary({"b 765-4321", "Siti R.", "", 3});
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find(b.id), std::string::npos);
}

TEST_F(StoreTest, BeneficiaryIsFoundByItsDocumentNumber) {
  Beneficiary b = Register("B7654321");
  auto found = store_->FindBeneficiaryByDocument("b7654321");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, b.id);
  EXPECT_EQ(store_->FindBeneficiaryByDocument("X0000000").status().code(), Code::kNotFound);
}

TEST_F(StoreTest, RegistrationRefusesBadFieldsAndWritesNothing) {
  const std::string before = CanonicalDump(path_);
  EXPECT_EQ(store_->RegisterBeneficiary({"", "Siti", "", 1}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->RegisterBeneficiary({"AB", "Siti", "", 1}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->RegisterBeneficiary({"B7654321", "", "", 1}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->RegisterBeneficiary({"B7654321", std::string(201, 'a'), "", 1})
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->RegisterBeneficiary({"B7654321", "Siti", "", 0}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(StoreTest, EveryMutationWritesOneChainedLogEntry) {
  Beneficiary b = Register("B7654321");
  auto receipt = store_->RecordMovement(
      {MovementKind::kReceipt, "HYG-KIT", 10, "", "WB-1", "", "ENT-OF-1"});
  ASSERT_TRUE(receipt.ok()) << receipt.status().ToString();
  auto h = store_->RecordHandover(testing::SampleHandover(b.id));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto v = store_->VoidHandover({h->handover.id, "wrong family", "ENT-OF-1"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();

  auto pending = store_->PendingChanges(100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 4u);
  EXPECT_EQ((*pending)[0].entity, "beneficiary");
  EXPECT_EQ((*pending)[1].entity, "stock_movement");
  EXPECT_EQ((*pending)[2].entity, "handover");
  EXPECT_EQ((*pending)[3].entity, "handover_void");
  EXPECT_EQ((*pending)[2].payload, EncodeHandover(h->handover));
  EXPECT_EQ((*pending)[0].prev_hash, GenesisHash(store_->identity().device_id));
  for (size_t i = 0; i < pending->size(); ++i) {
    EXPECT_EQ((*pending)[i].seq, static_cast<int64_t>(i + 1));
    if (i > 0) {
      EXPECT_EQ((*pending)[i].prev_hash, (*pending)[i - 1].hash);
    }
  }
  auto chain = store_->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);
  EXPECT_EQ(chain->entries, 4);
}

TEST_F(StoreTest, AcknowledgedChangesAreNoLongerPending) {
  Register("B0000001");
  Register("B0000002");
  Register("B0000003");
  ASSERT_TRUE(store_->AcknowledgeUpload(2).ok());
  auto pending = store_->PendingChanges(100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].seq, 3);
  // An old, delayed acknowledgement never moves the cursor back.
  ASSERT_TRUE(store_->AcknowledgeUpload(1).ok());
  EXPECT_EQ(store_->GetStatus()->pending, 1);
  // Nobody can acknowledge what was never written.
  EXPECT_EQ(store_->AcknowledgeUpload(4).code(), Code::kOutOfRange);
}

TEST_F(StoreTest, VerifierReportsTheFirstTamperedEntry) {
  Register("B0000001");
  Register("B0000002");
  Register("B0000003");
  store_.reset();
  {
    RawDb raw(path_);
    raw.Exec("DROP TRIGGER change_log_is_append_only_u");
    raw.Exec("UPDATE change_log SET payload = replace(payload, 'Siti', 'Sita') WHERE seq = 2");
  }
  auto reopened = Store::Open(path_);
  ASSERT_TRUE(reopened.ok());
  auto chain = (*reopened)->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_FALSE(chain->ok);
  EXPECT_EQ(chain->first_bad_seq, 2);
  EXPECT_EQ(chain->entries, 1);
}

TEST_F(StoreTest, VerifierReportsAFactEditedBehindTheLog) {
  auto receipt = store_->RecordMovement(
      {MovementKind::kReceipt, "HYG-KIT", 10, "", "WB-1", "", "ENT-OF-1"});
  ASSERT_TRUE(receipt.ok());
  Register("B0000001");
  store_.reset();
  {
    RawDb raw(path_);
    raw.Exec("DROP TRIGGER movements_are_append_only_u");
    raw.Exec("UPDATE stock_movements SET quantity = 100");
  }
  auto chain = (*Store::Open(path_))->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_FALSE(chain->ok);
  EXPECT_EQ(chain->first_bad_seq, 1);
}

TEST_F(StoreTest, VerifierReportsAGapInTheSequence) {
  Register("B0000001");
  Register("B0000002");
  Register("B0000003");
  store_.reset();
  {
    RawDb raw(path_);
    raw.Exec("DROP TRIGGER change_log_is_append_only_d");
    raw.Exec("DELETE FROM change_log WHERE seq = 2");
  }
  auto chain = (*Store::Open(path_))->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_FALSE(chain->ok);
  EXPECT_EQ(chain->first_bad_seq, 2);
  EXPECT_NE(chain->problem.find("missing"), std::string::npos);
}

TEST_F(StoreTest, ChangeLogAndFactsRefuseRewritesAtTheDatabaseLevel) {
  Register("B0000001");
  store_.reset();
  RawDb raw(path_);
  EXPECT_THROW(raw.Exec("UPDATE change_log SET op = 'x'"), std::runtime_error);
  EXPECT_THROW(raw.Exec("DELETE FROM change_log"), std::runtime_error);
}

TEST_F(StoreTest, LogTimestampsStayOrderedWhenTheClockGoesBackBetweenSessions) {
  Register("B0000001");
  store_.reset();
  clock_.Advance(-86'400'000);  // the tablet's clock is reset a day back overnight
  auto reopened = Store::Open(path_, {clock_.AsWallClock()});
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->RegisterBeneficiary({"B0000002", "Ani", "", 1}).ok());
  auto pending = (*reopened)->PendingChanges(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_LT((*pending)[0].hlc, (*pending)[1].hlc);
  EXPECT_TRUE((*reopened)->VerifyChain()->ok);
}

TEST_F(StoreTest, TwoConnectionsToOneFileKeepOneChain) {
  auto second = Store::Open(path_, {clock_.AsWallClock()});
  ASSERT_TRUE(second.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->RegisterBeneficiary({"A000000" + std::to_string(i), "A", "", 1}).ok());
    ASSERT_TRUE((*second)->RegisterBeneficiary({"B000000" + std::to_string(i), "B", "", 1}).ok());
  }
  auto chain = store_->VerifyChain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok) << chain->problem;
  EXPECT_EQ(chain->entries, 10);
}

}  // namespace
}  // namespace kitsync::core

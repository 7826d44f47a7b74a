// Master data import: idempotent, all-or-nothing, and stable in the IDs it gives records.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "kitsync_cli_fixture.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

TEST_F(KitsyncCliTest, ReimportingTheSameMasterFileChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(InitTablet());
  ASSERT_NO_FATAL_FAILURE(ImportStandardMaster());
  const std::string once = Dump();
  const json doc = KitsyncJson({"master", "import", WriteFile("again.json", StandardMasterJson())});
  EXPECT_EQ(doc.value("kit_types", 0), 2);
  EXPECT_EQ(doc.value("rounds", 0), 2);
  EXPECT_EQ(Dump(), once);
}

TEST_F(KitsyncCliTest, ReimportUpdatesRecordsInPlaceAndKeepsHandoversResolvable) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string siti = Register("A1234567", "Siti Aminah");
  const json before =
      KitsyncJson({"record", "--round", "HYG-2026-11", "--beneficiary", siti, "--kit", "HYG-KIT",
                   "--officer", "ENT-OF-01", "--proof", "signature:s", "--consent"});
  const std::string kit_id = before.value("/handover/kit_type_id"_json_pointer, std::string());

  // The centre renames the kit type and raises the entitlement.
  std::string changed = StandardMasterJson();
  changed.replace(changed.find("\"Hygiene kit\""), 13, "\"Family hygiene kit\"");
  changed.replace(changed.find("\"max_per_beneficiary\": 1"), 24, "\"max_per_beneficiary\": 2");
  KitsyncJson({"master", "import", WriteFile("changed.json", changed)});

  // Same ID, so the stock and the earlier handover still count against the same kit type.
  const json after =
      KitsyncJson({"record", "--round", "HYG-2026-11", "--beneficiary", siti, "--kit", "HYG-KIT",
                   "--officer", "ENT-OF-01", "--proof", "signature:s", "--consent"});
  EXPECT_EQ(after.value("/handover/kit_type_id"_json_pointer, std::string()), kit_id);
  EXPECT_TRUE(after["overridden"].empty()) << "the raised entitlement was not applied";
  const json stock = KitsyncJson({"stock", "show"});
  EXPECT_EQ(stock["stock"][0].value("kit_type_code", ""), "HYG-KIT");
  EXPECT_EQ(stock["stock"][0].value("balance", -1), 8);
}

TEST_F(KitsyncCliTest, MasterFileIdsAreUsedWhenGiven) {
  ASSERT_NO_FATAL_FAILURE(InitTablet());
  const std::string kit_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f";
  const std::string file = WriteFile("with_ids.json", R"({
    "kit_types": [{"id": ")" + kit_id + R"(", "code": "HYG-KIT", "name": "Hygiene kit",
                   "unit": "kit"}],
    "posts": [{"code": "ENT", "name": "Entikong"}],
    "officers": [{"code": "ENT-OF-01", "name": "Ayu", "post": "ENT", "role": "officer"}],
    "rounds": [{"code": "HYG-2026-11", "name": "Hygiene", "requires_proof": false,
                "entitlements": [{"kit_type": "HYG-KIT", "max_per_beneficiary": 1}]}]})");
  KitsyncJson({"master", "import", file});
  KitsyncJson(
      {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "1", "--officer", "ENT-OF-01"});
  const json movement = KitsyncJson(
      {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "1", "--officer", "ENT-OF-01"});
  EXPECT_EQ(movement.value("/movement/kit_type_id"_json_pointer, std::string()), kit_id);
}

TEST_F(KitsyncCliTest, TwoTabletsImportingOneFileAgreeOnMasterIds) {
  // Handovers from both tablets must reference the same kit type when they reach the centre.
  const std::string master = WriteFile("master.json", StandardMasterJson());
  std::string kit_ids[2];
  for (int tablet = 0; tablet < 2; ++tablet) {
    db_ = (dir_ / ("tablet" + std::to_string(tablet) + ".db")).string();
    ASSERT_NO_FATAL_FAILURE(InitTablet());
    KitsyncJson({"master", "import", master});
    kit_ids[tablet] = KitsyncJson({"stock", "receive", "--kit", "HYG-KIT", "--quantity", "1",
                                   "--officer", "ENT-OF-01"})
                          .value("/movement/kit_type_id"_json_pointer, std::string());
  }
  EXPECT_FALSE(kit_ids[0].empty());
  EXPECT_EQ(kit_ids[0], kit_ids[1]);
}

TEST_F(KitsyncCliTest, PartialMasterFileMayReferToDataAlreadyOnTheTablet) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  // A file with only a new officer, posted at ENT, which this file does not define.
  KitsyncJson({"master", "import", WriteFile("officer.json", R"({"officers": [{"code": "ENT-OF-02",
                 "name": "Dewi Sartika", "post": "ENT", "role": "officer"}]})")});
  const json movement = KitsyncJson(
      {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "2", "--officer", "ENT-OF-02"});
  EXPECT_EQ(movement.value("/stock/balance"_json_pointer, -1), 12);
}

}  // namespace
}  // namespace kitsync::testing

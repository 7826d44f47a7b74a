// Every refused command exits non-zero with a message an officer can act on, and leaves the
// tablet database exactly as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "kitsync_cli_fixture.h"

namespace kitsync::testing {
namespace {

constexpr int kBadInput = 2;
constexpr int kNeedsOverride = 3;
constexpr int kNotFound = 4;

// A stocked post with one registered beneficiary who has already received their hygiene kit.
class KitsyncCliBadInputTest : public KitsyncCliTest {
 protected:
  void SetUp() override {
    KitsyncCliTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
    beneficiary_ = Register("A1234567", "Siti Aminah");
    ASSERT_FALSE(beneficiary_.empty());
    handover_ = RecordHygieneKit(beneficiary_);
    ASSERT_FALSE(handover_.empty());
    fresh_beneficiary_ = Register("B7654321", "Rudi Hartono");
    ASSERT_FALSE(fresh_beneficiary_.empty());
  }

  // A valid handover command for the beneficiary who has not yet received anything, with
  // `replace` substituted for the option of the same name (or appended).
  std::vector<std::string> RecordArgs(const std::vector<std::string>& replace = {}) {
    std::vector<std::string> args = {
        "record",  "--round",   "HYG-2026-11", "--beneficiary", fresh_beneficiary_, "--kit",
        "HYG-KIT", "--officer", "ENT-OF-01",   "--proof",       "signature:sig-2",  "--consent"};
    for (size_t i = 0; i < replace.size(); ++i) {
      const std::string& option = replace[i];
      const bool has_value = i + 1 < replace.size() && replace[i + 1].rfind("--", 0) != 0;
      auto it = std::find(args.begin(), args.end(), option);
      if (it != args.end()) {
        if (has_value) *(it + 1) = replace[i + 1];
      } else {
        args.push_back(option);
        if (has_value) args.push_back(replace[i + 1]);
      }
      if (has_value) ++i;
    }
    return args;
  }

  std::vector<std::string> Without(std::vector<std::string> args, const std::string& option,
                                   bool has_value) {
    auto it = std::find(args.begin(), args.end(), option);
    if (it != args.end()) args.erase(it, it + (has_value ? 2 : 1));
    return args;
  }

  std::string beneficiary_;
  std::string handover_;
  std::string fresh_beneficiary_;
};

TEST_F(KitsyncCliBadInputTest, ValidRecordArgsAreAcceptedSoRefusalsBelowAreMeaningful) {
  const RunResult run = Kitsync(RecordArgs());
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
}

TEST_F(KitsyncCliBadInputTest, CanonicalDumpSeesEveryWriteIncludingTheChangeLog) {
  // Guards the guard: if the dump missed writes, every "writes nothing" check would pass.
  const std::string before = Dump();
  EXPECT_NE(before.find("table change_log"), std::string::npos);
  ASSERT_FALSE(Register("C1112223", "Dewi Sartika").empty());
  const std::string after = Dump();
  EXPECT_NE(after, before);
  EXPECT_GT(after.size(), before.size());
}

TEST_F(KitsyncCliBadInputTest, UnknownKitTypeIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--kit", "HYG-KTI"}), kBadInput,
                               {"HYG-KTI", "Known kit types: HYG-KIT, PPE-SET"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownKitTypeInStockReceiptIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"stock", "receive", "--kit", "SOAP", "--quantity", "5", "--officer", "ENT-OF-01"}, kBadInput,
      {"SOAP", "Known kit types"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownRoundIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--round", "HYG-2025-01"}), kBadInput,
                               {"HYG-2025-01", "Known rounds: HYG-2026-11, PPE-2026-11"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownOfficerIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--officer", "ENT-OF-99"}), kBadInput, {"ENT-OF-99"}));
}

TEST_F(KitsyncCliBadInputTest, OfficerOfAnotherPostIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--officer", "NUN-OF-01"}), kBadInput,
                               {"NUN-OF-01", "not posted at ENT"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownTransferPostIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"stock", "transfer", "--to", "XYZ", "--kit", "HYG-KIT",
                                "--quantity", "1", "--officer", "ENT-OF-01"},
                               kBadInput, {"XYZ", "Known posts: ENT, NUN"}));
}

TEST_F(KitsyncCliBadInputTest, ZeroQuantityIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--quantity", "0"}), kBadInput, {"at least 1, got 0"}));
}

TEST_F(KitsyncCliBadInputTest, NegativeQuantityIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "-1", "--officer", "ENT-OF-01"},
      kBadInput, {"at least 1, got -1"}));
}

TEST_F(KitsyncCliBadInputTest, QuantityAboveTheRecordLimitIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "10001", "--officer", "ENT-OF-01"},
      kBadInput, {"10001", "more than 10000"}));
}

TEST_F(KitsyncCliBadInputTest, QuantityBeyond64BitsIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--quantity", "99999999999999999999"}), kBadInput,
                               {"--quantity", "99999999999999999999", "too large"}));
}

TEST_F(KitsyncCliBadInputTest, NonNumericQuantityIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--quantity", "ten"}), kBadInput,
                               {"--quantity", "'ten' is not a whole number"}));
}

TEST_F(KitsyncCliBadInputTest, FractionalQuantityIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--quantity", "1.5"}), kBadInput,
                               {"'1.5' is not a whole number"}));
}

TEST_F(KitsyncCliBadInputTest, MalformedBeneficiaryIdIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--beneficiary", "1234"}), kBadInput,
                               {"'1234'", "not a valid ID"}));
}

TEST_F(KitsyncCliBadInputTest, UnregisteredBeneficiaryIsRefusedAndWritesNothing) {
  EXPECT_TRUE(
      RefusedUnchanged(RecordArgs({"--beneficiary", "01900000-0000-7000-8000-000000000000"}),
                       kNotFound, {"01900000-0000-7000-8000-000000000000", "register"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownDocumentNumberIsRefusedAndWritesNothing) {
  std::vector<std::string> args = Without(RecordArgs(), "--beneficiary", true);
  args.insert(args.end(), {"--doc-number", "Z9999999"});
  EXPECT_TRUE(RefusedUnchanged(args, kNotFound, {"no beneficiary with that document number"}));
}

TEST_F(KitsyncCliBadInputTest, BothBeneficiaryAndDocumentNumberAreRefused) {
  EXPECT_TRUE(
      RefusedUnchanged(RecordArgs({"--doc-number", "B7654321"}), kBadInput, {"--doc-number"}));
}

TEST_F(KitsyncCliBadInputTest, NameTooLongIsRefusedAndWritesNothing) {
  EXPECT_TRUE(
      RefusedUnchanged({"register", "--doc-number", "C1112223", "--name", std::string(201, 'a')},
                       kBadInput, {"name is longer than 200 characters"}));
}

TEST_F(KitsyncCliBadInputTest, OverrideReasonTooLongIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      RecordArgs({"--beneficiary", beneficiary_, "--override-reason", std::string(501, 'r')}),
      kBadInput, {"override reason is longer than 500 characters"}));
}

TEST_F(KitsyncCliBadInputTest, TooShortDocumentNumberIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"register", "--doc-number", "A-1", "--name", "Dewi"}, kBadInput,
                               {"too short"}));
}

TEST_F(KitsyncCliBadInputTest, DocumentAlreadyRegisteredIsRefusedAndWritesNothing) {
  // Same document typed differently: spacing, dashes and case do not make a new person.
  EXPECT_TRUE(RefusedUnchanged({"register", "--doc-number", "a 123-4567", "--name", "S. Aminah"},
                               kBadInput, {"already registered", beneficiary_}));
}

TEST_F(KitsyncCliBadInputTest, EmptyDocumentNumberOnStdinIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"register", "--doc-number-stdin", "--name", "Dewi"}, kBadInput,
                               {"standard input"}, "\n"));
}

TEST_F(KitsyncCliBadInputTest, OutOfRangeHouseholdSizeIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"register", "--doc-number", "C1112223", "--name", "Dewi", "--household-size", "0"},
      kBadInput, {"household size"}));
}

TEST_F(KitsyncCliBadInputTest, MissingProofIsRefusedWhenTheRoundRequiresIt) {
  EXPECT_TRUE(RefusedUnchanged(Without(RecordArgs(), "--proof", true), kBadInput,
                               {"HYG-2026-11 requires proof of receipt"}));
}

TEST_F(KitsyncCliBadInputTest, MalformedProofIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--proof", "stamp:123"}), kBadInput,
                               {"'stamp:123'", "signature:REF, photo:REF or voucher:REF"}));
}

TEST_F(KitsyncCliBadInputTest, MissingConsentIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(Without(RecordArgs(), "--consent", false), kBadInput, {"consent"}));
}

TEST_F(KitsyncCliBadInputTest, KitOutsideTheRoundIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--kit", "PPE-SET"}), kBadInput,
                               {"PPE-SET is not distributed in round HYG-2026-11"}));
}

TEST_F(KitsyncCliBadInputTest, StockExceededWithoutOverrideNeedsOverrideAndWritesNothing) {
  // One PPE-SET on the shelf; two are within the entitlement but beyond the stock.
  EXPECT_TRUE(RefusedUnchanged(
      {"record", "--round", "PPE-2026-11", "--beneficiary", fresh_beneficiary_, "--kit", "PPE-SET",
       "--quantity", "2", "--officer", "ENT-OF-01", "--consent"},
      kNeedsOverride, {"stock of PPE-SET is 1", "--override-reason", "NOT recorded"}));
}

TEST_F(KitsyncCliBadInputTest, EntitlementExceededWithoutOverrideNeedsOverrideAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(RecordArgs({"--beneficiary", beneficiary_}), kNeedsOverride,
                               {"already received 1 HYG-KIT", "--override-reason"}));
}

TEST_F(KitsyncCliBadInputTest, NeedsOverrideInJsonListsEveryWarningCode) {
  const std::string before = Dump();
  const RunResult run =
      Kitsync({"--json", "record", "--round", "PPE-2026-11", "--beneficiary", fresh_beneficiary_,
               "--kit", "PPE-SET", "--quantity", "3", "--officer", "ENT-OF-01", "--consent"});
  EXPECT_EQ(run.exit_code, kNeedsOverride) << run.Describe();
  const auto doc = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << run.Describe();
  EXPECT_EQ(doc.value("needs_override", false), true);
  std::vector<std::string> codes;
  for (const auto& w : doc["warnings"]) codes.push_back(w.value("code", ""));
  EXPECT_EQ(codes, (std::vector<std::string>{"stock-exceeded", "entitlement-exceeded"}));
  EXPECT_EQ(Dump(), before);
}

TEST_F(KitsyncCliBadInputTest, VoidOfUnknownHandoverIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"void", "01900000-0000-7000-8000-000000000001", "--reason",
                                "wrong person", "--officer", "ENT-OF-01"},
                               kNotFound, {"no handover 01900000-0000-7000-8000-000000000001"}));
}

TEST_F(KitsyncCliBadInputTest, MalformedHandoverIdInVoidIsRefusedAndWritesNothing) {
  EXPECT_TRUE(
      RefusedUnchanged({"void", "not-an-id", "--reason", "wrong person", "--officer", "ENT-OF-01"},
                       kBadInput, {"'not-an-id'", "not a valid ID"}));
}

TEST_F(KitsyncCliBadInputTest, DoubleVoidIsRefusedAndWritesNothing) {
  const RunResult first =
      Kitsync({"void", handover_, "--reason", "wrong person", "--officer", "ENT-OF-01"});
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  EXPECT_TRUE(RefusedUnchanged({"void", handover_, "--reason", "again", "--officer", "ENT-SV-01"},
                               kBadInput, {"already voided", "wrong person"}));
}

TEST_F(KitsyncCliBadInputTest, VoidWithBlankReasonIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"void", handover_, "--reason", " ", "--officer", "ENT-OF-01"},
                               kBadInput, {"reason for voiding is required"}));
}

TEST_F(KitsyncCliBadInputTest, AdjustmentWithoutReasonOptionIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"stock", "adjust", "--kit", "HYG-KIT", "--delta", "-2", "--officer", "ENT-OF-01"}, kBadInput,
      {"--reason is required"}));
}

TEST_F(KitsyncCliBadInputTest, AdjustmentWithBlankReasonIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"stock", "adjust", "--kit", "HYG-KIT", "--delta", "-2", "--reason",
                                "", "--officer", "ENT-OF-01"},
                               kBadInput, {"reason for the adjustment is required"}));
}

TEST_F(KitsyncCliBadInputTest, ZeroAdjustmentIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"stock", "adjust", "--kit", "HYG-KIT", "--delta", "0", "--reason",
                                "recount", "--officer", "ENT-OF-01"},
                               kBadInput, {"must change the stock"}));
}

TEST_F(KitsyncCliBadInputTest, TransferBeyondTheBalanceIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged({"stock", "transfer", "--to", "NUN", "--kit", "HYG-KIT",
                                "--quantity", "50", "--officer", "ENT-OF-01"},
                               kBadInput, {"cannot send 50 HYG-KIT", "holds 9"}));
}

TEST_F(KitsyncCliBadInputTest, MalformedMasterJsonIsRefusedAndWritesNothing) {
  const std::string file = WriteFile("broken.json", R"({"kit_types": [{"code": "X",)");
  EXPECT_TRUE(RefusedUnchanged({"master", "import", file}, kBadInput, {"not valid JSON"}));
}

TEST_F(KitsyncCliBadInputTest, MasterRecordWithMissingFieldIsRefusedAndWritesNothing) {
  const std::string file =
      WriteFile("missing.json",
                R"({"kit_types": [{"code": "SOAP", "name": "Soap bar", "unit": "bar"},
                        {"code": "TOWEL", "name": "Towel"}]})");
  EXPECT_TRUE(RefusedUnchanged({"master", "import", file}, kBadInput,
                               {"kit_types[1]", "field 'unit' is missing"}));
}

TEST_F(KitsyncCliBadInputTest, MasterRecordWithMisspeltFieldIsRefusedAndWritesNothing) {
  const std::string file =
      WriteFile("typo.json", R"({"posts": [{"code": "DUM", "nmae": "Dumai"}]})");
  EXPECT_TRUE(RefusedUnchanged({"master", "import", file}, kBadInput,
                               {"posts[0]", "unknown field 'nmae'"}));
}

TEST_F(KitsyncCliBadInputTest, MasterOfficerAtUnknownPostIsRefusedAndWritesNothing) {
  const std::string file =
      WriteFile("officer.json",
                R"({"officers": [{"code": "ATA-OF-01", "name": "Yosef", "post": "ATA",
                        "role": "officer"}]})");
  EXPECT_TRUE(RefusedUnchanged({"master", "import", file}, kBadInput,
                               {"officers[0]", "unknown post 'ATA'", "Known posts: ENT, NUN"}));
}

TEST_F(KitsyncCliBadInputTest, MasterFileWithOneBadRecordImportsNothingAtAll) {
  // The first kit type is fine; the core refuses the lower-case code of the second.
  const std::string file =
      WriteFile("partly_bad.json",
                R"({"kit_types": [{"code": "SOAP", "name": "Soap bar", "unit": "bar"},
                        {"code": "towel", "name": "Towel", "unit": "piece"}]})");
  EXPECT_TRUE(RefusedUnchanged({"master", "import", file}, kBadInput, {"'towel'"}));
}

TEST_F(KitsyncCliBadInputTest, MasterFileThatDoesNotExistIsRefused) {
  EXPECT_TRUE(RefusedUnchanged({"master", "import", (dir_ / "absent.json").string()}, kBadInput,
                               {"cannot read master data file"}));
}

TEST_F(KitsyncCliBadInputTest, InitOverAnExistingDatabaseIsRefusedAndWritesNothing) {
  EXPECT_TRUE(RefusedUnchanged(
      {"init", "--post", "NUN", "--device-name", "NUN-TAB-1", "--programme-key-file", key_file_},
      kBadInput, {"already exists"}));
}

TEST_F(KitsyncCliBadInputTest, ImpossibleDateFilterIsRefused) {
  EXPECT_TRUE(RefusedUnchanged({"handovers", "--since", "2026-02-30"}, kBadInput,
                               {"'2026-02-30' is not a date"}));
}

TEST_F(KitsyncCliBadInputTest, UnknownSubcommandIsAUsageError) {
  EXPECT_TRUE(RefusedUnchanged({"hand-over"}, kBadInput, {"hand-over"}));
}

// Without a database there is nothing to dump; these pin that none appears.

TEST_F(KitsyncCliTest, InitWithEmptyKeyFileIsRefusedAndCreatesNoDatabase) {
  const std::string empty_key = WriteFile("empty.key", "");
  const RunResult run = Kitsync(
      {"init", "--post", "ENT", "--device-name", "ENT-TAB-1", "--programme-key-file", empty_key});
  EXPECT_EQ(run.exit_code, kBadInput) << run.Describe();
  EXPECT_NE(run.err.find("is empty"), std::string::npos) << run.Describe();
  EXPECT_FALSE(std::filesystem::exists(db_)) << "init left a database behind";
}

TEST_F(KitsyncCliTest, InitWithMissingKeyFileIsRefusedAndCreatesNoDatabase) {
  const RunResult run = Kitsync({"init", "--post", "ENT", "--device-name", "ENT-TAB-1",
                                 "--programme-key-file", (dir_ / "absent.key").string()});
  EXPECT_EQ(run.exit_code, kBadInput) << run.Describe();
  EXPECT_NE(run.err.find("cannot read programme key file"), std::string::npos) << run.Describe();
  EXPECT_FALSE(std::filesystem::exists(db_)) << "init left a database behind";
}

TEST_F(KitsyncCliTest, InitWithInvalidPostCodeIsRefusedAndCreatesNoDatabase) {
  const RunResult run = Kitsync({"init", "--post", "entikong", "--device-name", "ENT-TAB-1",
                                 "--programme-key-file", key_file_});
  EXPECT_EQ(run.exit_code, kBadInput) << run.Describe();
  EXPECT_NE(run.err.find("'entikong'"), std::string::npos) << run.Describe();
  EXPECT_FALSE(std::filesystem::exists(db_)) << "init left a database behind";
}

TEST_F(KitsyncCliTest, CommandWithoutDatabaseIsNotFoundAndCreatesNoFile) {
  const RunResult run = Kitsync({"register", "--doc-number", "A1234567", "--name", "Siti"});
  EXPECT_EQ(run.exit_code, kNotFound) << run.Describe();
  EXPECT_NE(run.err.find("kitsync init"), std::string::npos) << run.Describe();
  EXPECT_FALSE(std::filesystem::exists(db_)) << "a database file appeared";
}

}  // namespace
}  // namespace kitsync::testing

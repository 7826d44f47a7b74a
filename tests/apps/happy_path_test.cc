// What an officer's ordinary day produces: the numbers the CLI prints must be the ledger's.
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kitsync_cli_fixture.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

const json* StockLine(const json& stock_doc, const std::string& kit) {
  for (const auto& line : stock_doc["stock"]) {
    if (line.value("kit_type_code", "") == kit) return &line;
  }
  return nullptr;
}

// "YYYY-MM-DD" in UTC of a wall-clock reading plus whole days.
std::string UtcDate(int64_t wall_ms, int day_offset) {
  const std::time_t seconds = static_cast<std::time_t>(wall_ms / 1000) + day_offset * 86400;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

TEST_F(KitsyncCliTest, FullDayKeepsStockHandoversAndChainConsistent) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());  // 10 HYG-KIT, 1 PPE-SET
  const std::string siti = Register("A1234567", "Siti Aminah");
  const std::string rudi = Register("B7654321", "Rudi Hartono");
  ASSERT_FALSE(siti.empty());
  ASSERT_FALSE(rudi.empty());

  const std::string wrong = RecordHygieneKit(siti, {"--quantity", "1"});
  ASSERT_FALSE(wrong.empty());
  const json voided = KitsyncJson(
      {"void", wrong, "--reason", "recorded for the wrong person", "--officer", "ENT-SV-01"});
  EXPECT_EQ(voided.value("/void/handover_id"_json_pointer, std::string()), wrong);
  // After the void the entitlement is free again, so the same person can be served.
  const std::string right = RecordHygieneKit(siti);
  ASSERT_FALSE(right.empty());
  const std::string by_proxy = RecordHygieneKit(rudi, {"--proxy", "wife"});
  ASSERT_FALSE(by_proxy.empty());

  const json stock = KitsyncJson({"stock", "show"});
  EXPECT_EQ(stock.value("post_code", ""), "ENT");
  const json* hyg = StockLine(stock, "HYG-KIT");
  ASSERT_NE(hyg, nullptr) << stock.dump(2);
  EXPECT_EQ((*hyg)["received"], 10);
  EXPECT_EQ((*hyg)["handed_out"], 2);  // the voided one does not count
  EXPECT_EQ((*hyg)["balance"], 8);
  const json* ppe = StockLine(stock, "PPE-SET");
  ASSERT_NE(ppe, nullptr);
  EXPECT_EQ((*ppe)["balance"], 1);

  const json all = KitsyncJson({"handovers"});
  ASSERT_EQ(all.value("count", -1), 3);
  int voided_count = 0;
  for (const auto& h : all["handovers"]) {
    if (h.value("voided", false)) {
      ++voided_count;
      EXPECT_EQ(h.value("id", ""), wrong);
      EXPECT_EQ(h.value("/void/reason"_json_pointer, std::string()),
                "recorded for the wrong person");
    }
    if (h.value("id", "") == by_proxy) {
      EXPECT_EQ(h.value("collected_by", ""), "proxy");
      EXPECT_EQ(h.value("proxy_relation", ""), "wife");
    }
    EXPECT_EQ(h.value("kit_type_code", ""), "HYG-KIT");
    EXPECT_EQ(h.value("/proof/kind"_json_pointer, std::string()), "signature");
  }
  EXPECT_EQ(voided_count, 1);
  EXPECT_EQ(KitsyncJson({"handovers", "--no-voided"}).value("count", -1), 2);
  EXPECT_EQ(KitsyncJson({"handovers", "--beneficiary", siti}).value("count", -1), 2);

  // 2 receipts + 2 registrations + 3 handovers + 1 void, none uploaded yet.
  const json status = KitsyncJson({"status"});
  EXPECT_EQ(status.value("post_code", ""), "ENT");
  EXPECT_EQ(status.value("device_name", ""), "ENT-TAB-1");
  EXPECT_EQ(status.value("pending", -1), 8);
  EXPECT_EQ(status.value("last_seq", -1), 8);
  EXPECT_EQ(status.value("/chain/ok"_json_pointer, false), true);
  EXPECT_EQ(status.value("/chain/entries"_json_pointer, -1), 8);
  EXPECT_GT(status.value("/last_hlc/packed"_json_pointer, uint64_t{0}), uint64_t{0});
}

TEST_F(KitsyncCliTest, TextOutputShowsReadableAlignedTables) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const RunResult stock = Kitsync({"stock", "show"});
  ASSERT_EQ(stock.exit_code, 0) << stock.Describe();
  // Header, rule, and one row per kit type, with BALANCE right-aligned in one column.
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = stock.out.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(stock.out.substr(start, nl - start));
  }
  ASSERT_GE(lines.size(), 5u) << stock.out;
  EXPECT_EQ(lines[0], "Stock at post ENT");
  const size_t balance_end = lines[1].find("BALANCE") + std::string("BALANCE").size();
  ASSERT_NE(lines[1].find("BALANCE"), std::string::npos) << stock.out;
  EXPECT_EQ(lines[3].substr(0, 7), "HYG-KIT");
  EXPECT_EQ(lines[3].substr(balance_end - 2, 2), "10") << stock.out;
  EXPECT_EQ(lines[4].substr(balance_end - 1, 1), "1") << stock.out;

  const RunResult status = Kitsync({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_NE(status.out.find("Pending upload:   2"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("verified (2 entries)"), std::string::npos) << status.out;
}

TEST_F(KitsyncCliTest, OverrideWithReasonIsRecordedWithTheHandover) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string siti = Register("A1234567", "Siti Aminah");
  ASSERT_FALSE(RecordHygieneKit(siti).empty());

  const std::vector<std::string> again = {"record",    "--round", "HYG-2026-11",    "--beneficiary",
                                          siti,        "--kit",   "HYG-KIT",        "--officer",
                                          "ENT-SV-01", "--proof", "voucher:V-0042", "--consent"};
  const RunResult warned = Kitsync(again);
  ASSERT_EQ(warned.exit_code, 3) << warned.Describe();

  std::vector<std::string> overridden = again;
  overridden.insert(overridden.end(), {"--override-reason", "first kit was stolen at the gate"});
  const json doc = KitsyncJson(overridden);
  EXPECT_EQ(doc.value("/handover/override_reason"_json_pointer, std::string()),
            "first kit was stolen at the gate");
  ASSERT_EQ(doc["overridden"].size(), 1u) << doc.dump(2);
  EXPECT_EQ(doc["overridden"][0].value("code", ""), "entitlement-exceeded");

  const json listed = KitsyncJson({"handovers", "--beneficiary", siti});
  ASSERT_EQ(listed.value("count", -1), 2);
  const json& last = listed["handovers"][1];
  EXPECT_EQ(last.value("override_reason", ""), "first kit was stolen at the gate");
  EXPECT_EQ(last["overridden_warnings"], json({"entitlement-exceeded"}));
  EXPECT_EQ(last.value("officer_code", ""), "ENT-SV-01");
  EXPECT_EQ(last.value("/proof/ref"_json_pointer, std::string()), "V-0042");
  EXPECT_EQ(StockLine(KitsyncJson({"stock", "show"}), "HYG-KIT")->value("balance", -1), 8);
}

TEST_F(KitsyncCliTest, StockBeyondTheShelfIsRecordedWithOverrideAndShownNegative) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());  // 1 PPE-SET
  const std::string siti = Register("A1234567", "Siti Aminah");
  const json doc = KitsyncJson({"record", "--round", "PPE-2026-11", "--beneficiary", siti, "--kit",
                                "PPE-SET", "--quantity", "2", "--officer", "ENT-OF-01", "--consent",
                                "--override-reason", "shipment arrived, waybill not yet entered"});
  ASSERT_EQ(doc["overridden"].size(), 1u) << doc.dump(2);
  EXPECT_EQ(doc["overridden"][0].value("code", ""), "stock-exceeded");
  EXPECT_EQ(StockLine(KitsyncJson({"stock", "show"}), "PPE-SET")->value("balance", 0), -1);
}

TEST_F(KitsyncCliTest, RegisterAndRecordReadTheDocumentNumberFromStdin) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const json registered = KitsyncJson({"register", "--doc-number-stdin", "--name", "Siti Aminah",
                                       "--phone", "+62 812 0000 0000", "--household-size", "4"},
                                      "X 1234-5678\n");
  const std::string id = registered.value("/beneficiary/id"_json_pointer, std::string());
  ASSERT_FALSE(id.empty()) << registered.dump(2);
  EXPECT_EQ(registered.value("/beneficiary/household_size"_json_pointer, 0), 4);
  // Typed differently at the counter, still the same document.
  const json recorded =
      KitsyncJson({"record", "--round", "HYG-2026-11", "--doc-number-stdin", "--kit", "HYG-KIT",
                   "--officer", "ENT-OF-01", "--proof", "photo:sha256-ab12", "--consent"},
                  "x12345678\n");
  EXPECT_EQ(recorded.value("/handover/beneficiary_id"_json_pointer, std::string()), id);
}

TEST_F(KitsyncCliTest, DocumentNumberIsNeverStoredInClear) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  ASSERT_FALSE(Register("P9876543", "Siti Aminah").empty());
  EXPECT_EQ(Dump().find("P9876543"), std::string::npos);
}

TEST_F(KitsyncCliTest, TransfersAdjustmentsAndCountsAreReflectedInStock) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());  // 10 HYG-KIT
  KitsyncJson({"stock", "transfer", "--to", "NUN", "--kit", "HYG-KIT", "--quantity", "3",
               "--officer", "ENT-OF-01", "--reference", "TR-7"});
  KitsyncJson({"stock", "transfer-in", "--from", "NUN", "--kit", "HYG-KIT", "--quantity", "1",
               "--officer", "ENT-OF-01"});
  KitsyncJson({"stock", "adjust", "--kit", "HYG-KIT", "--delta", "-2", "--reason", "water damage",
               "--officer", "ENT-SV-01"});
  const json count = KitsyncJson(
      {"stock", "count", "--kit", "HYG-KIT", "--quantity", "5", "--officer", "ENT-SV-01"});
  EXPECT_EQ(count.value("/movement/kind"_json_pointer, std::string()), "count");

  const json stock = KitsyncJson({"stock", "show"});
  const json* hyg = StockLine(stock, "HYG-KIT");
  ASSERT_NE(hyg, nullptr);
  EXPECT_EQ((*hyg)["received"], 11);
  EXPECT_EQ((*hyg)["transferred"], 3);
  EXPECT_EQ((*hyg)["adjusted"], -2);
  EXPECT_EQ((*hyg)["balance"], 6);
  EXPECT_EQ((*hyg)["last_count"], 5);

  const RunResult text = Kitsync({"stock", "show"});
  EXPECT_NE(text.out.find("5 (differs from balance)"), std::string::npos) << text.out;
}

TEST_F(KitsyncCliTest, HandoverDateFiltersIncludeTheNamedDays) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string siti = Register("A1234567", "Siti Aminah");
  ASSERT_FALSE(RecordHygieneKit(siti).empty());
  const json all = KitsyncJson({"handovers"});
  ASSERT_EQ(all.value("count", -1), 1);
  const int64_t wall_ms = all["handovers"][0].value("wall_ms", int64_t{0});
  const std::string day = UtcDate(wall_ms, 0);

  EXPECT_EQ(KitsyncJson({"handovers", "--since", day, "--until", day}).value("count", -1), 1);
  EXPECT_EQ(KitsyncJson({"handovers", "--until", UtcDate(wall_ms, -1)}).value("count", -1), 0);
  EXPECT_EQ(KitsyncJson({"handovers", "--since", UtcDate(wall_ms, 1)}).value("count", -1), 0);
  EXPECT_EQ(KitsyncJson({"handovers", "--round", "PPE-2026-11"}).value("count", -1), 0);
  EXPECT_EQ(KitsyncJson({"handovers", "--kit", "HYG-KIT", "--limit", "5"}).value("count", -1), 1);
}

TEST_F(KitsyncCliTest, DatabasePathComesFromKitsyncDbWhenNoDbOptionIsGiven) {
  const RunResult init = KitsyncRaw(
      {"init", "--post", "ENT", "--device-name", "ENT-TAB-9", "--programme-key-file", key_file_},
      {{"KITSYNC_DB", db_}});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  EXPECT_TRUE(std::filesystem::exists(db_));
  const RunResult status = KitsyncRaw({"status", "--json"}, {{"KITSYNC_DB", db_}});
  ASSERT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_EQ(json::parse(status.out).value("device_name", ""), "ENT-TAB-9");
}

TEST_F(KitsyncCliTest, DatabaseDefaultsToKitsyncDbInTheWorkingDirectory) {
  const RunResult init = KitsyncRaw(
      {"init", "--post", "ENT", "--device-name", "ENT-TAB-1", "--programme-key-file", key_file_});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "kitsync.db"));
}

TEST_F(KitsyncCliTest, ErrorsInJsonModeAreJsonWithTheExitCode) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const RunResult run = Kitsync({"--json", "void", "01900000-0000-7000-8000-000000000001",
                                 "--reason", "x", "--officer", "ENT-OF-01"});
  ASSERT_EQ(run.exit_code, 4) << run.Describe();
  const json doc = json::parse(run.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << run.Describe();
  EXPECT_EQ(doc.value("ok", true), false);
  EXPECT_EQ(doc.value("exit_code", 0), 4);
  EXPECT_EQ(doc.value("/error/code"_json_pointer, std::string()), "NOT_FOUND");
}

}  // namespace
}  // namespace kitsync::testing

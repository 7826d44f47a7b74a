#include "kitsync_cli_fixture.h"

#include <stdlib.h>

#include <fstream>

#include "db_dump.h"

namespace kitsync::testing {

std::string StandardMasterJson() {
  return R"({
  "kit_types": [
    {"code": "HYG-KIT", "name": "Hygiene kit", "unit": "kit"},
    {"code": "PPE-SET", "name": "Protective-equipment set", "unit": "set"}
  ],
  "posts": [
    {"code": "ENT", "name": "Entikong"},
    {"code": "NUN", "name": "Nunukan"}
  ],
  "officers": [
    {"code": "ENT-OF-01", "name": "Ayu Lestari", "post": "ENT", "role": "officer"},
    {"code": "ENT-SV-01", "name": "Hendra Wijaya", "post": "ENT", "role": "supervisor"},
    {"code": "NUN-OF-01", "name": "Maria Dos Santos", "post": "NUN", "role": "officer"}
  ],
  "rounds": [
    {"code": "HYG-2026-11", "name": "Hygiene kits, November 2026", "requires_proof": true,
     "entitlements": [{"kit_type": "HYG-KIT", "max_per_beneficiary": 1}]},
    {"code": "PPE-2026-11", "name": "Protective equipment, November 2026",
     "requires_proof": false,
     "entitlements": [{"kit_type": "PPE-SET", "max_per_beneficiary": 2}]}
  ]
})";
}

void KitsyncCliTest::SetUp() {
  std::string pattern = (std::filesystem::temp_directory_path() / "kitsync-cli-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  dir_ = pattern;
  db_ = (dir_ / "tablet.db").string();
  key_file_ = WriteFile("programme.key", "test programme key, 32 bytes....");
}

void KitsyncCliTest::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

RunResult KitsyncCliTest::KitsyncRaw(
    const std::vector<std::string>& args,
    std::vector<std::pair<std::string, std::optional<std::string>>> env,
    const std::string& stdin_data) {
  RunOptions options;
  options.working_dir = dir_;
  options.stdin_data = stdin_data;
  // The caller's own KITSYNC_DB must never reach a test's tablet.
  options.env.emplace_back("KITSYNC_DB", std::nullopt);
  for (auto& change : env) options.env.push_back(std::move(change));
  return RunProgram(KITSYNC_BIN, args, options);
}

RunResult KitsyncCliTest::Kitsync(const std::vector<std::string>& args,
                                  const std::string& stdin_data) {
  std::vector<std::string> full = {"--db", db_};
  full.insert(full.end(), args.begin(), args.end());
  return KitsyncRaw(full, {}, stdin_data);
}

nlohmann::json KitsyncCliTest::KitsyncJson(const std::vector<std::string>& args,
                                           const std::string& stdin_data) {
  std::vector<std::string> full = args;
  full.push_back("--json");
  const RunResult run = Kitsync(full, stdin_data);
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  const nlohmann::json doc = nlohmann::json::parse(run.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << "stdout is not JSON\n" << run.Describe();
  return doc.is_discarded() ? nlohmann::json::object() : doc;
}

std::string KitsyncCliTest::WriteFile(const std::string& name, const std::string& content) {
  const std::filesystem::path path = dir_ / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return path.string();
}

std::string KitsyncCliTest::Dump() const { return CanonicalDump(db_); }

::testing::AssertionResult KitsyncCliTest::RefusedUnchanged(
    const std::vector<std::string>& args, int expected_exit,
    const std::vector<std::string>& message_parts, const std::string& stdin_data) {
  const std::string before = Dump();
  const RunResult run = Kitsync(args, stdin_data);
  const std::string after = Dump();
  if (run.exit_code == 0) {
    return ::testing::AssertionFailure() << "the command was accepted\n" << run.Describe();
  }
  if (expected_exit != 0 && run.exit_code != expected_exit) {
    return ::testing::AssertionFailure() << "expected exit code " << expected_exit << "\n"
                                         << run.Describe();
  }
  for (const std::string& part : message_parts) {
    if (run.err.find(part) == std::string::npos) {
      return ::testing::AssertionFailure() << "stderr lacks \"" << part << "\"\n" << run.Describe();
    }
  }
  if (after != before) {
    return ::testing::AssertionFailure() << "the refused command changed the database\n"
                                         << run.Describe() << "[before]\n"
                                         << before << "[after]\n"
                                         << after;
  }
  return ::testing::AssertionSuccess();
}

void KitsyncCliTest::InitTablet() {
  const RunResult run = Kitsync(
      {"init", "--post", "ENT", "--device-name", "ENT-TAB-1", "--programme-key-file", key_file_});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
}

void KitsyncCliTest::ImportStandardMaster() {
  const RunResult run =
      Kitsync({"master", "import", WriteFile("master.json", StandardMasterJson())});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
}

void KitsyncCliTest::SetUpStockedPost() {
  ASSERT_NO_FATAL_FAILURE(InitTablet());
  ASSERT_NO_FATAL_FAILURE(ImportStandardMaster());
  RunResult run = Kitsync({"stock", "receive", "--kit", "HYG-KIT", "--quantity", "10", "--waybill",
                           "WB-0001", "--officer", "ENT-OF-01"});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  run = Kitsync(
      {"stock", "receive", "--kit", "PPE-SET", "--quantity", "1", "--officer", "ENT-OF-01"});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
}

std::string KitsyncCliTest::Register(const std::string& doc_number, const std::string& name) {
  const nlohmann::json doc = KitsyncJson({"register", "--doc-number", doc_number, "--name", name});
  return doc.value("/beneficiary/id"_json_pointer, std::string());
}

std::string KitsyncCliTest::RecordHygieneKit(const std::string& beneficiary_id,
                                             const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"record",       "--round", "HYG-2026-11",     "--beneficiary",
                                   beneficiary_id, "--kit",   "HYG-KIT",         "--officer",
                                   "ENT-OF-01",    "--proof", "signature:sig-1", "--consent"};
  args.insert(args.end(), extra.begin(), extra.end());
  const nlohmann::json doc = KitsyncJson(args);
  return doc.value("/handover/id"_json_pointer, std::string());
}

}  // namespace kitsync::testing

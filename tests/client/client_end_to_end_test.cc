// The real binaries end to end: kitsync-server on loopback, kitsync-admin to load master data
// and make enrolment codes, and two `kitsync` tablets at one post that enrol, record and sync.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "process.h"
#include "test_support.h"

namespace kitsync::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kCommandTimeout = 120s;

constexpr char kMasterJson[] = R"({
  "kit_types": [{"code": "HYG-KIT", "name": "Hygiene kit", "unit": "kit"}],
  "posts": [{"code": "ENT", "name": "Entikong"}, {"code": "NUN", "name": "Nunukan"}],
  "officers": [{"code": "ENT-OF-01", "name": "Ayu Lestari", "post": "ENT", "role": "officer"}],
  "rounds": [{"code": "HYG-2026-11", "name": "Hygiene kits", "requires_proof": true,
              "entitlements": [{"kit_type": "HYG-KIT", "max_per_beneficiary": 1}]}]
})";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = dir_.File("server");
    const ProcessResult init = RunProcess(KITSYNC_SERVER_BIN, {"init", "--data", data_dir_},
                                          dir_.path().string(), kCommandTimeout);
    ASSERT_EQ(init.exit_code, 0) << init.Describe({"init"});
    token_file_ = (std::filesystem::path(data_dir_) / "admin.token").string();
    ASSERT_TRUE(std::filesystem::exists(token_file_));
    ASSERT_NO_FATAL_FAILURE(StartServer("127.0.0.1:0"));
    std::ofstream(dir_.File("master.json")) << kMasterJson;
    const ProcessResult load = Admin({"master", "load", dir_.File("master.json")});
    ASSERT_EQ(load.exit_code, 0) << load.Describe({"master", "load"});
  }

  void StartServer(const std::string& listen) {
    const std::string port_file = dir_.File("port");
    std::filesystem::remove(port_file);
    server_ = BackgroundProcess::Start(
        KITSYNC_SERVER_BIN,
        {"serve", "--data", data_dir_, "--listen", listen, "--port-file", port_file},
        dir_.File("server.log"));
    ASSERT_NE(server_, nullptr);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!std::filesystem::exists(port_file)) {
      ASSERT_FALSE(server_->Exited()) << "the server stopped; see " << dir_.File("server.log");
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no port file";
      std::this_thread::sleep_for(20ms);
    }
    std::ifstream in(port_file);
    int port = 0;
    in >> port;
    ASSERT_GT(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  ProcessResult Admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", address_, "--token-file", token_file_});
    return RunProcess(KITSYNC_ADMIN_BIN, args, dir_.path().string(), kCommandTimeout);
  }

  ProcessResult Kitsync(const std::string& db, std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", dir_.File(db)});
    return RunProcess(KITSYNC_BIN, args, dir_.path().string(), kCommandTimeout);
  }

  // Runs a kitsync command with --json that must succeed; its output.
  json KitsyncJson(const std::string& db, std::vector<std::string> args) {
    args.push_back("--json");
    const ProcessResult run = Kitsync(db, args);
    EXPECT_EQ(run.exit_code, 0) << run.Describe(args);
    json doc = json::parse(run.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << run.Describe(args);
    return doc.is_discarded() ? json::object() : doc;
  }

  void EnrolTablet(const std::string& db, const std::string& name) {
    const ProcessResult code = Admin({"enrol-code", "--post", "ENT"});
    ASSERT_EQ(code.exit_code, 0) << code.Describe({"enrol-code"});
    const json enrolled = KitsyncJson(
        db, {"enroll", "--server", address_, "--code", Trim(code.out), "--device-name", name});
    ASSERT_EQ(enrolled.value("post_code", ""), "ENT") << enrolled.dump();
    // The first sync brought the master data: kit type, two posts, officer, round.
    ASSERT_GE(enrolled["first_sync"].value("pulled", 0), 5) << enrolled.dump();
  }

  // Receives stock, registers someone and hands over a kit: three changes.
  std::string RecordAtPost(const std::string& db, const std::string& doc_number) {
    KitsyncJson(
        db, {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "5", "--officer", "ENT-OF-01"});
    const json person =
        KitsyncJson(db, {"register", "--doc-number", doc_number, "--name", "Person " + doc_number});
    const std::string beneficiary = person.value("/beneficiary/id"_json_pointer, std::string());
    const json handover = KitsyncJson(
        db, {"record", "--round", "HYG-2026-11", "--beneficiary", beneficiary, "--kit", "HYG-KIT",
             "--officer", "ENT-OF-01", "--proof", "signature:sig-" + doc_number, "--consent"});
    return handover.value("/handover/id"_json_pointer, std::string());
  }

  std::set<std::string> HandoverIds(const std::string& db) {
    const json list = KitsyncJson(db, {"handovers"});
    std::set<std::string> ids;
    for (const json& h : list["handovers"]) ids.insert(h.value("id", ""));
    return ids;
  }

  TempDir dir_;
  std::string data_dir_;
  std::string token_file_;
  std::string address_;
  std::unique_ptr<BackgroundProcess> server_;
};

TEST_F(EndToEndTest, TwoTabletsAtOnePostSeeEachOthersRecords) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("b.db", "ENT tablet 2"));
  const std::string from_a = RecordAtPost("a.db", "A-1001");
  const std::string from_b = RecordAtPost("b.db", "B-2002");
  ASSERT_FALSE(from_a.empty());
  ASSERT_FALSE(from_b.empty());

  const json a1 = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(a1.value("pushed", -1), 3) << a1.dump();
  EXPECT_EQ(a1.value("pending", -1), 0);
  const json b1 = KitsyncJson("b.db", {"sync", "--window", "2", "--batch", "1"});
  EXPECT_EQ(b1.value("pushed", -1), 3) << b1.dump();
  EXPECT_GE(b1.value("pulled", -1), 3);  // at least tablet A's three
  const json a2 = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(a2.value("pushed", -1), 0) << a2.dump();  // nothing sent twice
  EXPECT_GE(a2.value("pulled", -1), 3);               // tablet B's three

  for (const std::string db : {"a.db", "b.db"}) {
    EXPECT_EQ(HandoverIds(db), (std::set<std::string>{from_a, from_b})) << db;
    const json stock = KitsyncJson(db, {"stock", "show"});
    ASSERT_EQ(stock["stock"].size(), 1u) << stock.dump();
    EXPECT_EQ(stock["stock"][0].value("received", -1), 10) << db;
    EXPECT_EQ(stock["stock"][0].value("handed_out", -1), 2) << db;
    const json status = KitsyncJson(db, {"status"});
    EXPECT_EQ(status.value("pending", -1), 0) << db;
  }
  const ProcessResult devices = Admin({"devices", "--json"});
  ASSERT_EQ(devices.exit_code, 0) << devices.Describe({"devices"});
  const json list = json::parse(devices.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << devices.out;
  ASSERT_EQ(list.size(), 2u);
  for (const json& d : list) EXPECT_EQ(d.value("acked_seq", 0), 3) << d.dump();
}

TEST_F(EndToEndTest, UnreachableServerIsAnUnknownOutcomeAndRevocationAnEnrolmentProblem) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  RecordAtPost("a.db", "A-1001");
  const std::string port = address_.substr(address_.rfind(':') + 1);

  server_->Stop();
  const ProcessResult offline = Kitsync("a.db", {"sync", "--timeout", "5"});
  EXPECT_EQ(offline.exit_code, 5) << offline.Describe({"sync"});
  // What the officer reads (before the technical details) never calls the records failed.
  const std::string words = offline.err.substr(0, offline.err.find("Details:"));
  EXPECT_NE(words.find("not finished"), std::string::npos) << offline.err;
  EXPECT_NE(words.find("safe on this tablet"), std::string::npos) << offline.err;
  EXPECT_EQ(words.find("fail"), std::string::npos) << offline.err;
  EXPECT_EQ(words.find("rror"), std::string::npos) << offline.err;
  EXPECT_EQ(KitsyncJson("a.db", {"status"}).value("pending", -1), 3);

  // Back on the same address: the records go out.
  ASSERT_NO_FATAL_FAILURE(StartServer("127.0.0.1:" + port));
  const json online = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(online.value("pushed", -1), 3) << online.dump();

  const ProcessResult devices = Admin({"devices", "--json"});
  const json list = json::parse(devices.out, nullptr, false);
  ASSERT_TRUE(list.is_array() && list.size() == 1) << devices.out;
  const ProcessResult revoked =
      Admin({"revoke", list[0].value("id", ""), "--reason", "lost at the crossing"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.Describe({"revoke"});
  const ProcessResult refused = Kitsync("a.db", {"sync"});
  EXPECT_EQ(refused.exit_code, 6) << refused.Describe({"sync"});
  EXPECT_NE(refused.err.find("enrolment"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace kitsync::testing

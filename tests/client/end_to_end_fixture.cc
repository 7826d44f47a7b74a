#include "end_to_end_fixture.h"

#include <filesystem>
#include <fstream>
#include <thread>

namespace kitsync::testing {

using namespace std::chrono_literals;
using nlohmann::json;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void EndToEndFixture::SetUp() {
  data_dir_ = dir_.File("server");
  const ProcessResult init = RunProcess(KITSYNC_SERVER_BIN, {"init", "--data", data_dir_},
                                        dir_.path().string(), kCommandTimeout);
  ASSERT_EQ(init.exit_code, 0) << init.Describe({"init"});
  token_file_ = (std::filesystem::path(data_dir_) / "admin.token").string();
  ASSERT_TRUE(std::filesystem::exists(token_file_));
  ASSERT_NO_FATAL_FAILURE(StartServer("127.0.0.1:0"));
  std::ofstream(dir_.File("master.json")) << master_json_;
  const ProcessResult load = Admin({"master", "load", dir_.File("master.json")});
  ASSERT_EQ(load.exit_code, 0) << load.Describe({"master", "load"});
}

void EndToEndFixture::StartServer(const std::string& listen) {
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

ProcessResult EndToEndFixture::Admin(std::vector<std::string> args) {
  args.insert(args.begin(), {"--server", address_, "--token-file", token_file_});
  return RunProcess(KITSYNC_ADMIN_BIN, args, dir_.path().string(), kCommandTimeout);
}

ProcessResult EndToEndFixture::Kitsync(const std::string& db, std::vector<std::string> args) {
  args.insert(args.begin(), {"--db", dir_.File(db)});
  return RunProcess(KITSYNC_BIN, args, dir_.path().string(), kCommandTimeout);
}

json EndToEndFixture::KitsyncJson(const std::string& db, std::vector<std::string> args) {
  args.push_back("--json");
  const ProcessResult run = Kitsync(db, args);
  EXPECT_EQ(run.exit_code, 0) << run.Describe(args);
  json doc = json::parse(run.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << run.Describe(args);
  return doc.is_discarded() ? json::object() : doc;
}

json EndToEndFixture::AdminJson(std::vector<std::string> args) {
  args.push_back("--json");
  const ProcessResult run = Admin(args);
  EXPECT_EQ(run.exit_code, 0) << run.Describe(args);
  json doc = json::parse(run.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << run.Describe(args);
  return doc.is_discarded() ? json() : doc;
}

void EndToEndFixture::EnrolTablet(const std::string& db, const std::string& name,
                                  const std::string& post) {
  const ProcessResult code = Admin({"enrol-code", "--post", post});
  ASSERT_EQ(code.exit_code, 0) << code.Describe({"enrol-code"});
  const json enrolled = KitsyncJson(
      db, {"enroll", "--server", address_, "--code", Trim(code.out), "--device-name", name});
  ASSERT_EQ(enrolled.value("post_code", ""), post) << enrolled.dump();
  // The first sync brought the master data: at least a kit type, two posts, an officer, a round.
  ASSERT_GE(enrolled["first_sync"].value("pulled", 0), 5) << enrolled.dump();
}

std::set<std::string> EndToEndFixture::HandoverIds(const std::string& db) {
  const json list = KitsyncJson(db, {"handovers"});
  std::set<std::string> ids;
  for (const json& h : list["handovers"]) ids.insert(h.value("id", ""));
  return ids;
}

std::string EndToEndFixture::ServerDatabase() const {
  return (std::filesystem::path(data_dir_) / "server.db").string();
}

ReadOnlyDb::ReadOnlyDb(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
  }
  sqlite3_busy_timeout(db_, 5000);
}

ReadOnlyDb::~ReadOnlyDb() { sqlite3_close_v2(db_); }

std::string ReadOnlyDb::QueryText(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    return out;
  }
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
  }
  sqlite3_finalize(stmt);
  return out;
}

int64_t ReadOnlyDb::QueryInt(const std::string& sql) {
  const std::string text = QueryText(sql);
  return text.empty() ? 0 : std::stoll(text);
}

}  // namespace kitsync::testing

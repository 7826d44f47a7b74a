#include "test_support.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <vector>
#include <stdexcept>

namespace kitsync::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kitsync-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

core::MasterData SampleMasterData() {
  core::MasterData m;
  m.kit_types = {{"00000000-0000-7000-8000-000000000001", "HYG-KIT", "Hygiene kit", "kit"},
                 {"00000000-0000-7000-8000-000000000002", "PPE-SET", "Protective-equipment set",
                  "set"}};
  m.posts = {{"00000000-0000-7000-8000-000000000011", "ENT", "Entikong"},
             {"00000000-0000-7000-8000-000000000012", "NUN", "Nunukan"}};
  m.officers = {{"00000000-0000-7000-8000-000000000021", "ENT-OF-1", "Officer Entikong",
                 m.posts[0].id, core::OfficerRole::kOfficer},
                {"00000000-0000-7000-8000-000000000022", "NUN-OF-1", "Officer Nunukan",
                 m.posts[1].id, core::OfficerRole::kOfficer}};
  m.rounds = {{"00000000-0000-7000-8000-000000000031", "HYG-R1", "Hygiene round", true,
               {{m.kit_types[0].id, 1}}},
              {"00000000-0000-7000-8000-000000000032", "PPE-R1", "PPE round", false,
               {{m.kit_types[1].id, 2}}}};
  return m;
}

std::unique_ptr<core::Store> MakeTablet(const std::string& path, core::StoreOptions options) {
  core::TabletSetup setup{"ENT", "tablet-1", "programme-key-0123", ""};
  auto store = core::Store::Create(path, setup, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  auto s = (*store)->ImportMasterData(SampleMasterData());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(store).value();
}

core::HandoverInput SampleHandover(const std::string& beneficiary_id) {
  core::HandoverInput in;
  in.round_code = "HYG-R1";
  in.beneficiary_id = beneficiary_id;
  in.kit_type_code = "HYG-KIT";
  in.quantity = 1;
  in.officer_code = "ENT-OF-1";
  in.proof = {core::ProofKind::kSignature, "sha256:5f1d0c"};
  in.consent = true;
  return in;
}

RawDb::RawDb(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(db_);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_busy_timeout(db_, 5000);
}

RawDb::~RawDb() { sqlite3_close_v2(db_); }

void RawDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(sql + ": " + message);
  }
}

namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Stmt PrepareOrThrow(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error(sql + ": " + sqlite3_errmsg(db));
  }
  return Stmt(raw);
}

}  // namespace

int64_t RawDb::QueryInt(const std::string& sql) {
  Stmt stmt = PrepareOrThrow(db_, sql);
  return sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : 0;
}

std::set<std::string> RawDb::QueryColumn(const std::string& sql) {
  Stmt stmt = PrepareOrThrow(db_, sql);
  std::set<std::string> out;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
    const auto* p = sqlite3_column_text(stmt.get(), 0);
    out.insert(p ? reinterpret_cast<const char*>(p) : "");
  }
  return out;
}

void LoadSqlFile(const std::string& db_path, const std::string& sql_file) {
  std::ifstream in(sql_file);
  if (!in) throw std::runtime_error("cannot read " + sql_file);
  std::ostringstream sql;
  sql << in.rdbuf();
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open(db_path.c_str(), &raw);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
  if (opened != SQLITE_OK) throw std::runtime_error("cannot create " + db_path);
  char* err = nullptr;
  if (sqlite3_exec(db.get(), sql.str().c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(sql_file + ": " + message);
  }
}

std::string RawDb::QueryText(const std::string& sql) {
  Stmt stmt = PrepareOrThrow(db_, sql);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return {};
  const auto* p = sqlite3_column_text(stmt.get(), 0);
  return p ? reinterpret_cast<const char*>(p) : "";
}

std::string CanonicalDump(const std::string& db_path) {
  sqlite3* raw = nullptr;
  sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
  std::string out;
  Stmt tables = PrepareOrThrow(
      db.get(), "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (sqlite3_step(tables.get()) == SQLITE_ROW) {
    const std::string table = reinterpret_cast<const char*>(sqlite3_column_text(tables.get(), 0));
    out += "== " + table + "\n";
    Stmt rows = PrepareOrThrow(db.get(), "SELECT * FROM \"" + table + "\"");
    const int columns = sqlite3_column_count(rows.get());
    std::vector<std::string> lines;
    while (sqlite3_step(rows.get()) == SQLITE_ROW) {
      std::string line;
      for (int c = 0; c < columns; ++c) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(rows.get(), c));
        line += p ? std::string(p, sqlite3_column_bytes(rows.get(), c)) : "<null>";
        line += '\x1f';
      }
      lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    for (auto& l : lines) out += l + "\n";
  }
  return out;
}

}  // namespace kitsync::testing

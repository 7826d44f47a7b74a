// Shared fixtures for tests that need a real tablet database on disk.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "kitsync/core/store.h"

namespace kitsync::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A wall clock the test moves by hand.
struct ManualClock {
  std::shared_ptr<int64_t> now_ms = std::make_shared<int64_t>(1'790'000'000'000);  // 2026-09
  core::WallClock AsWallClock() const {
    auto p = now_ms;
    return [p] { return *p; };
  }
  void Set(int64_t ms) { *now_ms = ms; }
  void Advance(int64_t ms) { *now_ms += ms; }
};

// Master data with IDs fixed for tests: kit types HYG-KIT and PPE-SET; posts ENT and NUN;
// officers ENT-OF-1 (ENT) and NUN-OF-1 (NUN); round HYG-R1 (one HYG-KIT per beneficiary,
// proof required) and PPE-R1 (two PPE-SET, no proof required).
core::MasterData SampleMasterData();

// A tablet at ENT with the sample master data loaded.
std::unique_ptr<core::Store> MakeTablet(const std::string& path, core::StoreOptions options = {});

// A handover input at ENT that passes validation once `beneficiary_id` is registered.
core::HandoverInput SampleHandover(const std::string& beneficiary_id);

// Every row of every table, in a canonical order: equal dumps mean equal content.
std::string CanonicalDump(const std::string& db_path);

// Runs the SQL in `sql_file` (a dump as the sqlite3 shell writes it) on a new database file at
// `db_path`, outside the store: a database as an older kitsync left it. Throws on failure.
void LoadSqlFile(const std::string& db_path, const std::string& sql_file);

// Raw SQL on a database file, outside the store: for tampering and independent checks.
class RawDb {
 public:
  explicit RawDb(const std::string& path);
  ~RawDb();
  void Exec(const std::string& sql);
  int64_t QueryInt(const std::string& sql);
  // The text of the first column of every row, as a set.
  std::set<std::string> QueryColumn(const std::string& sql);
  std::string QueryText(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kitsync::testing

// The fixture of the end-to-end tests with the real binaries: a `kitsync-server` on loopback with
// an ephemeral port and its master data loaded through `kitsync-admin`, `kitsync` tablets
// enrolled through the CLI, and helpers that run either program and read its --json output.
//
// REQUIRES: the target compiling this defines KITSYNC_BIN, KITSYNC_SERVER_BIN and
// KITSYNC_ADMIN_BIN as the paths of the three programs.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "process.h"
#include "test_support.h"

namespace kitsync::testing {

inline constexpr std::chrono::seconds kCommandTimeout{120};

// Master data of two posts (ENT, NUN), one kit type, one officer at ENT and a round that
// entitles each family to one hygiene kit against proof of receipt.
inline constexpr char kTwoPostMasterJson[] = R"({
  "kit_types": [{"code": "HYG-KIT", "name": "Hygiene kit", "unit": "kit"}],
  "posts": [{"code": "ENT", "name": "Entikong"}, {"code": "NUN", "name": "Nunukan"}],
  "officers": [{"code": "ENT-OF-01", "name": "Ayu Lestari", "post": "ENT", "role": "officer"}],
  "rounds": [{"code": "HYG-2026-11", "name": "Hygiene kits", "requires_proof": true,
              "entitlements": [{"kit_type": "HYG-KIT", "max_per_beneficiary": 1}]}]
})";

// `s` without trailing newlines, carriage returns and spaces.
std::string Trim(std::string s);

class EndToEndFixture : public ::testing::Test {
 protected:
  // `master_json` is loaded with `kitsync-admin master load` in SetUp.
  explicit EndToEndFixture(std::string master_json) : master_json_(std::move(master_json)) {}

  void SetUp() override;

  // Starts `kitsync-server serve` on `listen` and waits (bounded) for its port file.
  void StartServer(const std::string& listen);

  // `kitsync-admin --server ... --token-file ...` with `args`.
  ProcessResult Admin(std::vector<std::string> args);
  // `kitsync --db <dir>/<db>` with `args`.
  ProcessResult Kitsync(const std::string& db, std::vector<std::string> args);
  // Runs a kitsync command with --json that must succeed; its output.
  nlohmann::json KitsyncJson(const std::string& db, std::vector<std::string> args);
  // Runs a kitsync-admin command with --json that must succeed; its output.
  nlohmann::json AdminJson(std::vector<std::string> args);

  // Enrols a tablet at `post` with a one-time code from `kitsync-admin enrol-code`; its first
  // sync must have pulled the master data.
  void EnrolTablet(const std::string& db, const std::string& name, const std::string& post = "ENT");

  std::set<std::string> HandoverIds(const std::string& db);

  std::string ServerDatabase() const;

  TempDir dir_;
  std::string data_dir_;
  std::string token_file_;
  std::string address_;
  std::unique_ptr<BackgroundProcess> server_;

 private:
  std::string master_json_;
};

// A database file opened read-only with the SQLite C API, outside the store. Read-only, so that
// closing it never checkpoints a write-ahead log a killed process left: the next `kitsync`
// recovers the file itself, as the kill left it.
class ReadOnlyDb {
 public:
  explicit ReadOnlyDb(const std::string& path);
  ~ReadOnlyDb();
  ReadOnlyDb(const ReadOnlyDb&) = delete;
  ReadOnlyDb& operator=(const ReadOnlyDb&) = delete;

  // The first column of the first row; a failed query is a test failure.
  std::string QueryText(const std::string& sql);
  int64_t QueryInt(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kitsync::testing

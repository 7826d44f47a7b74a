#include "backup.h"

#include <cstdio>
#include <iostream>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_store.h"

namespace kitsync::server_app {
namespace {

using core::Result;
using core::Status;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct CopySummary {
  int64_t schema_version = 0;
  int64_t feed_entries = 0;
  int64_t feed_head = 0;
  int64_t devices = 0;
};

// What makes a file a usable server database: SQLite finds nothing wrong in it, and it holds the
// meta rows a server cannot start without.
Result<CopySummary> CheckCopy(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, core::sqlite::Db::Open(path, /*create=*/false));
  ASSIGN_OR_RETURN(auto check, db->Prepare("PRAGMA integrity_check"));
  ASSIGN_OR_RETURN(bool row, check->Step());
  const std::string verdict = row ? check->Text(0) : "no answer";
  if (verdict != "ok") return Status::DataLoss("SQLite's integrity check: " + verdict);
  ASSIGN_OR_RETURN(int64_t keys, db->QueryInt("SELECT count(*) FROM meta WHERE key IN "
                                              "('admin_token_sha256', 'programme_key', "
                                              "'server_device_id')"));
  if (keys != 3) return Status::DataLoss("not a kitsync server database (meta rows missing)");
  CopySummary summary;
  ASSIGN_OR_RETURN(summary.schema_version, db->QueryInt("PRAGMA user_version"));
  ASSIGN_OR_RETURN(summary.feed_entries, db->QueryInt("SELECT count(*) FROM feed"));
  ASSIGN_OR_RETURN(summary.feed_head, db->QueryInt("SELECT max(server_seq) FROM feed"));
  ASSIGN_OR_RETURN(summary.devices, db->QueryInt("SELECT count(*) FROM devices"));
  return summary;
}

int Fail(const Status& status) {
  std::cerr << "kitsync-server: backup not written: " << status.message() << "\n";
  switch (status.code()) {
    case core::Code::kInvalidArgument:
    case core::Code::kAlreadyExists:
    case core::Code::kNotFound:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

}  // namespace

int Backup(const std::string& data_dir, const std::string& to) {
  const std::string source = sync::ServerDatabasePath(data_dir);
  auto db = core::sqlite::Db::Open(source, /*create=*/false);
  if (!db.ok()) return Fail(Status::NotFound("no server database in " + data_dir));
  // The server may be committing a batch right now; the copy's read transaction only waits out
  // a checkpoint, never a push.
  sqlite3_busy_timeout((*db)->handle(), 10000);
  Status written = core::WriteSnapshot(**db, to);
  if (!written.ok()) return Fail(written);
  auto summary = CheckCopy(to);
  if (!summary.ok()) {
    std::remove(to.c_str());
    return Fail(Status::DataLoss("the copy at " + to + " failed its check and was removed: " +
                                 summary.status().message()));
  }
  std::cout << "Backup of " << data_dir << " written to " << to << " (readable by you alone: it "
            << "holds the programme key).\n"
            << "  integrity check ok; schema version " << summary->schema_version << ", "
            << summary->feed_entries
            << " feed entries up to " << summary->feed_head << ", " << summary->devices
            << " devices\n";
  return kExitOk;
}

}  // namespace kitsync::server_app

// Checking that a file is a usable copy of a server's database.
#include "kitsync/sync/server_copy.h"

#include <filesystem>

#include "kitsync/core/sqlite.h"
#include "server_schema.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

Result<bool> HasTable(core::sqlite::Db& db, const char* name) {
  ASSIGN_OR_RETURN(auto stmt,
                   db.Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                              "name = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, std::string_view(name)).Step());
  return row && stmt->Int(0) > 0;
}

Result<ServerCopySummary> Check(core::sqlite::Db& db) {
  ASSIGN_OR_RETURN(auto check, db.Prepare("PRAGMA integrity_check"));
  ASSIGN_OR_RETURN(bool row, check->Step());
  const std::string verdict = row ? check->Text(0) : "no answer";
  if (verdict != "ok") return Status::DataLoss("SQLite's integrity check: " + verdict);
  ASSIGN_OR_RETURN(bool has_meta, HasTable(db, "meta"));
  if (!has_meta) return Status::DataLoss("not a kitsync server database (no meta table)");
  ASSIGN_OR_RETURN(int64_t keys, db.QueryInt("SELECT count(*) FROM meta WHERE key IN "
                                             "('admin_token_sha256', 'programme_key', "
                                             "'server_device_id')"));
  if (keys != 3) return Status::DataLoss("not a kitsync server database (meta rows missing)");
  ServerCopySummary summary;
  ASSIGN_OR_RETURN(summary.schema_version, db.QueryInt("PRAGMA user_version"));
  if (summary.schema_version > kServerSchemaVersion) {
    return Status::FailedPrecondition(
        "the copy has schema version " + std::to_string(summary.schema_version) +
        ", newer than this kitsync-server (" + std::to_string(kServerSchemaVersion) +
        "); use a newer kitsync-server");
  }
  ASSIGN_OR_RETURN(summary.feed_entries, db.QueryInt("SELECT count(*) FROM feed"));
  ASSIGN_OR_RETURN(summary.feed_head, db.QueryInt("SELECT max(server_seq) FROM feed"));
  ASSIGN_OR_RETURN(summary.devices, db.QueryInt("SELECT count(*) FROM devices"));
  ASSIGN_OR_RETURN(bool has_epochs, HasTable(db, "feed_epochs"));
  if (has_epochs) {
    ASSIGN_OR_RETURN(auto epoch,
                     db.Prepare("SELECT epoch FROM feed_epochs ORDER BY seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool held, epoch->Step());
    if (!held) return Status::DataLoss("the copy names no feed epoch");
    summary.feed_epoch = epoch->Text(0);
  }
  return summary;
}

}  // namespace

Result<ServerCopySummary> CheckServerCopy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("no file at " + path);
  }
  auto db = core::sqlite::Db::OpenReadOnly(path);
  Result<ServerCopySummary> summary =
      db.ok() ? Check(**db) : Result<ServerCopySummary>(db.status());
  if (summary.ok() || summary.status().code() == core::Code::kFailedPrecondition) return summary;
  // SQLite's own words ("file is not a database") mean little to whoever restores a server.
  return Status::DataLoss(
      path + " is not a usable kitsync server database: " + summary.status().message());
}

}  // namespace kitsync::sync

// Restoring a copy of the server's database into a new data directory, under a new feed epoch.
#include <filesystem>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_copy.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

namespace fs = std::filesystem;
using core::Result;
using core::Status;

// A restore never mixes with anything already there: an old server's database, its write-ahead
// log, or an admin token of another server.
Status RequireEmptyOrAbsent(const std::string& dir) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(dir, ec);
  if (!fs::exists(status)) return Status::Ok();
  if (!fs::is_directory(status)) {
    return Status::AlreadyExists(dir + " exists and is not a directory; restore into a new one");
  }
  if (!fs::is_empty(dir, ec) || ec) {
    return Status::AlreadyExists(dir +
                                 " is not empty; restore into a new or empty directory "
                                 "(a restore never replaces or mixes with what is there)");
  }
  return Status::Ok();
}

Result<bool> MakeDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return false;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
  // The database holds the programme key, as `init` makes it.
  fs::permissions(dir, fs::perms::owner_all, ec);
  const fs::path parent = fs::absolute(dir, ec).parent_path();
  RETURN_IF_ERROR(core::SyncDirectory(parent.string()));
  return true;
}

// Runs on the copy under its partial name: the server's own opening (schema brought up to
// date, as `serve` would), then the new epoch, then the file made whole on its own.
Result<FeedEpoch> StartEpochIn(const std::string& partial, int64_t start_seq, int64_t now_ms) {
  SqliteServerStoreOptions options;
  options.background_checkpoints = false;
  ASSIGN_OR_RETURN(auto store, SqliteServerStore::OpenFile(partial, options));
  ASSIGN_OR_RETURN(FeedEpoch epoch, store->StartFeedEpoch(start_seq, now_ms));
  RETURN_IF_ERROR(store->FoldLogIntoFile());
  return epoch;
}

void RemoveLeftovers(const std::string& database, bool made_dir, const std::string& dir) {
  std::error_code ec;
  const std::string partial = database + core::kPartialSuffix;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(partial + suffix, ec);
  if (made_dir) fs::remove(dir, ec);  // only if empty: never anything this call did not make
}

}  // namespace

Result<RestoreOutcome> RestoreServerCopy(const std::string& copy, const std::string& dir,
                                         int64_t now_ms) {
  if (copy.empty()) return Status::InvalidArgument("no copy to restore from was given");
  if (dir.empty()) return Status::InvalidArgument("a data directory is required");
  RETURN_IF_ERROR(RequireEmptyOrAbsent(dir));
  RestoreOutcome out;
  ASSIGN_OR_RETURN(out.copy, CheckServerCopy(copy));
  ASSIGN_OR_RETURN(auto source, core::sqlite::Db::OpenReadOnly(copy));

  ASSIGN_OR_RETURN(const bool made_dir, MakeDirectory(dir));
  out.database = ServerDatabasePath(dir);
  Status installed = core::WriteSnapshot(*source, out.database, [&](const std::string& partial) {
    auto epoch = StartEpochIn(partial, out.copy.feed_head, now_ms);
    if (epoch.ok()) out.epoch = *epoch;
    return epoch.status();
  });
  if (!installed.ok()) {
    RemoveLeftovers(out.database, made_dir, dir);
    return installed;
  }
  return out;
}

}  // namespace kitsync::sync

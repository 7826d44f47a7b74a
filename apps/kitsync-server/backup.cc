#include "backup.h"

#include <cstdio>
#include <iostream>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_copy.h"
#include "kitsync/sync/server_store.h"

namespace kitsync::server_app {
namespace {

using core::Status;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

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
  auto summary = sync::CheckServerCopy(to);
  if (!summary.ok()) {
    std::remove(to.c_str());
    return Fail(Status::DataLoss("the copy at " + to + " failed its check and was removed: " +
                                 summary.status().message()));
  }
  std::cout << "Backup of " << data_dir << " written to " << to << " (readable by you alone: it "
            << "holds the programme key).\n"
            << "  integrity check ok; schema version " << summary->schema_version << ", "
            << summary->feed_entries << " feed entries up to " << summary->feed_head
            << (summary->feed_epoch.empty() ? "" : " (feed epoch " + summary->feed_epoch + ")")
            << ", " << summary->devices << " devices\n";
  return kExitOk;
}

}  // namespace kitsync::server_app

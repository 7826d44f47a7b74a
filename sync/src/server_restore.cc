// Restoring a copy of the server's database into a new data directory, under a new feed epoch.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_copy.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

namespace fs = std::filesystem;
using core::Result;
using core::Status;

// What a restore cut by a crash leaves in its directory: the partial database, and what SQLite
// made beside it while the new epoch was written into it. Nothing else is ever removed.
bool IsRestoreLeftover(const std::string& dir, const std::string& name) {
  const std::string partial =
      fs::path(ServerDatabasePath(dir)).filename().string() + core::kPartialSuffix;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (name == partial + suffix) return true;
  }
  return false;
}

// A restore never mixes with anything already there: an old server's database, its write-ahead
// log, or an admin token of another server. Returns the leftovers of a cut restore, which may
// go once this restore holds the directory's lock.
Result<std::vector<fs::path>> RequireEmptyOrAbsent(const std::string& dir) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(dir, ec);
  std::vector<fs::path> leftovers;
  if (!fs::exists(status)) return leftovers;
  if (!fs::is_directory(status)) {
    return Status::AlreadyExists(dir + " exists and is not a directory; restore into a new one");
  }
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!IsRestoreLeftover(dir, it->path().filename().string())) {
      return Status::AlreadyExists(dir +
                                   " is not empty; restore into a new or empty directory "
                                   "(a restore never replaces or mixes with what is there)");
    }
    leftovers.push_back(it->path());
  }
  if (ec) return Status::Internal("cannot list " + dir + ": " + ec.message());
  return leftovers;
}

// An exclusive lock on the data directory for the whole restore, so that a second restore into
// it is refused rather than racing for the partial file (and removing it as a leftover).
class DirectoryLock {
 public:
  static Result<DirectoryLock> Take(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::Internal("cannot open " + dir + ": " + std::strerror(errno));
    DirectoryLock lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Status::FailedPrecondition("another restore into " + dir + " is running");
      }
      return Status::Internal("cannot lock " + dir + ": " + std::strerror(errno));
    }
    return lock;
  }
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

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
  RETURN_IF_ERROR(RequireEmptyOrAbsent(dir).status());
  RestoreOutcome out;
  ASSIGN_OR_RETURN(out.copy, CheckServerCopy(copy));
  ASSIGN_OR_RETURN(auto source, core::sqlite::Db::OpenReadOnly(copy));

  ASSIGN_OR_RETURN(const bool made_dir, MakeDirectory(dir));
  // Held until the copy is in place or its partial file removed. A restore that cannot take it
  // touches nothing: what is in the directory is the other restore's.
  ASSIGN_OR_RETURN(const DirectoryLock lock, DirectoryLock::Take(dir));
  // Looked at again under the lock: what is there now is this directory's for good. A cut
  // restore's partial database never became the server's, so it goes.
  ASSIGN_OR_RETURN(const std::vector<fs::path> leftovers, RequireEmptyOrAbsent(dir));
  for (const fs::path& leftover : leftovers) {
    std::error_code ec;
    fs::remove(leftover, ec);
    if (ec) return Status::Internal("cannot remove " + leftover.string() + ": " + ec.message());
  }
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

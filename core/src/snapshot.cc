#include "kitsync/core/snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kitsync::core {
namespace {

namespace fs = std::filesystem;

Status Errno(const std::string& what) {
  return Status::Internal(what + ": " + std::strerror(errno));
}

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open " + path + " to sync it");
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced ? Status::Ok() : Errno("cannot sync " + path);
}

// Like rename(2), but fails instead of replacing a file that appeared at `to` meanwhile.
Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::AlreadyExists(to + " appeared while the copy was written");
  if (errno != EINVAL) return Errno("cannot move the copy into place at " + to);
  // A file system without RENAME_NOREPLACE: a hard link never replaces either.
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists(to + " appeared while the copy was written");
    return Errno("cannot move the copy into place at " + to);
  }
  ::unlink(from.c_str());
  return Status::Ok();
}

// An empty file is an empty database to SQLite: creating it first gives the copy its mode, and
// O_EXCL refuses a partial file this call did not create.
Status CreatePartial(const std::string& partial) {
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return Status::Ok();
  }
  if (errno == EEXIST) {
    return Status::AlreadyExists(partial + " exists: another backup to this name is running, "
                                 "or one was cut; remove it or choose another name");
  }
  return Errno("cannot create " + partial);
}

Status CopyInto(sqlite::Db& db, const std::string& partial, const SnapshotFinish& finish) {
  // VACUUM INTO reads one snapshot of the database in a read transaction, so writers on other
  // connections go on and the copy is one consistent moment.
  ASSIGN_OR_RETURN(auto copy, db.Prepare("VACUUM INTO ?1"));
  RETURN_IF_ERROR(copy->Bind(1, partial).Run());
  if (finish) RETURN_IF_ERROR(finish(partial));
  return SyncPath(partial, O_RDONLY);
}

}  // namespace

Status WriteSnapshot(sqlite::Db& db, const std::string& path, const SnapshotFinish& finish) {
  if (path.empty()) return Status::InvalidArgument("no file name given for the copy");
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound("no directory " + dir.string() + " to write " + path + " into");
  }
  if (fs::exists(fs::symlink_status(target, ec))) {
    return Status::AlreadyExists(path + " already exists; a backup never replaces a file, "
                                 "choose a new name");
  }
  const std::string partial = path + kPartialSuffix;
  RETURN_IF_ERROR(CreatePartial(partial));
  Status s = CopyInto(db, partial, finish);
  if (s.ok()) s = RenameNoReplace(partial, path);
  if (!s.ok()) {
    ::unlink(partial.c_str());  // created by this call; gone already if the rename succeeded
    return s;
  }
  return SyncDirectory(dir.string());
}

Status SyncDirectory(const std::string& dir) { return SyncPath(dir, O_RDONLY | O_DIRECTORY); }

}  // namespace kitsync::core

// A consistent copy of a live SQLite database, for backups.
#pragma once

#include <functional>
#include <string>

#include "kitsync/core/sqlite.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

// Writes a copy of `db` as one consistent moment of it to the new file `path`, while other
// connections may keep writing. The copy is readable by the owner alone (tablet and server
// databases hold the programme key), is durable once this returns OK, and never replaces an
// existing file. After a crash the file at `path` is either absent or whole: the copy is written
// under `path` + kPartialSuffix and renamed into place. A leftover partial file (a cut backup) is
// refused by name rather than removed, since nothing proves it is one of ours.
//
// `finish`, when given, runs on the whole copy under its partial name before it is synced and
// renamed: what it changes is part of the copy that appears at `path`, or of none at all (a
// restore starts the copy's new feed epoch there). Its error removes the partial file and is
// returned.
//
// Errors: INVALID_ARGUMENT for an empty path, NOT_FOUND when the directory does not exist,
// ALREADY_EXISTS when `path` or its partial file exists, INTERNAL (with the reason) for I/O.
using SnapshotFinish = std::function<Status(const std::string& partial_path)>;
Status WriteSnapshot(sqlite::Db& db, const std::string& path, const SnapshotFinish& finish = {});

// fsync(2) on a directory, so that names created or renamed in it survive a power cut.
Status SyncDirectory(const std::string& dir);

inline constexpr char kPartialSuffix[] = ".kitsync-partial";

}  // namespace kitsync::core

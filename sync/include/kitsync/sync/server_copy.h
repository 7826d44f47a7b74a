// Copies of the server's database (`kitsync-server backup`): checking that a file is one, and
// restoring one as the database of a new data directory (docs/backup.md).
#pragma once

#include <cstdint>
#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/server_store.h"

namespace kitsync::sync {

// What a copy holds, as `backup` and `restore` print it.
struct ServerCopySummary {
  int64_t schema_version = 0;
  int64_t feed_entries = 0;
  int64_t feed_head = 0;  // the highest server sequence in the copy's feed
  int64_t devices = 0;
  std::string feed_epoch;  // the copy's current epoch; empty for a copy from before epochs
};

// What makes a file a usable server database: SQLite finds nothing wrong in it, it holds the
// meta rows a server cannot start without, and its schema is not newer than this server's.
// The file is opened read-only and never changed.
//
// Errors: NOT_FOUND when there is no such file; DATA_LOSS, naming what is wrong, for anything
// else that keeps it from being a server database; FAILED_PRECONDITION for a newer schema.
core::Result<ServerCopySummary> CheckServerCopy(const std::string& path);

struct RestoreOutcome {
  ServerCopySummary copy;  // as checked, before anything was written
  FeedEpoch epoch;         // the new epoch, beginning at the copy's feed head
  std::string database;    // where the copy now is: ServerDatabasePath(dir)
};

// Installs the copy at `copy` as the database of the data directory `dir`, which must be new
// or empty, and starts a new feed epoch at the copy's feed head: tablets that pulled from the
// copied server after the copy was taken hold entries this server will never have, and the new
// epoch tells them so. Nothing else of the copy changes (its schema is brought up to date, as
// `serve` would on opening it). The copy file itself is only read.
//
// Crash-safe: the database is written as `server.db` + core::kPartialSuffix, synced, and
// renamed into place, and the directory synced; after a crash `dir` holds no server database
// or the whole restored one.
//
// Errors: INVALID_ARGUMENT for an empty path; ALREADY_EXISTS when `dir` is not an empty
// directory; those of CheckServerCopy for the copy (nothing created in any of these cases);
// INTERNAL for I/O while installing (what was written is removed).
core::Result<RestoreOutcome> RestoreServerCopy(const std::string& copy, const std::string& dir,
                                               int64_t now_ms);

}  // namespace kitsync::sync

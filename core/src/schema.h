// The tablet database schema, as numbered migration steps. The step reached is kept in
// PRAGMA user_version; each step runs in its own transaction, so a crash mid-migration leaves the
// previous version intact.
#pragma once

#include "kitsync/core/status.h"
#include "kitsync/core/sqlite.h"

namespace kitsync::core {

inline constexpr int kSchemaVersion = 5;

// Connection settings every tablet connection uses (WAL, synchronous, foreign keys).
Status ConfigureConnection(sqlite::Db& db, bool durable, int busy_timeout_ms);
// Brings the schema up to kSchemaVersion. Refuses a database from a newer version of kitsync.
Status Migrate(sqlite::Db& db);

}  // namespace kitsync::core

// The server database schema, as numbered migration steps kept in PRAGMA user_version (the same
// scheme as the tablet's, in a separate numbering: the two databases never share a file).
#pragma once

#include "kitsync/core/sqlite.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

inline constexpr int kServerSchemaVersion = 11;

// WAL, synchronous=FULL, foreign keys, busy timeout.
core::Status ConfigureServerConnection(core::sqlite::Db& db, int busy_timeout_ms);
// Brings the schema up to kServerSchemaVersion; refuses a database from a newer server.
core::Status MigrateServerSchema(core::sqlite::Db& db);

}  // namespace kitsync::sync

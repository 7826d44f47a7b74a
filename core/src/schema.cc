#include "schema.h"

#include <string>

namespace kitsync::core {
namespace {

// Step N takes the schema from version N-1 to N. Never edit a released step: add a new one.
constexpr const char* kSteps[] = {
    // 1: the ledger.
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE kit_types (
  id   TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  unit TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE posts (
  id   TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE officers (
  id      TEXT PRIMARY KEY,
  code    TEXT NOT NULL UNIQUE,
  name    TEXT NOT NULL,
  post_id TEXT NOT NULL REFERENCES posts(id),
  role    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE rounds (
  id             TEXT PRIMARY KEY,
  code           TEXT NOT NULL UNIQUE,
  name           TEXT NOT NULL,
  requires_proof INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE round_entitlements (
  round_id            TEXT NOT NULL REFERENCES rounds(id),
  kit_type_id         TEXT NOT NULL REFERENCES kit_types(id),
  max_per_beneficiary INTEGER NOT NULL CHECK (max_per_beneficiary > 0),
  PRIMARY KEY (round_id, kit_type_id)
) WITHOUT ROWID;

CREATE TABLE beneficiaries (
  id             TEXT NOT NULL UNIQUE,
  doc_hash       TEXT NOT NULL,
  full_name      TEXT NOT NULL,
  phone          TEXT NOT NULL,
  household_size INTEGER NOT NULL,
  post_id        TEXT NOT NULL,
  device_id      TEXT NOT NULL,
  hlc            INTEGER NOT NULL
);
CREATE INDEX beneficiaries_by_doc_hash ON beneficiaries (doc_hash);

-- A rowid table, not WITHOUT ROWID: rows of ~360 bytes are too large for a B-tree keyed by the
-- UUID itself (SQLite advises under ~1/20 of a page), and time-ordered UUIDs keep the unique
-- index append-only anyway.
CREATE TABLE handovers (
  id                  TEXT NOT NULL UNIQUE,
  round_id            TEXT NOT NULL,
  beneficiary_id      TEXT NOT NULL,
  kit_type_id         TEXT NOT NULL,
  quantity            INTEGER NOT NULL CHECK (quantity > 0),
  post_id             TEXT NOT NULL,
  officer_id          TEXT NOT NULL,
  device_id           TEXT NOT NULL,
  hlc                 INTEGER NOT NULL,
  wall_ms             INTEGER NOT NULL,
  proof_kind          TEXT NOT NULL,
  proof_ref           TEXT NOT NULL,
  collected_by        TEXT NOT NULL,
  proxy_relation      TEXT NOT NULL,
  consent             INTEGER NOT NULL,
  override_reason     TEXT NOT NULL,
  overridden_warnings TEXT NOT NULL
);
-- Entitlement checks: what this beneficiary already received. A beneficiary has a handful of
-- handovers, so the index holds only the beneficiary; stock totals are summed once per process
-- (see store_stock.cc) and need no index.
CREATE INDEX handovers_by_beneficiary ON handovers (beneficiary_id);

-- Keyed by handover and device: two tablets of a post may void the same handover before either
-- hears of the other, and every replica must end up holding both voids.
CREATE TABLE handover_voids (
  handover_id TEXT NOT NULL REFERENCES handovers (id),
  device_id   TEXT NOT NULL,
  reason      TEXT NOT NULL,
  officer_id  TEXT NOT NULL,
  hlc         INTEGER NOT NULL,
  wall_ms     INTEGER NOT NULL,
  PRIMARY KEY (handover_id, device_id)
) WITHOUT ROWID;

CREATE TABLE stock_movements (
  id                  TEXT NOT NULL UNIQUE,
  post_id             TEXT NOT NULL,
  kit_type_id         TEXT NOT NULL,
  kind                TEXT NOT NULL,
  quantity            INTEGER NOT NULL,
  counterpart_post_id TEXT NOT NULL,
  reference           TEXT NOT NULL,
  reason              TEXT NOT NULL,
  officer_id          TEXT NOT NULL,
  device_id           TEXT NOT NULL,
  hlc                 INTEGER NOT NULL,
  wall_ms             INTEGER NOT NULL
);
CREATE INDEX stock_movements_by_post_kit ON stock_movements (post_id, kit_type_id, kind, quantity);

CREATE TABLE change_log (
  seq       INTEGER PRIMARY KEY,
  hlc       INTEGER NOT NULL,
  entity    TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  op        TEXT NOT NULL,
  -- NULL for facts that never change (handovers, voids, movements): their canonical payload is
  -- rebuilt from their row, so each is written once. Beneficiaries are stored here, as they will
  -- gain updates.
  payload   BLOB,
  hash      BLOB NOT NULL  -- SHA-256 chain; the previous entry's hash is the previous row's
);

-- Facts are never rewritten: a mistake is voided and recorded again.
CREATE TRIGGER handovers_are_append_only_u BEFORE UPDATE ON handovers
  BEGIN SELECT RAISE(ABORT, 'handovers are append-only; void and record again'); END;
CREATE TRIGGER handovers_are_append_only_d BEFORE DELETE ON handovers
  BEGIN SELECT RAISE(ABORT, 'handovers are append-only; void and record again'); END;
CREATE TRIGGER voids_are_append_only_u BEFORE UPDATE ON handover_voids
  BEGIN SELECT RAISE(ABORT, 'voids are append-only'); END;
CREATE TRIGGER voids_are_append_only_d BEFORE DELETE ON handover_voids
  BEGIN SELECT RAISE(ABORT, 'voids are append-only'); END;
CREATE TRIGGER movements_are_append_only_u BEFORE UPDATE ON stock_movements
  BEGIN SELECT RAISE(ABORT, 'stock movements are append-only'); END;
CREATE TRIGGER movements_are_append_only_d BEFORE DELETE ON stock_movements
  BEGIN SELECT RAISE(ABORT, 'stock movements are append-only'); END;
CREATE TRIGGER change_log_is_append_only_u BEFORE UPDATE ON change_log
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER change_log_is_append_only_d BEFORE DELETE ON change_log
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
)sql",
    // 2: corrections of beneficiaries' details. The row holds the current details; each field
    // keeps the version (HLC, device) that set it, so a correction arriving late never
    // overwrites a newer one (core/conflicts.h: IsNewerVersion). Registration is version 0.
    R"sql(
ALTER TABLE beneficiaries ADD COLUMN name_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE beneficiaries ADD COLUMN name_device TEXT NOT NULL DEFAULT '';
ALTER TABLE beneficiaries ADD COLUMN phone_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE beneficiaries ADD COLUMN phone_device TEXT NOT NULL DEFAULT '';
ALTER TABLE beneficiaries ADD COLUMN household_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE beneficiaries ADD COLUMN household_device TEXT NOT NULL DEFAULT '';

CREATE TABLE beneficiary_updates (
  id             TEXT PRIMARY KEY,
  beneficiary_id TEXT NOT NULL REFERENCES beneficiaries (id),
  hlc            INTEGER NOT NULL,
  payload        BLOB NOT NULL  -- canonical encoding
) WITHOUT ROWID;
CREATE INDEX beneficiary_updates_by_beneficiary ON beneficiary_updates (beneficiary_id);
CREATE TRIGGER beneficiary_updates_are_append_only_u BEFORE UPDATE ON beneficiary_updates
  BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END;
CREATE TRIGGER beneficiary_updates_are_append_only_d BEFORE DELETE ON beneficiary_updates
  BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END;
)sql",
    // 3: what other posts handed out to each family, as of the last pull, for the entitlement
    // warning. Replaced by each newer summary; not a fact of this tablet's.
    R"sql(
CREATE TABLE served_elsewhere (
  doc_hash    TEXT NOT NULL,
  round_id    TEXT NOT NULL,
  kit_type_id TEXT NOT NULL,
  post_id     TEXT NOT NULL,
  quantity    INTEGER NOT NULL,
  PRIMARY KEY (doc_hash, round_id, kit_type_id, post_id)
) WITHOUT ROWID;
)sql",
    // 4: the office's decisions on conflicts concerning this post.
    R"sql(
CREATE TABLE resolutions (
  conflict_id TEXT NOT NULL,
  hlc         INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  action      TEXT NOT NULL,
  subject_ids TEXT NOT NULL,  -- space-separated IDs
  note        TEXT NOT NULL,
  decided_by  TEXT NOT NULL,
  wall_ms     INTEGER NOT NULL,
  PRIMARY KEY (conflict_id, hlc)
) WITHOUT ROWID;
)sql",
    // 5: merges of beneficiaries decided by the office, one row per retired beneficiary: the
    // merge that stands for it (core/merges.h). Handovers keep the beneficiary they were recorded
    // for; whoever asks whose a handover is looks it up here.
    R"sql(
CREATE TABLE beneficiary_merges (
  retired_id TEXT PRIMARY KEY,
  kept_id    TEXT NOT NULL,
  merge_id   TEXT NOT NULL,
  hlc        INTEGER NOT NULL,
  payload    BLOB NOT NULL  -- canonical encoding of the standing merge
) WITHOUT ROWID;
CREATE INDEX beneficiary_merges_by_kept ON beneficiary_merges (kept_id);
)sql",
};

static_assert(std::size(kSteps) == kSchemaVersion);

}  // namespace

Status ConfigureConnection(sqlite::Db& db, bool durable, int busy_timeout_ms) {
  sqlite3_busy_timeout(db.handle(), busy_timeout_ms);
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("PRAGMA journal_mode=WAL"));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row || stmt->Text(0) != "wal") {
    return Status::Internal("the database refused write-ahead logging (journal_mode=" +
                            (row ? stmt->Text(0) : std::string("?")) + ")");
  }
  // FULL: in WAL mode every COMMIT fsyncs the log, so a handover reported recorded survives a
  // power cut. NORMAL would only fsync at checkpoints and can lose the last commits.
  RETURN_IF_ERROR(db.Exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF"));
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  // 32 MiB of page cache instead of SQLite's 2 MiB: an index keyed by beneficiary takes inserts
  // all over its B-tree, and a round's worth of it should stay in memory, not be re-read from
  // the OS for every handover.
  RETURN_IF_ERROR(db.Exec("PRAGMA cache_size=-32768"));
  return Status::Ok();
}

Status Migrate(sqlite::Db& db) {
  ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition("this database has schema version " +
                                      std::to_string(version) + ", newer than this kitsync (" +
                                      std::to_string(kSchemaVersion) + "); upgrade kitsync");
  }
  for (int64_t step = version + 1; step <= kSchemaVersion; ++step) {
    ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
    // Re-read inside the write lock: another process may have migrated meanwhile.
    ASSIGN_OR_RETURN(int64_t now, db.QueryInt("PRAGMA user_version"));
    if (now >= step) continue;
    RETURN_IF_ERROR(db.Exec(kSteps[step - 1]));
    RETURN_IF_ERROR(db.Exec(("PRAGMA user_version=" + std::to_string(step)).c_str()));
    RETURN_IF_ERROR(tx->Commit());
  }
  return Status::Ok();
}

}  // namespace kitsync::core

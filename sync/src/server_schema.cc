#include "server_schema.h"

#include <iterator>
#include <string>

namespace kitsync::sync {
namespace {

using core::Status;

// Step N takes the schema from version N-1 to N. Never edit a released step: add a new one.
constexpr const char* kSteps[] = {
    // 1: devices, master data, facts and the feed.
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

-- One ordered feed of everything tablets may pull. server_seq is a rowid alias: appended in
-- commit order and never reused, since nothing is ever deleted from the feed.
CREATE TABLE feed (
  server_seq    INTEGER PRIMARY KEY,
  channel       TEXT NOT NULL,  -- a post ID, or 'master'
  entity        TEXT NOT NULL,  -- "handover", "kit_type", ...
  entity_id     TEXT NOT NULL,
  hlc           INTEGER NOT NULL,
  origin_device TEXT NOT NULL,
  payload       BLOB NOT NULL   -- canonical encoding of the record
);
-- Pull reads one channel at a time in server order; origin_device is in the index so that
-- leaving out a device's own changes, and counting what remains, never touches the rows.
CREATE INDEX feed_by_channel ON feed (channel, server_seq, origin_device);

CREATE TABLE kit_types (
  id         TEXT PRIMARY KEY,
  code       TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL,
  unit       TEXT NOT NULL,
  server_seq INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;

CREATE TABLE posts (
  id         TEXT PRIMARY KEY,
  code       TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL,
  server_seq INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;

CREATE TABLE officers (
  id         TEXT PRIMARY KEY,
  code       TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL,
  post_id    TEXT NOT NULL REFERENCES posts(id),
  role       TEXT NOT NULL,
  server_seq INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;

CREATE TABLE rounds (
  id             TEXT PRIMARY KEY,
  code           TEXT NOT NULL UNIQUE,
  name           TEXT NOT NULL,
  requires_proof INTEGER NOT NULL,
  server_seq     INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;

CREATE TABLE round_entitlements (
  round_id            TEXT NOT NULL REFERENCES rounds(id),
  kit_type_id         TEXT NOT NULL REFERENCES kit_types(id),
  max_per_beneficiary INTEGER NOT NULL CHECK (max_per_beneficiary > 0),
  PRIMARY KEY (round_id, kit_type_id)
) WITHOUT ROWID;

CREATE TABLE devices (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  post_id          TEXT NOT NULL REFERENCES posts(id),
  token_sha256     BLOB NOT NULL UNIQUE,
  enrolled_ms      INTEGER NOT NULL,
  last_seen_ms     INTEGER NOT NULL DEFAULT 0,
  last_push_ms     INTEGER NOT NULL DEFAULT 0,
  acked_seq        INTEGER NOT NULL DEFAULT 0 CHECK (acked_seq >= 0),
  tip_hash         BLOB NOT NULL DEFAULT x'',  -- empty while acked_seq = 0 (genesis)
  pending_reported INTEGER NOT NULL DEFAULT 0,
  revoked_ms       INTEGER,                    -- NULL while the device may call
  revoke_reason    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Only a hash of each code is kept: a copy of the database does not let anyone enrol.
CREATE TABLE enrolment_codes (
  code_sha256 BLOB PRIMARY KEY,
  post_id     TEXT NOT NULL REFERENCES posts(id),
  created_ms  INTEGER NOT NULL,
  expires_ms  INTEGER NOT NULL,
  used_ms     INTEGER,
  used_by     TEXT REFERENCES devices(id)
) WITHOUT ROWID;

-- Facts, as on the tablet, plus where each entered the feed and whether its clock was beyond
-- the allowed skew when it arrived.
CREATE TABLE beneficiaries (
  id             TEXT PRIMARY KEY,
  doc_hash       TEXT NOT NULL,
  full_name      TEXT NOT NULL,
  phone          TEXT NOT NULL,
  household_size INTEGER NOT NULL,
  post_id        TEXT NOT NULL,
  device_id      TEXT NOT NULL,
  hlc            INTEGER NOT NULL,
  clock_ahead    INTEGER NOT NULL,
  server_seq     INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;
-- Duplicate registrations across posts are found by document hash.
CREATE INDEX beneficiaries_by_doc_hash ON beneficiaries (doc_hash);

CREATE TABLE handovers (
  id                  TEXT PRIMARY KEY,
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
  overridden_warnings TEXT NOT NULL,
  clock_ahead         INTEGER NOT NULL,
  server_seq          INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;
CREATE INDEX handovers_by_beneficiary ON handovers (beneficiary_id, round_id, kit_type_id, quantity);
CREATE INDEX handovers_by_post_kit ON handovers (post_id, kit_type_id, quantity);

-- Two tablets of one post may void the same handover while offline; both voids are facts and
-- neither may block the other's sync, so a void is keyed by the handover and the voiding device.
CREATE TABLE handover_voids (
  handover_id TEXT NOT NULL REFERENCES handovers(id),
  device_id   TEXT NOT NULL,
  post_id     TEXT NOT NULL,  -- the voided handover's post: the void's channel
  reason      TEXT NOT NULL,
  officer_id  TEXT NOT NULL,
  hlc         INTEGER NOT NULL,
  wall_ms     INTEGER NOT NULL,
  clock_ahead INTEGER NOT NULL,
  server_seq  INTEGER NOT NULL REFERENCES feed(server_seq),
  PRIMARY KEY (handover_id, device_id)
) WITHOUT ROWID;

CREATE TABLE stock_movements (
  id                  TEXT PRIMARY KEY,
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
  wall_ms             INTEGER NOT NULL,
  clock_ahead         INTEGER NOT NULL,
  server_seq          INTEGER NOT NULL REFERENCES feed(server_seq)
) WITHOUT ROWID;
CREATE INDEX stock_movements_by_post_kit ON stock_movements (post_id, kit_type_id, kind, quantity);

-- The feed and the facts are history: never rewritten.
CREATE TRIGGER feed_is_append_only_u BEFORE UPDATE ON feed
  BEGIN SELECT RAISE(ABORT, 'the feed is append-only'); END;
CREATE TRIGGER feed_is_append_only_d BEFORE DELETE ON feed
  BEGIN SELECT RAISE(ABORT, 'the feed is append-only'); END;
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
CREATE TRIGGER beneficiaries_are_append_only_d BEFORE DELETE ON beneficiaries
  BEGIN SELECT RAISE(ABORT, 'beneficiaries are not deleted'); END;
)sql",
    // 2: conflicts for the central office, and the audit log of what admins did.
    R"sql(
-- One row per situation (core/conflicts.h names it by `situation`): detected while facts are
-- applied, in the same transaction, and kept for the record after it clears or is resolved.
CREATE TABLE conflicts (
  id          TEXT PRIMARY KEY,
  situation   TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL,
  severity    TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'cleared')),
  summary     TEXT NOT NULL,
  provisional TEXT NOT NULL,
  sides       TEXT NOT NULL,  -- JSON array of the records taking part, in (HLC, device, ID) order
  fingerprint TEXT NOT NULL,  -- the sides as last written; a resolution covers these
  post_ids    TEXT NOT NULL,  -- JSON array, for filtering by post
  clock_ahead INTEGER NOT NULL,
  detected_ms INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL,
  resolution  TEXT NOT NULL DEFAULT '',
  resolved_by TEXT NOT NULL DEFAULT '',
  resolved_ms INTEGER,
  note        TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX conflicts_by_status ON conflicts (status, kind);

-- Who did what and when, for every admin write. Never rewritten.
CREATE TABLE audit_log (
  seq    INTEGER PRIMARY KEY,
  at_ms  INTEGER NOT NULL,
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TRIGGER audit_log_is_append_only_u BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_is_append_only_d BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 3: corrections of beneficiaries, as on the tablet (core/src/schema.cc step 2): the row
    // holds the current details with a version per field; each correction is kept, with its
    // payload in the feed.
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
  post_id        TEXT NOT NULL,
  device_id      TEXT NOT NULL,
  hlc            INTEGER NOT NULL,
  clock_ahead    INTEGER NOT NULL,
  server_seq     INTEGER NOT NULL REFERENCES feed (server_seq)
) WITHOUT ROWID;
CREATE INDEX beneficiary_updates_by_beneficiary ON beneficiary_updates (beneficiary_id);
CREATE TRIGGER beneficiary_updates_are_append_only_u BEFORE UPDATE ON beneficiary_updates
  BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END;
CREATE TRIGGER beneficiary_updates_are_append_only_d BEFORE DELETE ON beneficiary_updates
  BEGIN SELECT RAISE(ABORT, 'corrections are append-only'); END;
)sql",
    // 4: the served summaries last sent to tablets, one per family, round, kit type and post.
    R"sql(
CREATE TABLE served_summaries (
  doc_hash    TEXT NOT NULL,
  round_id    TEXT NOT NULL,
  kit_type_id TEXT NOT NULL,
  post_id     TEXT NOT NULL,
  quantity    INTEGER NOT NULL,
  server_seq  INTEGER NOT NULL REFERENCES feed (server_seq),
  PRIMARY KEY (doc_hash, round_id, kit_type_id, post_id)
) WITHOUT ROWID;
)sql",
    // 5: merges of beneficiaries decided by the office. Every merge is kept (a retired
    // beneficiary may be merged again when its family is); the one standing for a retired
    // beneficiary is its latest by (HLC, ID), as on the tablet (core/merges.h).
    R"sql(
CREATE TABLE beneficiary_merges (
  id          TEXT PRIMARY KEY,
  retired_id  TEXT NOT NULL REFERENCES beneficiaries (id),
  kept_id     TEXT NOT NULL REFERENCES beneficiaries (id),
  base_hlc    INTEGER NOT NULL,
  hlc         INTEGER NOT NULL,
  conflict_id TEXT NOT NULL,
  server_seq  INTEGER NOT NULL REFERENCES feed (server_seq)
) WITHOUT ROWID;
CREATE INDEX beneficiary_merges_by_retired ON beneficiary_merges (retired_id, hlc, id);
CREATE INDEX beneficiary_merges_by_kept ON beneficiary_merges (kept_id);
CREATE TRIGGER beneficiary_merges_are_append_only_u BEFORE UPDATE ON beneficiary_merges
  BEGIN SELECT RAISE(ABORT, 'merges are append-only'); END;
CREATE TRIGGER beneficiary_merges_are_append_only_d BEFORE DELETE ON beneficiary_merges
  BEGIN SELECT RAISE(ABORT, 'merges are append-only'); END;
)sql",
    // 6: what a push batch's stock situations read, kept cheap as the history grows. Each batch
    // re-checks its post's stock for every kit type it touched; summing every handover the post
    // ever recorded made that check grow with the post's history. Handovers are append-only
    // (step 1's triggers), so a running sum stays exact; the push that inserts handovers adds
    // each batch's quantities to it once per post and kit type (a trigger cost more per
    // handover than the rest of the insert's indexes). Voids of a post are found by their own
    // index instead of a scan of every void.
    R"sql(
CREATE TABLE handover_totals (
  post_id     TEXT NOT NULL,
  kit_type_id TEXT NOT NULL,
  quantity    INTEGER NOT NULL,
  PRIMARY KEY (post_id, kit_type_id)
) WITHOUT ROWID;
INSERT INTO handover_totals (post_id, kit_type_id, quantity)
  SELECT post_id, kit_type_id, sum(quantity) FROM handovers GROUP BY post_id, kit_type_id;
CREATE INDEX handover_voids_by_post ON handover_voids (post_id, handover_id);
)sql",
    // 7: the office's writes, by the request ID its tool chose, so that a request repeated
    // after its answer was lost returns the first outcome instead of writing again.
    R"sql(
CREATE TABLE admin_requests (
  request_id  TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,     -- which write: central-movement, resolve-conflict, correction
  fingerprint TEXT NOT NULL,     -- SHA-256 of the request without its ID
  outcome     TEXT NOT NULL,     -- the IDs it wrote, one per line
  at_ms       INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 8: served summaries are worked out from the facts instead of a table of what was sent.
    // Every transaction that changes a family's total at a post sends the new total in that same
    // transaction, so the total last sent is the total as of the transaction's start, which the
    // facts give by their server_seq. Each push batch inserted a row per family it served into
    // served_summaries, keyed by the family's document hash: a write to a random page of a
    // growing B-tree for every handover, most of the pages each batch committed and
    // checkpointed. Also the index of handovers by post and kit type: what a post handed out
    // is read from handover_totals (step 6) less the voids of the post, and every key of the
    // index began with the same post and kit type, which each pushed handover compared over
    // and over to find its place.
    R"sql(
DROP TABLE served_summaries;
DROP INDEX handovers_by_post_kit;
)sql",
    // 9: the feed's epochs. A server restored from a copy goes on from the copy's feed head,
    // and what it appends from there differs from what the copied server appended after the
    // copy; a new epoch names that run, so a tablet can tell which of its pulls still hold.
    // A server from before epochs takes its server device ID as its first epoch: that ID is
    // random per data directory and copied with the database, so the server and any copy of it
    // agree on the epoch the feed had before the upgrade. `init` adds a random one instead.
    R"sql(
CREATE TABLE feed_epochs (
  seq        INTEGER PRIMARY KEY,          -- order of the epochs; the highest is the current
  epoch      TEXT NOT NULL UNIQUE,
  start_seq  INTEGER NOT NULL CHECK (start_seq >= 0),  -- entries up to it are the previous epoch's
  started_ms INTEGER NOT NULL
);
INSERT INTO feed_epochs (epoch, start_seq, started_ms)
  SELECT CAST(value AS TEXT), 0, 0 FROM meta WHERE key = 'server_device_id';
CREATE TRIGGER feed_epochs_are_append_only_u BEFORE UPDATE ON feed_epochs
  BEGIN SELECT RAISE(ABORT, 'feed epochs are append-only'); END;
CREATE TRIGGER feed_epochs_are_append_only_d BEFORE DELETE ON feed_epochs
  BEGIN SELECT RAISE(ABORT, 'feed epochs are append-only'); END;
)sql",
    // 10: what a push writes to the feed, made smaller; no table changes, but a server from
    // before this step could not read the entries it now writes, so it must refuse the
    // database. A push batch's handovers are one entry per run (entity 'handovers', its
    // payload their IDs, one per line, its entity ID how many; a run ends before a void and
    // at the end of the batch), and every handover of the run has that entry's server_seq;
    // the records are rebuilt from their rows in `handovers` when a tablet pulls them or a
    // push repeats them. A handover that cannot join a run (a batch holding one ID twice) has
    // an entry of its own ('handover') without a payload. And the served summaries a
    // transaction sends about a post are one entry (entity 'served_summaries', its entity ID
    // the number of summaries, at most 500) instead of one entry per family. Each feed row
    // with its index entry cost about as much as the handover's own row.
    R"sql(
SELECT 1;
)sql",
    // 11: a handover's row no longer names its feed entry as a foreign key. The push writes
    // the entry and then the rows that refer to it, in one function and one transaction, and
    // the check cost each pushed handover a look-up in the feed: about a fifth of what SQLite
    // spent inserting the row. Only the table's text changes (DropHandoversFeedReference):
    // no row is rewritten, so the step costs the same whatever the database holds.
    R"sql(
SELECT 1;
)sql",
};

static_assert(std::size(kSteps) == kServerSchemaVersion);

// Step 11. SQLite drops a foreign key only by rebuilding the table, or, as its documentation
// sets out for removing a constraint, by editing the table's text in sqlite_schema and moving
// the schema cookie on so that every connection reads it again. The text is that of step 1,
// never edited; an edit that did not take is refused, and the migration rolls back.
Status DropHandoversFeedReference(core::sqlite::Db& db) {
  ASSIGN_OR_RETURN(int64_t cookie, db.QueryInt("PRAGMA schema_version"));
  RETURN_IF_ERROR(db.Exec("PRAGMA writable_schema=ON"));
  Status edited = db.Exec(
      "UPDATE sqlite_schema SET sql = replace(sql, "
      "'server_seq          INTEGER NOT NULL REFERENCES feed(server_seq)\n) WITHOUT ROWID', "
      "'server_seq          INTEGER NOT NULL\n) WITHOUT ROWID') "
      "WHERE type = 'table' AND name = 'handovers'");
  if (edited.ok()) {
    edited = db.Exec(("PRAGMA schema_version=" + std::to_string(cookie + 1)).c_str());
  }
  const Status off = db.Exec("PRAGMA writable_schema=OFF");
  RETURN_IF_ERROR(edited);
  RETURN_IF_ERROR(off);
  ASSIGN_OR_RETURN(int64_t references,
                   db.QueryInt("SELECT count(*) FROM pragma_foreign_key_list('handovers')"));
  ASSIGN_OR_RETURN(int64_t columns,
                   db.QueryInt("SELECT count(*) FROM pragma_table_info('handovers')"));
  if (references != 0 || columns != 19) {
    return Status::Internal(
        "schema step 11 found the handovers table not as step 1 made it; nothing was changed");
  }
  return Status::Ok();
}

}  // namespace

Status ConfigureServerConnection(core::sqlite::Db& db, int busy_timeout_ms) {
  sqlite3_busy_timeout(db.handle(), busy_timeout_ms);
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("PRAGMA journal_mode=WAL"));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row || stmt->Text(0) != "wal") {
    return Status::Internal("the server database refused write-ahead logging");
  }
  // FULL: an ack promises the tablet its changes are durable, and the tablet may then forget
  // them for upload; a commit that could vanish on power loss would lose handovers.
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  // A push batch looks up families, handovers and summaries by key all over a database of
  // tens to hundreds of MiB; with SQLite's default 2 MiB cache many of those pages came back
  // through pread on every batch. 32 MiB, as on the tablet.
  RETURN_IF_ERROR(db.Exec("PRAGMA cache_size=-32768"));
  // Where nothing checkpoints from the side (server_checkpointer.h replaces this on the
  // store's connection), checkpoints run inside the commit of whichever batch crosses the
  // threshold. A larger WAL (16 MiB instead of 4 MiB) lets a checkpoint write each hot page
  // (feed and index tails) once for more batches.
  RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=4000"));
  return Status::Ok();
}

Status MigrateServerSchema(core::sqlite::Db& db) {
  ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version > kServerSchemaVersion) {
    return Status::FailedPrecondition(
        "this server database has schema version " + std::to_string(version) +
        ", newer than this kitsync-server (" + std::to_string(kServerSchemaVersion) +
        "); upgrade kitsync-server");
  }
  for (int64_t step = version + 1; step <= kServerSchemaVersion; ++step) {
    ASSIGN_OR_RETURN(auto tx, core::sqlite::Transaction::Begin(db));
    ASSIGN_OR_RETURN(int64_t now, db.QueryInt("PRAGMA user_version"));
    if (now >= step) continue;
    RETURN_IF_ERROR(db.Exec(kSteps[step - 1]));
    if (step == 11) RETURN_IF_ERROR(DropHandoversFeedReference(db));
    RETURN_IF_ERROR(db.Exec(("PRAGMA user_version=" + std::to_string(step)).c_str()));
    RETURN_IF_ERROR(tx->Commit());
  }
  return Status::Ok();
}

}  // namespace kitsync::sync

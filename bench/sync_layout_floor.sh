#!/usr/bin/env bash
# What the server's storage of pushed handovers costs SQLite alone, before any code of the server
# runs: N handovers written by INSERT ... SELECT (no statement per row, no parsing, no chain
# check, no conflict detection), one transaction per batch of 500 as the sync and the ideal
# pipeline commit them, WAL, synchronous=FULL, foreign keys on, in a
# fresh database made by `kitsync-server init` (so the tables, indexes and triggers are the
# server's own), on the disk under test. Each layout is timed against the one-table sink that
# kitsync_sync_bench's ideal pipeline writes (the same 21 columns, one B-tree), so a layout's
# ratio here bounds what the server's side of any sync writing that layout can reach.
#
#   ideal      the ideal sink's table: one row per handover
#   facts      the handover's row (keyed by ID, with its index by beneficiary) and, since
#              schema step 10, one feed entry (and index entry) per batch naming its handovers
#              (their 36-character IDs, one per line)
#   +summary   and, as every push of a handover does, the family's served summary for the other
#              posts: since step 10 one feed entry per batch holds them all, about 75 bytes each
#
# Before step 10 each handover had a feed entry of its own holding a 506-byte copy of the
# record, and each summary was an entry of its own (230 bytes, with its index entry); on a
# quiet disk this script measured that layout at 0.34 (facts) and 0.23 (+summary) of the ideal
# sink.
#
# Up to schema step 7 the server also kept each summary sent in a table keyed by the document
# hash; this script measured that row at 78-122 us of the 125-174 us a handover's layout cost in
# three runs (a random page per handover, logged whole by every commit): step 8 dropped it.
#
# As in kitsync_sync_bench, the server already holds the families (registered and synced before
# the handovers): they are written before the clock starts.
#
# Sizes are those of a kept kitsync_sync_bench run.
#
# Usage: bench/sync_layout_floor.sh SERVER_BINARY [rows] [dir] [rounds]   (defaults 100000,
#        /var/tmp, 3)
set -euo pipefail
server=${1:?usage: bench/sync_layout_floor.sh SERVER_BINARY [rows] [dir] [rounds]}
rows=${2:-100000}
batch=500
dir=${3:-/var/tmp}
rounds=${4:-3}
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 1; }
scratch=$(mktemp -d "$dir/kitsync-sync-floor-XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$scratch"' EXIT

# 36-character time-ordered IDs like UUIDv7 text; one post, device, round, kit type, officer.
id() { echo "printf('0190%032d', $1)"; }
post="'01a220c5-9391-7120-bd4d-995332870ecd'"
device="'01a220c5-93a6-708f-830d-866328690342'"
round="'01a220c5-9391-7125-bae9-da1f4a8521fb'"
kit="'01a220c5-9391-711f-851d-102199f39319'"
officer="'01a220c5-9391-7124-9f29-fb4c1f5e97e0'"
proof="printf('%064x', value)"
beneficiary="$(id "value + 500000000")"
# A document hash: 64 hex digits whose order has nothing to do with the handover's.
doc_hash="printf('%08x', (value * 2654435761) % 4294967296) || printf('%056d', value)"

ideal_ddl="CREATE TABLE handover_rows (seq INTEGER PRIMARY KEY, hlc INTEGER NOT NULL,
  entity TEXT NOT NULL, entity_id TEXT NOT NULL, op TEXT NOT NULL, hash BLOB NOT NULL,
  round_id TEXT NOT NULL, beneficiary_id TEXT NOT NULL, kit_type_id TEXT NOT NULL,
  quantity INTEGER NOT NULL, post_id TEXT NOT NULL, officer_id TEXT NOT NULL,
  device_id TEXT NOT NULL, wall_ms INTEGER NOT NULL, proof_kind TEXT NOT NULL,
  proof_ref TEXT NOT NULL, collected_by TEXT NOT NULL, proxy_relation TEXT NOT NULL,
  consent INTEGER NOT NULL, override_reason TEXT NOT NULL, overridden_warnings TEXT NOT NULL);"
ideal_fill="INSERT INTO handover_rows SELECT value, value, 'handover', $(id value), 'create',
  zeroblob(32), $round, $beneficiary, $kit, 1, $post, $officer, $device, value,
  'signature', $proof, 'self', '', 1, '', '[]' FROM generate_series(LO, HI);"

families="INSERT INTO feed (server_seq, channel, entity, entity_id, hlc, origin_device, payload)
  SELECT value, $post, 'beneficiary', $beneficiary, value, $device, printf('%318d', value)
  FROM generate_series(1, $rows);
INSERT INTO beneficiaries (id, doc_hash, full_name, phone, household_size, post_id, device_id,
  hlc, clock_ahead, server_seq)
  SELECT $beneficiary, $doc_hash, 'Person ' || value, '', 1, $post, $device, value, 0, value
  FROM generate_series(1, $rows);"

# Feed sequences as the server hands them out, in commit order, after the families' N: the
# batch LO..HI's handovers' entry is N+2*LO-1, its summaries' entry N+HI+LO.
facts_fill="INSERT INTO feed (server_seq, channel, entity, entity_id, hlc, origin_device, payload)
  SELECT $rows + 2 * LO - 1, $post, 'handovers', HI - LO + 1, HI, $device,
  (SELECT group_concat($(id value), char(10)) FROM generate_series(LO, HI));
INSERT INTO handovers (id, round_id, beneficiary_id, kit_type_id, quantity, post_id,
  officer_id, device_id, hlc, wall_ms, proof_kind, proof_ref, collected_by, proxy_relation,
  consent, override_reason, overridden_warnings, clock_ahead, server_seq)
  SELECT $(id value), $round, $beneficiary, $kit, 1, $post, $officer, $device,
  value, value, 'signature', $proof, 'self', '', 1, '', '[]', 0, $rows + 2 * LO - 1
  FROM generate_series(LO, HI);"
summary_fill="INSERT INTO feed (server_seq, channel, entity, entity_id, hlc, origin_device, payload)
  SELECT $rows + HI + LO, 'served:' || $post, 'served_summaries', HI - LO + 1, LO, $device,
  (SELECT group_concat(printf('%75d', value), '') FROM generate_series(LO, HI));"

# One transaction per batch; LO and HI are each batch's first and last handover.
batched() {
  local lo
  for ((lo = 1; lo <= rows; lo += batch)); do
    local hi=$(( lo + batch - 1 < rows ? lo + batch - 1 : rows ))
    echo "BEGIN;"
    local sql=${1//LO/$lo}
    echo "${sql//HI/$hi}"
    echo "COMMIT;"
  done
}

layouts=(ideal facts +summary)
declare -A total
for ((r = 1; r <= rounds; r++)); do
  for layout in "${layouts[@]}"; do
    case $layout in
      ideal)
        db="$scratch/ideal-$r.db"
        sqlite3 "$db" "PRAGMA journal_mode=WAL;" "$ideal_ddl" >/dev/null
        fill=$ideal_fill ;;
      *)
        data="$scratch/server-$layout-$r"
        "$server" init --data "$data" >/dev/null
        db="$data/server.db"
        sqlite3 -bail "$db" "PRAGMA foreign_keys=ON; BEGIN;" "$families" "COMMIT;" >/dev/null
        fill=$facts_fill
        [[ $layout == +summary ]] && fill="$fill $summary_fill" ;;
    esac
    batched "$fill" > "$scratch/fill.sql"
    # Checkpoints as each side makes them: the ideal sink with SQLite's default (in its commits,
    # every 1,000 pages); the server with a connection of its own, passive, every second, and
    # its committing connection only at 16,000 pages (sync/src/server_checkpointer.cc).
    checkpoints=1000
    checkpointer=
    if [[ $layout != ideal ]]; then
      checkpoints=16000
      (while :; do sqlite3 "$db" "PRAGMA busy_timeout=0; PRAGMA wal_checkpoint(PASSIVE);" \
         >/dev/null 2>&1 || true; sleep 1; done) &
      checkpointer=$!
    fi
    start=$(date +%s%N)
    sqlite3 -bail "$db" "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;" \
      "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=$checkpoints;" \
      ".read $scratch/fill.sql" >/dev/null
    end=$(date +%s%N)
    [[ -n $checkpointer ]] && { kill "$checkpointer"; wait "$checkpointer" 2>/dev/null || true; }
    total[$layout]=$(( ${total[$layout]:-0} + end - start ))
    rm -rf "$db" "$db-wal" "$db-shm" "${data:-}"
  done
done

printf '%-10s %10s %10s\n' layout "us/row" "ideal/it"
for layout in "${layouts[@]}"; do
  awk -v name="$layout" -v t="${total[$layout]}" -v p="${total[ideal]}" -v n="$rows" -v r="$rounds" \
    'BEGIN { printf "%-10s %10.2f %10.2f\n", name, t / 1000 / n / r, p / t }'
done

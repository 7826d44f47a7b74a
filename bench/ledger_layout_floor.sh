#!/usr/bin/env bash
# What a handover's storage layout costs SQLite alone, before any code of the core runs: N rows
# of the handover's size written by one INSERT ... SELECT per layout (no statement per row, no
# validation, no hashing), one transaction each, WAL, synchronous=FULL, in a fresh database on
# the disk under test. Each layout is timed against the plain one-B-tree table that
# kitsync_ledger_bench uses as the bulk import's ceiling, so a layout's ratio here is the most
# any import writing that layout can reach against that ceiling.
#
# Every layout copies the same rows from one source database made beforehand (untimed), so that
# no layout pays for making its values: building them with printf() in the timed statement cost
# about 2 us a row, which the plain table (a zeroblob body) did not pay, and which no import
# pays either.
#
set -euo pipefail
rows=${1:-100000}
dir=${2:-/var/tmp}
rounds=${3:-3}
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 1; }
scratch=$(mktemp -d "$dir/kitsync-floor-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Time-ordered 36-character text IDs like the core's UUIDv7, a beneficiary ID per row, and a
# body that makes the record about 362 bytes like the core's stored handover row.
src="$scratch/source.db"
sqlite3 "$src" "CREATE TABLE src (n INTEGER PRIMARY KEY, id TEXT, ben TEXT, body TEXT,
                                  blob BLOB, hlc INTEGER, hash BLOB);
  INSERT INTO src SELECT value, printf('0190%032d', value), printf('0180%032d', value),
    printf('%290d', value), randomblob(362), value, randomblob(32)
  FROM generate_series(1, $rows);"
declare -A ddl=(
  [plain]="CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);"
  [rowid_id]="CREATE TABLE t (id TEXT NOT NULL UNIQUE, ben TEXT NOT NULL, body TEXT);"
  [rowid_id_ben]="CREATE TABLE t (id TEXT NOT NULL UNIQUE, ben TEXT NOT NULL, body TEXT);
                  CREATE INDEX t_ben ON t (ben);"
  [folded_log]="CREATE TABLE t (id TEXT NOT NULL UNIQUE, ben TEXT NOT NULL, body TEXT,
                                hlc INTEGER, hash BLOB);
                CREATE INDEX t_ben ON t (ben);"
  [rowid_id_ben_log]="CREATE TABLE t (id TEXT NOT NULL UNIQUE, ben TEXT NOT NULL, body TEXT);
                  CREATE INDEX t_ben ON t (ben);
                  CREATE TABLE log (seq INTEGER PRIMARY KEY, hlc INTEGER, entity TEXT,
                                    entity_id TEXT, op TEXT, payload BLOB, hash BLOB);"
  [keyed_ben]="CREATE TABLE t (id TEXT PRIMARY KEY, ben TEXT NOT NULL, body TEXT) WITHOUT ROWID;
               CREATE INDEX t_ben ON t (ben);"
  [keyed_ben_log]="CREATE TABLE t (id TEXT PRIMARY KEY, ben TEXT NOT NULL, body TEXT) WITHOUT ROWID;
                   CREATE INDEX t_ben ON t (ben);
                   CREATE TABLE log (seq INTEGER PRIMARY KEY, hlc INTEGER, entity TEXT,
                                     entity_id TEXT, op TEXT, payload BLOB, hash BLOB);"
)
fill() {
  case $1 in
    plain) echo "INSERT INTO t (body) SELECT blob FROM s.src;" ;;
    folded_log) echo "INSERT INTO t SELECT id, ben, body, hlc, hash FROM s.src;" ;;
    *log) echo "INSERT INTO t SELECT id, ben, body FROM s.src;
               INSERT INTO log (hlc, entity, entity_id, op, hash)
                 SELECT hlc, 'handover', id, 'create', hash FROM s.src;" ;;
    *) echo "INSERT INTO t SELECT id, ben, body FROM s.src;" ;;
  esac
}
layouts=(plain rowid_id rowid_id_ben folded_log rowid_id_ben_log keyed_ben keyed_ben_log)

declare -A total
for ((r = 1; r <= rounds; r++)); do
  for layout in "${layouts[@]}"; do
    db="$scratch/$layout-$r.db"
    sqlite3 "$db" "PRAGMA journal_mode=WAL;" "${ddl[$layout]}" >/dev/null
    start=$(date +%s%N)
    sqlite3 "$db" "ATTACH '$src' AS s; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768;" \
      "BEGIN;" "$(fill "$layout")" "COMMIT;"
    end=$(date +%s%N)
    total[$layout]=$(( ${total[$layout]:-0} + end - start ))
    rm -f "$db" "$db-wal" "$db-shm"
  done
done

printf '%-18s %12s %10s\n' layout "us/row" "plain/it"
for layout in "${layouts[@]}"; do
  awk -v name="$layout" -v t="${total[$layout]}" -v p="${total[plain]}" -v n="$rows" -v r="$rounds" \
    'BEGIN { printf "%-18s %12.2f %10.2f\n", name, t / 1000 / n / r, p / t }'
done

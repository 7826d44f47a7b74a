// Crash safety of the tablet ledger. A writer process records handovers (and registrations, stock
// movements and voids) into one tablet database and is killed with SIGKILL at random moments, again
// and again, on the same file so that any damage accumulates. After every kill the database is
// checked from its data, not from logs:
//   - SQLite's own integrity check passes;
//   - every write the writer reported, which it does only after the commit returned, is there;
//   - the change log is gap-free, its hash chain verifies, and it holds exactly one entry per
//     record, so nothing was written without the entry that will upload it;
//   - the computed stock equals an independent sum over the raw tables;
//   - the upload cursor is neither behind what was acknowledged nor past the log;
//   - only the write in flight at the kill may be committed without having been reported, and
//     then with all of its records (a bulk import) or none.
//
// KITSYNC_CRASH_SEED=<n> replays a run; the seed is printed at the start of every run.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.h"
#include "crash_protocol.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/status.h"
#include "kitsync/core/store.h"

namespace kitsync::crash {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kIterations = 120;
constexpr int kMinKills = 50;
// Stop starting writers after this long, so the test stays well inside its ctest timeout on a
// busy two-core machine; kMinKills still has to be reached.
constexpr auto kTotalBudget = seconds(40);
// A writer that reports nothing for this long is hung, not slow.
constexpr auto kIterationTimeout = seconds(10);
constexpr auto kReapTimeout = seconds(5);
// Kill moments: a random delay after start (this also lands kills while the store is opening),
// or a random number of reported writes plus a short random delay (so kills land mid-write).
constexpr int64_t kMaxKillDelayMs = 40;
constexpr int kMaxReportsBeforeKill = 25;
constexpr int kMaxDelayAfterReportsUs = 2000;
// How far back a writer's wall clock may be set, like a tablet that lost its time in the crash.
constexpr int64_t kMaxClockBehindMs = int64_t{10} * 60 * 1000;
constexpr int64_t kListLimit = 1'000'000;

constexpr int64_t kInitialReceipt = 5000;
// Starting the writer and setting up a tablet takes some 50 ms here, most of it in fsync; kills
// are spread over a little more than that.
constexpr int kSetupKills = 40;
constexpr int64_t kMaxSetupKillDelayUs = 80'000;

// ---------------------------------------------------------------------------------------------
// RAII for the SQLite C API, used to look at the file independently of the core.

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteDb = std::unique_ptr<sqlite3, SqliteCloser>;

struct SqliteFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using SqliteStmt = std::unique_ptr<sqlite3_stmt, SqliteFinalizer>;

void OpenRaw(const std::string& path, SqliteDb* db) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  db->reset(raw);
  ASSERT_EQ(rc, SQLITE_OK) << "cannot open " << path << ": "
                           << (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  sqlite3_busy_timeout(raw, 5000);
  // This connection closes last; without a checkpoint at close the write-ahead log carries over
  // to the next writer and grows across kills until the writer's own automatic checkpoints run,
  // so kills also land on a long log and on checkpoints in progress.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
}

void Prepare(sqlite3* db, std::string_view sql, SqliteStmt* stmt) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  stmt->reset(raw);
  ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db) << " in: " << sql;
}

// Steps once; *row tells whether a row is ready.
void Step(sqlite3* db, sqlite3_stmt* stmt, bool* row) {
  int rc = sqlite3_step(stmt);
  ASSERT_TRUE(rc == SQLITE_ROW || rc == SQLITE_DONE)
      << sqlite3_errmsg(db) << " in: " << sqlite3_sql(stmt);
  *row = rc == SQLITE_ROW;
}

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// Every value of the first column, as text; `param`, if any, is bound to ?1.
void QueryColumn(sqlite3* db, std::string_view sql, std::vector<std::string>* values,
                 const std::optional<std::string>& param = std::nullopt) {
  values->clear();
  SqliteStmt stmt;
  ASSERT_NO_FATAL_FAILURE(Prepare(db, sql, &stmt));
  if (param.has_value()) {
    sqlite3_bind_text(stmt.get(), 1, param->c_str(), -1, SQLITE_TRANSIENT);
  }
  bool row = false;
  while (true) {
    ASSERT_NO_FATAL_FAILURE(Step(db, stmt.get(), &row));
    if (!row) break;
    values->push_back(ColumnText(stmt.get(), 0));
  }
}

// ---------------------------------------------------------------------------------------------
// The tablet the writers work on.

struct TabletIds {
  std::string post_id;
  std::vector<std::string> kit_type_codes;
};

// What the tablet has told its user is recorded: by the test's own setup, or by a writer's report
// after the commit returned.
struct Acknowledged {
  std::set<std::string> beneficiaries;
  std::set<std::string> handovers;
  std::set<std::string> voids;  // IDs of the voided handovers
  std::set<std::string> movements;
  int64_t imported_handovers = 0;  // bulk imports report how many, not which
  int64_t max_acked_seq = 0;       // highest upload acknowledgement reported

  int64_t Records() const {
    return static_cast<int64_t>(beneficiaries.size() + handovers.size() + voids.size() +
                                movements.size()) +
           imported_handovers;
  }
};

void CreateTablet(const std::string& path, TabletIds* ids, Acknowledged* acknowledged) {
  core::TabletSetup setup;
  setup.post_code = std::string(kPostCode);
  setup.device_name = std::string(kDeviceName);
  setup.programme_key = std::string(kProgrammeKey);
  auto created = core::Store::Create(path, setup);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  core::Store& store = **created;

  core::MasterData master;
  core::KitType hygiene{core::NewUuidV7(), std::string(kHygieneKitCode), "Hygiene kit", "kit"};
  core::KitType protective{core::NewUuidV7(), std::string(kProtectiveSetCode),
                           "Protective equipment set", "set"};
  master.kit_types = {hygiene, protective};
  core::Post post{core::NewUuidV7(), std::string(kPostCode), "Entikong"};
  core::Post other{core::NewUuidV7(), std::string(kOtherPostCode), "Nunukan"};
  master.posts = {post, other};
  master.officers = {core::Officer{core::NewUuidV7(), std::string(kOfficerCode), "Officer One",
                                   post.id, core::OfficerRole::kSupervisor}};
  core::Round round;
  round.id = core::NewUuidV7();
  round.code = std::string(kRoundCode);
  round.name = "Hygiene kits, November";
  round.requires_proof = true;  // the writer always gives a signature or voucher
  // Generous, so that entitlement warnings stay rare; the writer overrides the ones that come.
  round.entitlements = {{hygiene.id, core::kMaxQuantity}, {protective.id, core::kMaxQuantity}};
  master.rounds = {round};
  core::Status imported = store.ImportMasterData(master);
  ASSERT_TRUE(imported.ok()) << imported.ToString();

  for (int i = 0; i < kSeededBeneficiaries; ++i) {
    core::BeneficiaryInput input;
    input.doc_number = std::string(kSeededDocPrefix) + "-" + std::to_string(i);
    input.full_name = "Seeded returnee " + std::to_string(i);
    input.household_size = 1 + i % 5;
    auto registered = store.RegisterBeneficiary(input);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
    acknowledged->beneficiaries.insert(registered->id);
  }
  for (const core::KitType& kit : master.kit_types) {
    core::MovementInput input;
    input.kind = core::MovementKind::kReceipt;
    input.kit_type_code = kit.code;
    input.quantity = kInitialReceipt;
    input.reference = "WB-INITIAL-" + kit.code;
    input.officer_code = std::string(kOfficerCode);
    auto received = store.RecordMovement(input);
    ASSERT_TRUE(received.ok()) << received.status().ToString();
    acknowledged->movements.insert(received->id);
  }

  ids->post_id = post.id;
  ids->kit_type_codes = {hygiene.code, protective.code};
}

// ---------------------------------------------------------------------------------------------
// One writer's life: start, read its reports, kill it.

enum class KillPlan { kAfterDelay, kAfterReports };

struct WriterRun {
  int64_t reports = 0;         // writes this writer reported committed
  std::string in_flight;       // tag of a write begun and not (yet) reported
  int64_t in_flight_size = 0;  // records that write would add: 1, or a bulk import's size
  bool began_any = false;      // the writer got as far as starting a write
  bool killed = false;         // died of our SIGKILL rather than exiting
};

bool ParseCount(std::string_view text, int64_t* value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

// Applies one protocol line to the run and to what has been acknowledged.
void Consume(const std::string& line, WriterRun* run, Acknowledged* acknowledged) {
  const std::string_view text = line;
  size_t space = text.find(' ');
  ASSERT_NE(space, std::string_view::npos) << "malformed writer line: '" << line << "'";
  std::string_view head = text.substr(0, space);
  std::string_view rest = text.substr(space + 1);
  if (head == kBeginTag) {
    ASSERT_TRUE(run->in_flight.empty()) << "writer began a write before reporting the last";
    run->began_any = true;
    run->in_flight_size = 1;
    size_t size_at = rest.find(' ');
    if (size_at != std::string_view::npos) {
      ASSERT_TRUE(ParseCount(rest.substr(size_at + 1), &run->in_flight_size)) << line;
      rest = rest.substr(0, size_at);
    }
    if (rest == kAcknowledgeTag) run->in_flight_size = 0;
    run->in_flight = std::string(rest);
    return;
  }
  ASSERT_EQ(head, run->in_flight) << "writer reported a write it had not begun: '" << line << "'";
  std::set<std::string>* ids = nullptr;
  if (head == kBeneficiaryTag) ids = &acknowledged->beneficiaries;
  if (head == kHandoverTag) ids = &acknowledged->handovers;
  if (head == kVoidTag) ids = &acknowledged->voids;
  if (head == kMovementTag) ids = &acknowledged->movements;
  if (ids != nullptr) {
    ASSERT_TRUE(ids->insert(std::string(rest)).second)
        << "the same ID was reported twice: '" << line << "'";
  } else if (head == kImportTag) {
    int64_t size = 0;
    ASSERT_TRUE(ParseCount(rest, &size) && size == run->in_flight_size) << line;
    acknowledged->imported_handovers += size;
  } else {
    ASSERT_EQ(head, kAcknowledgeTag) << "unknown writer line: '" << line << "'";
    int64_t seq = 0;
    ASSERT_TRUE(ParseCount(rest, &seq)) << line;
    acknowledged->max_acked_seq = std::max(acknowledged->max_acked_seq, seq);
  }
  run->in_flight.clear();
  run->in_flight_size = 0;
  ++run->reports;
}

void RunAndKillWriter(const std::string& db_path, uint64_t writer_seed, int generation,
                      int64_t clock_behind_ms, KillPlan plan, int kill_after_reports,
                      microseconds kill_delay, Acknowledged* acknowledged, WriterRun* run) {
  std::string error;
  auto child = ChildProcess::Spawn(KITSYNC_CRASH_WRITER_PATH,
                                   {db_path, std::to_string(writer_seed),
                                    std::to_string(generation), std::to_string(clock_behind_ms)},
                                   &error);
  ASSERT_NE(child, nullptr) << error;
  const auto start = Clock::now();
  const auto hard_deadline = start + kIterationTimeout;

  std::string line;
  bool exited_early = false;
  while (true) {
    auto deadline = plan == KillPlan::kAfterDelay ? start + kill_delay : hard_deadline;
    // Buffered lines would otherwise keep the reader busy past the kill moment.
    if (plan == KillPlan::kAfterDelay && Clock::now() >= deadline) break;
    auto status = child->ReadLine(deadline, &line);
    if (status == ChildProcess::ReadStatus::kLine) {
      ASSERT_NO_FATAL_FAILURE(Consume(line, run, acknowledged));
      if (plan == KillPlan::kAfterReports && run->reports >= kill_after_reports) {
        std::this_thread::sleep_for(kill_delay);
        break;
      }
      continue;
    }
    if (status == ChildProcess::ReadStatus::kTimeout) {
      ASSERT_EQ(plan, KillPlan::kAfterDelay)
          << "writer hung: " << run->reports << " of " << kill_after_reports << " reports within "
          << std::chrono::duration_cast<seconds>(kIterationTimeout).count() << " s";
      break;
    }
    ASSERT_EQ(status, ChildProcess::ReadStatus::kEof) << "reading the writer's pipe failed";
    exited_early = true;
    break;
  }

  child->Kill();
  auto status = child->WaitUntil(Clock::now() + kReapTimeout);
  ASSERT_TRUE(status.has_value()) << "writer " << child->pid() << " survived SIGKILL";
  // Whatever the writer wrote before it died is still in the pipe.
  while (true) {
    auto read = child->ReadLine(Clock::now() + kReapTimeout, &line);
    if (read != ChildProcess::ReadStatus::kLine) {
      ASSERT_EQ(read, ChildProcess::ReadStatus::kEof) << "draining the writer's pipe failed";
      break;
    }
    ASSERT_NO_FATAL_FAILURE(Consume(line, run, acknowledged));
  }

  run->killed = WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
  ASSERT_TRUE(run->killed) << "writer ended by itself before the kill ("
                           << (WIFEXITED(*status)
                                   ? "exit code " + std::to_string(WEXITSTATUS(*status))
                                   : "signal " + std::to_string(WTERMSIG(*status)))
                           << (exited_early ? ", pipe closed early" : "")
                           << "); its stderr is above";
}

// ---------------------------------------------------------------------------------------------
// What the database holds after a kill.

// This device's records, per kind, and its upload state.
struct Snapshot {
  int64_t beneficiaries = 0;
  int64_t handovers = 0;
  int64_t voids = 0;
  int64_t movements = 0;
  int64_t log_entries = 0;
  int64_t acked_seq = 0;

  int64_t Records() const { return beneficiaries + handovers + voids + movements; }
};

// Counts IDs the acknowledged set has and the database lacks; names the first few.
int64_t ExpectAllPresent(std::string_view what, const std::set<std::string>& acknowledged,
                         const std::set<std::string>& present) {
  std::vector<std::string> missing;
  std::set_difference(acknowledged.begin(), acknowledged.end(), present.begin(), present.end(),
                      std::back_inserter(missing));
  if (missing.empty()) return 0;
  std::string sample;
  for (size_t i = 0; i < missing.size() && i < 5; ++i) sample += " " + missing[i];
  ADD_FAILURE() << missing.size() << " " << what
                << " reported committed are missing after the kill:" << sample;
  return static_cast<int64_t>(missing.size());
}

void CheckIntegrity(sqlite3* db) {
  std::vector<std::string> result;
  ASSERT_NO_FATAL_FAILURE(QueryColumn(db, "PRAGMA integrity_check", &result));
  ASSERT_EQ(result, std::vector<std::string>{"ok"}) << "SQLite integrity check failed";
  std::vector<std::string> dangling;
  ASSERT_NO_FATAL_FAILURE(QueryColumn(db, "PRAGMA foreign_key_check", &dangling));
  ASSERT_TRUE(dangling.empty()) << dangling.size() << " rows break a foreign key, first in table "
                                << dangling.front();
}

// seq must run 1..N without a hole; HLCs must rise with seq even though writers restart with
// clocks set back, or the centre would order a device's changes against their real order.
void CheckChangeLogSequence(sqlite3* db, int64_t* entries) {
  SqliteStmt stmt;
  ASSERT_NO_FATAL_FAILURE(Prepare(db, "SELECT seq, hlc FROM change_log ORDER BY seq", &stmt));
  int64_t expected_seq = 1;
  int64_t previous_hlc = 0;
  bool row = false;
  while (true) {
    ASSERT_NO_FATAL_FAILURE(Step(db, stmt.get(), &row));
    if (!row) break;
    int64_t seq = sqlite3_column_int64(stmt.get(), 0);
    int64_t hlc = sqlite3_column_int64(stmt.get(), 1);
    ASSERT_EQ(seq, expected_seq) << "change log has a gap or duplicate before seq " << seq;
    ASSERT_GT(hlc, previous_hlc) << "change-log HLC does not increase at seq " << seq
                                 << " after a writer restarted with its clock set back";
    previous_hlc = hlc;
    ++expected_seq;
  }
  *entries = expected_seq - 1;
}

// Each of this device's records has exactly one change-log entry, and each entry one record.
// `table_sql` selects the IDs of this device's records, its device ID bound to ?1.
void CheckLogMatchesRecords(sqlite3* db, std::string_view entity, std::string_view table_sql,
                            const std::string& device_id, std::set<std::string>* record_ids) {
  std::vector<std::string> records;
  ASSERT_NO_FATAL_FAILURE(QueryColumn(db, table_sql, &records, device_id));
  record_ids->clear();
  record_ids->insert(records.begin(), records.end());
  ASSERT_EQ(record_ids->size(), records.size()) << "duplicate IDs in: " << table_sql;
  std::vector<std::string> logged;
  ASSERT_NO_FATAL_FAILURE(QueryColumn(db, "SELECT entity_id FROM change_log WHERE entity = ?1",
                                      &logged, std::string(entity)));
  std::set<std::string> logged_set(logged.begin(), logged.end());
  ASSERT_EQ(logged_set.size(), logged.size()) << "a " << entity << " was logged twice";
  std::vector<std::string> unlogged;
  std::set_difference(record_ids->begin(), record_ids->end(), logged_set.begin(), logged_set.end(),
                      std::back_inserter(unlogged));
  std::vector<std::string> orphaned;
  std::set_difference(logged_set.begin(), logged_set.end(), record_ids->begin(), record_ids->end(),
                      std::back_inserter(orphaned));
  ASSERT_TRUE(unlogged.empty()) << unlogged.size() << " " << entity
                                << " records have no change-log entry, e.g. " << unlogged.front();
  ASSERT_TRUE(orphaned.empty()) << orphaned.size() << " change-log entries for " << entity
                                << " have no record, e.g. " << orphaned.front();
}

struct StockSums {
  int64_t received = 0;
  int64_t transferred = 0;
  int64_t adjusted = 0;
  int64_t handed_out = 0;
  int64_t Balance() const { return received - transferred + adjusted - handed_out; }
};

// The stock arithmetic redone over the raw tables, sharing nothing with the store but the file.
void ComputeStock(sqlite3* db, const std::string& post_id,
                  std::map<std::string, StockSums>* by_code) {
  static constexpr std::string_view kSql = R"sql(
    SELECT k.code,
      (SELECT COALESCE(SUM(m.quantity), 0) FROM stock_movements m
        WHERE m.post_id = ?1 AND m.kit_type_id = k.id AND m.kind IN (?2, ?3)),
      (SELECT COALESCE(SUM(m.quantity), 0) FROM stock_movements m
        WHERE m.post_id = ?1 AND m.kit_type_id = k.id AND m.kind = ?4),
      (SELECT COALESCE(SUM(m.quantity), 0) FROM stock_movements m
        WHERE m.post_id = ?1 AND m.kit_type_id = k.id AND m.kind = ?5),
      (SELECT COALESCE(SUM(h.quantity), 0) FROM handovers h
        WHERE h.post_id = ?1 AND h.kit_type_id = k.id
          AND NOT EXISTS (SELECT 1 FROM handover_voids v WHERE v.handover_id = h.id))
    FROM kit_types k)sql";
  SqliteStmt stmt;
  ASSERT_NO_FATAL_FAILURE(Prepare(db, kSql, &stmt));
  const std::string kinds[] = {
      std::string(core::ToString(core::MovementKind::kReceipt)),
      std::string(core::ToString(core::MovementKind::kTransferIn)),
      std::string(core::ToString(core::MovementKind::kTransferOut)),
      std::string(core::ToString(core::MovementKind::kAdjustment)),
  };
  sqlite3_bind_text(stmt.get(), 1, post_id.c_str(), -1, SQLITE_TRANSIENT);
  for (int i = 0; i < 4; ++i) {
    sqlite3_bind_text(stmt.get(), i + 2, kinds[i].c_str(), -1, SQLITE_TRANSIENT);
  }
  by_code->clear();
  bool row = false;
  while (true) {
    ASSERT_NO_FATAL_FAILURE(Step(db, stmt.get(), &row));
    if (!row) break;
    StockSums sums;
    sums.received = sqlite3_column_int64(stmt.get(), 1);
    sums.transferred = sqlite3_column_int64(stmt.get(), 2);
    sums.adjusted = sqlite3_column_int64(stmt.get(), 3);
    sums.handed_out = sqlite3_column_int64(stmt.get(), 4);
    (*by_code)[ColumnText(stmt.get(), 0)] = sums;
  }
}

void CheckStock(sqlite3* db, core::Store& store, const TabletIds& ids) {
  std::map<std::string, StockSums> expected;
  ASSERT_NO_FATAL_FAILURE(ComputeStock(db, ids.post_id, &expected));
  auto stock = store.Stock();
  ASSERT_TRUE(stock.ok()) << stock.status().ToString();
  for (const std::string& code : ids.kit_type_codes) {
    auto line = std::find_if(stock->begin(), stock->end(),
                             [&](const core::StockLine& l) { return l.kit_type_code == code; });
    ASSERT_NE(line, stock->end()) << "Stock() has no line for " << code;
    const StockSums& sums = expected[code];
    ASSERT_EQ(line->received, sums.received) << code << ": receipts + transfers in";
    ASSERT_EQ(line->transferred, sums.transferred) << code << ": transfers out";
    ASSERT_EQ(line->adjusted, sums.adjusted) << code << ": adjustments";
    ASSERT_EQ(line->handed_out, sums.handed_out) << code << ": handovers not voided";
    ASSERT_EQ(line->balance, sums.Balance())
        << "stock balance of " << code << " is not the sum of its movements";
  }
}

// The upload cursor: never behind what was acknowledged, never past the log, and what is pending
// is exactly the rest of the log.
void CheckUploadState(core::Store& store, const Acknowledged& acknowledged, int64_t entries,
                      int64_t* acked_seq) {
  auto status = store.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  ASSERT_EQ(status->last_seq, entries);
  ASSERT_TRUE(status->chain.ok) << status->chain.problem;
  ASSERT_GE(status->acked_seq, acknowledged.max_acked_seq)
      << "an acknowledged upload was forgotten: it would be sent again";
  ASSERT_LE(status->acked_seq, entries) << "uploads acknowledged beyond the end of the log";
  auto pending = store.PendingChanges(kListLimit);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_EQ(static_cast<int64_t>(pending->size()), entries - status->acked_seq);
  if (!pending->empty()) {
    ASSERT_EQ(pending->front().seq, status->acked_seq + 1);
  }
  *acked_seq = status->acked_seq;
}

void VerifyTablet(const std::string& path, const TabletIds& ids, const Acknowledged& acknowledged,
                  Snapshot* snapshot) {
  // The file as the kill left it, before the core touches it: SQLite recovers the WAL on open.
  // Declared before the store so that it closes last (see OpenRaw).
  SqliteDb raw;
  ASSERT_NO_FATAL_FAILURE(OpenRaw(path, &raw));
  ASSERT_NO_FATAL_FAILURE(CheckIntegrity(raw.get()));

  auto opened = core::Store::Open(path);
  ASSERT_TRUE(opened.ok()) << "the store does not reopen after the kill: "
                           << opened.status().ToString();
  core::Store& store = **opened;
  const std::string& device = store.identity().device_id;

  // The raw tables, each record matched one-to-one with its change-log entry.
  std::set<std::string> beneficiaries, handovers, voids, movements;
  ASSERT_NO_FATAL_FAILURE(CheckLogMatchesRecords(
      raw.get(), "beneficiary", "SELECT id FROM beneficiaries WHERE device_id = ?1", device,
      &beneficiaries));
  ASSERT_NO_FATAL_FAILURE(CheckLogMatchesRecords(
      raw.get(), "handover", "SELECT id FROM handovers WHERE device_id = ?1", device, &handovers));
  ASSERT_NO_FATAL_FAILURE(CheckLogMatchesRecords(
      raw.get(), "handover_void", "SELECT handover_id FROM handover_voids WHERE device_id = ?1",
      device, &voids));
  ASSERT_NO_FATAL_FAILURE(CheckLogMatchesRecords(
      raw.get(), "stock_movement", "SELECT id FROM stock_movements WHERE device_id = ?1", device,
      &movements));

  // Handovers and voids as the officer would see them.
  core::HandoverFilter all;
  all.limit = kListLimit;
  auto listed = store.ListHandovers(all);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::set<std::string> listed_ids, listed_voided;
  for (const core::HandoverView& view : *listed) {
    listed_ids.insert(view.handover.id);
    if (view.void_record.has_value()) listed_voided.insert(view.handover.id);
  }
  ASSERT_EQ(listed_ids, handovers) << "ListHandovers disagrees with the handovers table";
  ASSERT_EQ(listed_voided, voids) << "ListHandovers disagrees with the handover_voids table";

  // Nothing reported committed is missing.
  int64_t missing = ExpectAllPresent("handovers", acknowledged.handovers, listed_ids) +
                    ExpectAllPresent("voids", acknowledged.voids, listed_voided) +
                    ExpectAllPresent("beneficiaries", acknowledged.beneficiaries, beneficiaries) +
                    ExpectAllPresent("stock movements", acknowledged.movements, movements);
  ASSERT_EQ(missing, 0) << "writes reported committed were lost";
  ASSERT_GE(static_cast<int64_t>(handovers.size()),
            static_cast<int64_t>(acknowledged.handovers.size()) + acknowledged.imported_handovers)
      << "handovers of a reported bulk import were lost";

  // The change log: contiguous, chained, and exactly one entry per record.
  int64_t entries = 0;
  ASSERT_NO_FATAL_FAILURE(CheckChangeLogSequence(raw.get(), &entries));
  auto chain = store.VerifyChain();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_TRUE(chain->ok) << "hash chain broken at seq " << chain->first_bad_seq << ": "
                         << chain->problem;
  ASSERT_EQ(chain->entries, entries);
  snapshot->beneficiaries = static_cast<int64_t>(beneficiaries.size());
  snapshot->handovers = static_cast<int64_t>(handovers.size());
  snapshot->voids = static_cast<int64_t>(voids.size());
  snapshot->movements = static_cast<int64_t>(movements.size());
  snapshot->log_entries = entries;
  ASSERT_EQ(entries, snapshot->Records())
      << "change-log entries differ from beneficiaries + handovers + voids + movements";

  ASSERT_NO_FATAL_FAILURE(CheckUploadState(store, acknowledged, entries, &snapshot->acked_seq));
  ASSERT_NO_FATAL_FAILURE(CheckStock(raw.get(), store, ids));
}

// Records committed but never reported, per kind, after a kill. Writes run one at a time and are
// reported right after their commit, so only the write in flight at the kill may add to these,
// and only by all of its records or none.
struct Unreported {
  int64_t beneficiaries = 0;
  int64_t handovers = 0;
  int64_t voids = 0;
  int64_t movements = 0;

  static Unreported Of(const Snapshot& s, const Acknowledged& a) {
    return {s.beneficiaries - static_cast<int64_t>(a.beneficiaries.size()),
            s.handovers - static_cast<int64_t>(a.handovers.size()) - a.imported_handovers,
            s.voids - static_cast<int64_t>(a.voids.size()),
            s.movements - static_cast<int64_t>(a.movements.size())};
  }
  int64_t Total() const { return beneficiaries + handovers + voids + movements; }
};

// Checks the growth of the unreported records over one writer's life; returns in *committed
// whether the in-flight write turned out to be committed.
void CheckOnlyInFlightUnreported(const Unreported& before, const Unreported& after,
                                 const WriterRun& run, bool* committed) {
  const std::string_view tag = run.in_flight;
  const std::pair<std::string_view, int64_t> growth[] = {
      {kBeneficiaryTag, after.beneficiaries - before.beneficiaries},
      {kHandoverTag, after.handovers - before.handovers},
      {kVoidTag, after.voids - before.voids},
      {kMovementTag, after.movements - before.movements},
  };
  *committed = false;
  for (const auto& [kind, grew] : growth) {
    const bool in_flight_kind = kind == tag || (kind == kHandoverTag && tag == kImportTag);
    if (!in_flight_kind) {
      ASSERT_EQ(grew, 0) << grew << " records of kind " << kind
                         << " were committed that no writer reported or had in flight";
      continue;
    }
    ASSERT_TRUE(grew == 0 || grew == run.in_flight_size)
        << "the write in flight at the kill (" << tag << ", " << run.in_flight_size
        << " records) left " << grew << " records: not all or nothing";
    *committed = grew > 0;
  }
}

// ---------------------------------------------------------------------------------------------

int64_t FileSizeOrZero(const std::string& path) {
  std::error_code error;
  auto size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

uint64_t ChooseSeed() {
  if (const char* env = std::getenv("KITSYNC_CRASH_SEED")) return std::stoull(env);
  return std::random_device()();
}

// Holds the database for the run; kept when the test failed so the file can be examined.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "kitsync-crash-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    if (path_.empty()) return;
    if (::testing::Test::HasFailure()) {
      std::cout << "[ crash    ] database kept for inspection in " << path_ << "\n";
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CrashSafetyTest, HandoversReportedCommittedSurviveSigkill) {
  const uint64_t seed = ChooseSeed();
  std::cout << "[ crash    ] seed " << seed << " (replay with KITSYNC_CRASH_SEED=" << seed << ")\n";
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };

  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty()) << "cannot create a scratch directory";
  const std::string db_path = dir.path() + "/tablet.db";

  TabletIds ids;
  Acknowledged acknowledged;
  ASSERT_NO_FATAL_FAILURE(CreateTablet(db_path, &ids, &acknowledged));
  const int64_t setup_records = acknowledged.Records();

  const auto test_start = Clock::now();
  int kills = 0;
  int kills_before_first_write = 0;
  int kills_mid_record_write = 0;
  int mid_write_committed = 0;  // the in-flight write was in the database after all
  int kills_mid_acknowledgement = 0;
  int64_t writer_reports = 0;
  int64_t slowest_iteration_ms = 0;
  int64_t largest_wal_bytes = 0;  // the write-ahead log as a kill left it
  Snapshot last;
  Unreported unreported;
  int64_t last_acked_seq = 0;

  for (int generation = 1; generation <= kIterations; ++generation) {
    if (Clock::now() - test_start > kTotalBudget) break;
    const auto iteration_start = Clock::now();
    const KillPlan plan = uniform(0, 1) == 0 ? KillPlan::kAfterDelay : KillPlan::kAfterReports;
    const int kill_after_reports = static_cast<int>(uniform(1, kMaxReportsBeforeKill));
    const microseconds kill_delay = plan == KillPlan::kAfterDelay
                                        ? microseconds(uniform(0, kMaxKillDelayMs * 1000))
                                        : microseconds(uniform(0, kMaxDelayAfterReportsUs));
    const int64_t clock_behind_ms = uniform(0, kMaxClockBehindMs);
    const uint64_t writer_seed = rng();
    SCOPED_TRACE(::testing::Message()
                 << "seed " << seed << ", generation " << generation << ", kill "
                 << (plan == KillPlan::kAfterDelay
                         ? "after delay "
                         : "after " + std::to_string(kill_after_reports) + " reports + ")
                 << kill_delay.count() << " us, clock behind " << clock_behind_ms << " ms");

    WriterRun run;
    ASSERT_NO_FATAL_FAILURE(RunAndKillWriter(db_path, writer_seed, generation, clock_behind_ms,
                                             plan, kill_after_reports, kill_delay, &acknowledged,
                                             &run));
    ++kills;
    writer_reports += run.reports;
    if (!run.began_any) ++kills_before_first_write;

    largest_wal_bytes = std::max(largest_wal_bytes, FileSizeOrZero(db_path + "-wal"));
    Snapshot snapshot;
    ASSERT_NO_FATAL_FAILURE(VerifyTablet(db_path, ids, acknowledged, &snapshot));
    ASSERT_GE(snapshot.acked_seq, last_acked_seq) << "the upload cursor moved backwards";
    Unreported now = Unreported::Of(snapshot, acknowledged);
    bool committed = false;
    ASSERT_NO_FATAL_FAILURE(CheckOnlyInFlightUnreported(unreported, now, run, &committed));
    if (run.in_flight == kAcknowledgeTag) {
      ++kills_mid_acknowledgement;
    } else if (!run.in_flight.empty()) {
      ++kills_mid_record_write;
      if (committed) ++mid_write_committed;
    }
    unreported = now;
    last = snapshot;
    last_acked_seq = snapshot.acked_seq;
    slowest_iteration_ms = std::max<int64_t>(
        slowest_iteration_ms,
        std::chrono::duration_cast<milliseconds>(Clock::now() - iteration_start).count());
  }

  const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - test_start);
  std::cout << "[ crash    ] " << kills << " kills in " << elapsed.count() << " ms (slowest "
            << slowest_iteration_ms << " ms); " << kills_mid_record_write << " landed mid-write ("
            << mid_write_committed << " of those writes had committed, "
            << kills_mid_record_write - mid_write_committed << " rolled back), "
            << kills_mid_acknowledgement << " mid-acknowledgement, " << kills_before_first_write
            << " before the writer's first write; largest write-ahead log at a kill "
            << largest_wal_bytes / 1024 << " KiB\n"
            << "[ crash    ] writers reported " << writer_reports << " committed writes; with the "
            << setup_records << " records of the setup that is " << acknowledged.handovers.size()
            << " handovers + " << acknowledged.imported_handovers << " in bulk imports, "
            << acknowledged.voids.size() << " voids, " << acknowledged.beneficiaries.size()
            << " beneficiaries, " << acknowledged.movements.size()
            << " movements, uploads acknowledged to seq " << acknowledged.max_acked_seq << "\n"
            << "[ crash    ] the database holds " << last.Records() << " records and "
            << last.log_entries << " change-log entries; " << unreported.Total()
            << " records committed but never reported\n";
  RecordProperty("kills", kills);
  RecordProperty("kills_mid_write", kills_mid_record_write);
  RecordProperty("writer_reports", static_cast<int>(writer_reports));

  EXPECT_GE(kills, kMinKills) << "too few kills within the time budget";
  // Not vacuous: the writers did record, every kind of write was exercised, and kills did land
  // while writes were in flight.
  EXPECT_GE(writer_reports, kMinKills) << "the writers reported too few writes to mean anything";
  EXPECT_GT(acknowledged.handovers.size(), 0u);
  EXPECT_GT(acknowledged.imported_handovers, 0);
  EXPECT_GT(acknowledged.voids.size(), 0u);
  EXPECT_GT(acknowledged.beneficiaries.size(), static_cast<size_t>(kSeededBeneficiaries));
  EXPECT_GT(acknowledged.movements.size(), ids.kit_type_codes.size());
  EXPECT_GT(acknowledged.max_acked_seq, 0);
  EXPECT_GT(kills_mid_record_write, 0) << "no kill landed while a write was in flight";
}

// A tablet is set up once, by `kitsync init`, and a tablet's battery may die at any moment. A
// setup killed part-way must leave a tablet that opens or a file that can be set up again, never
// one that does neither: an officer at the post has no way to repair it.
TEST(CrashSafetyTest, TabletKilledDuringSetupCanBeSetUpAgain) {
  const uint64_t seed = ChooseSeed();
  std::cout << "[ crash    ] seed " << seed << " (replay with KITSYNC_CRASH_SEED=" << seed << ")\n";
  std::mt19937_64 rng(seed);
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty()) << "cannot create a scratch directory";

  core::TabletSetup setup;
  setup.post_code = std::string(kPostCode);
  setup.device_name = std::string(kDeviceName);
  setup.programme_key = std::string(kProgrammeKey);

  int no_file = 0;
  int completed = 0;
  int set_up_again = 0;
  int unusable = 0;
  for (int i = 0; i < kSetupKills; ++i) {
    const std::string path = dir.path() + "/tablet-" + std::to_string(i) + ".db";
    const microseconds delay(std::uniform_int_distribution<int64_t>(0, kMaxSetupKillDelayUs)(rng));
    SCOPED_TRACE(::testing::Message() << "seed " << seed << ", setup " << i << ", killed after "
                                      << delay.count() << " us");
    std::string error;
    auto child = ChildProcess::Spawn(KITSYNC_CRASH_WRITER_PATH, {"--create", path}, &error);
    ASSERT_NE(child, nullptr) << error;
    const auto kill_at = Clock::now() + delay;
    bool reported_created = false;
    std::string line;
    while (child->ReadLine(kill_at, &line) == ChildProcess::ReadStatus::kLine) {
      reported_created = reported_created || line == kCreatedLine;
    }
    child->Kill();
    auto status = child->WaitUntil(Clock::now() + kReapTimeout);
    ASSERT_TRUE(status.has_value()) << "writer " << child->pid() << " survived SIGKILL";
    while (child->ReadLine(Clock::now() + kReapTimeout, &line) == ChildProcess::ReadStatus::kLine) {
      reported_created = reported_created || line == kCreatedLine;
    }
    ASSERT_TRUE(reported_created || (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL))
        << "the setup failed by itself; its stderr is above";

    if (!std::filesystem::exists(path)) {
      ++no_file;
      continue;
    }
    auto opened = core::Store::Open(path);
    if (opened.ok()) {
      ++completed;
      continue;
    }
    ASSERT_FALSE(reported_created)
        << "a tablet whose setup returned does not open: " << opened.status().ToString();
    auto again = core::Store::Create(path, setup);
    if (again.ok()) {
      ++set_up_again;
      continue;
    }
    if (unusable++ == 0) {
      ADD_FAILURE() << "the killed setup left " << path << ", which neither opens ("
                    << opened.status().ToString() << ") nor can be set up again ("
                    << again.status().ToString() << ")";
    }
  }
  std::cout << "[ crash    ] " << kSetupKills << " setups killed: " << no_file
            << " before the file existed, " << completed << " after the setup completed, "
            << set_up_again << " part-way and set up again, " << unusable
            << " left a file that neither opens nor can be set up again\n";
  EXPECT_EQ(unusable, 0);
}

}  // namespace
}  // namespace kitsync::crash

// Shared fixtures for sync tests: a server (store + logic) in a temporary data directory with a
// clock the test moves, tablets enrolled with it that record through core::Store, and the
// conversions between a tablet's change log and the wire. Any test that drives the server,
// in-process or through a transport, can build on these.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kitsync/core/store.h"
#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_store.h"
#include "kitsync/sync/wire.h"
#include "kitsync/v1/admin.pb.h"
#include "kitsync/v1/sync.pb.h"

namespace kitsync::synctest {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A wall clock the test moves by hand; copies share the time.
struct ManualClock {
  std::shared_ptr<int64_t> now_ms = std::make_shared<int64_t>(1'790'000'000'000);  // 2026-09
  core::WallClock AsWallClock() const {
    auto p = now_ms;
    return [p] { return *p; };
  }
  int64_t now() const { return *now_ms; }
  void Advance(int64_t ms) { *now_ms += ms; }
};

// Master data with fixed IDs: kit types HYG-KIT, PPE-SET; posts HQ (central warehouse), ENT,
// NUN; officers HQ-OF-1, ENT-OF-1, NUN-OF-1 (one per post); rounds HYG-R1 (one HYG-KIT per
// beneficiary, proof required) and PPE-R1 (two PPE-SET, no proof).
core::MasterData TestMasterData();
std::string PostId(const std::string& code);  // of TestMasterData()

// The master data as LoadMasterData wants it.
v1::LoadMasterDataRequest MasterRequest(const core::MasterData& data, int64_t now_ms);

// A tablet enrolled with a server: its credential and its ledger.
struct Tablet {
  std::string db_path;
  std::string device_id;
  std::string post_id;
  std::string post_code;
  std::string token;
  std::string programme_key;
  std::unique_ptr<core::Store> store;
};

// A server over an SQLite data directory in a temp dir, its logic on a manual clock.
class TestServer {
 public:
  explicit TestServer(const sync::ServerLogicOptions& options = {},
                      const sync::SqliteServerStoreOptions& store_options = {});
  ~TestServer();

  sync::ServerStore& store() { return *store_; }
  sync::ServerLogic& logic() { return *logic_; }
  ManualClock& clock() { return clock_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string db_path() const;
  TempDir& dir() { return dir_; }

  // Closes the store, as a stopping server does, and opens the data directory again.
  void Reopen(const sync::SqliteServerStoreOptions& store_options = {});
  // Loads TestMasterData(); fails the test on error.
  void LoadMasterData();
  // Creates a code for `post_code` and enrols a tablet with it; the tablet's database holds
  // TestMasterData() and a receipt of 10000 HYG-KIT, so handovers need no override. Fails the
  // test (and returns a tablet without a store) on error.
  Tablet EnrolTablet(const std::string& post_code, const std::string& name);

 private:
  TempDir dir_;
  ManualClock clock_;
  std::string data_dir_;
  std::string admin_token_;
  std::unique_ptr<sync::ServerStore> store_;
  std::unique_ptr<sync::ServerLogic> logic_;
  sync::ServerLogicOptions logic_options_;
  int tablets_ = 0;
};

// Registers a beneficiary and records a HYG-R1 handover of one HYG-KIT to them, both at the
// tablet's post with its first officer. Returns the handover's ID ("" and a test failure on
// error).
// SQL for the number of changes the selected feed entries hold: an entry naming a run of a
// batch's handovers, or a transaction's served summaries for a post, holds several
// (docs/server.md, schema step 10). Use as "SELECT " + kFeedChanges + " FROM feed WHERE ...".
inline const std::string kFeedChanges =
    "coalesce(sum(CASE WHEN entity IN ('handovers', 'served_summaries') "
    "THEN CAST(entity_id AS INTEGER) ELSE 1 END), 0)";

std::string RecordHandover(Tablet& tablet, const std::string& doc_number,
                           const std::string& proof_ref = "sha256:5f1d0c");

// The tablet's change-log entries after its acknowledged sequence, at most `limit`, as one push
// batch: records through RecordBatchWriter, first_seq of the first, tip_hash the last entry's
// hash. `sender_wall_ms` is the tablet's clock when sending.
// `server_reads` is what the receiving server reads (StatusResponse.wire_features).
v1::PushBatch BuildPushBatch(const std::vector<core::ChangeEntry>& entries, int64_t sender_wall_ms,
                             uint64_t pending = 0, sync::WireFeatures server_reads = {});
v1::PushBatch NextPushBatch(core::Store& store, int64_t limit, int64_t sender_wall_ms,
                            sync::WireFeatures server_reads = {});
// A batch made by hand rather than by a tablet: `changes` numbered from `first_seq` and chained
// from `prev_hash` (core::GenesisHash(device_id) for a device's first batch) exactly as a
// tablet would chain them. For records a real tablet would refuse to make.
v1::PushBatch ChainedBatch(const std::string& prev_hash, int64_t first_seq,
                           const std::vector<core::RemoteChange>& changes, int64_t sender_wall_ms);

// Applies a pulled batch to a tablet, with its cursor, the way the client does.
core::Status ApplyPullBatch(core::Store& store, const v1::PullBatch& batch);

// Pulls everything for `tablet` from `logic` and applies it; returns the changes applied.
int64_t PullAll(sync::ServerLogic& logic, Tablet& tablet, uint32_t batch_size = 0);
// Pushes everything the tablet has not had acknowledged, in batches of 200, each of which must
// be accepted, committing each ack on the tablet; fails the test if it does not drain.
void PushUntilDrained(TestServer& server, Tablet& tablet);

// A self-signed certificate (EC P-256, valid a day) for "localhost" and 127.0.0.1, usable as
// its own root: for tests of TLS.
struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};
TestCertificate MakeSelfSignedCertificate();

// Writes `content` to `path`, replacing it.
void WriteFile(const std::string& path, const std::string& content);

// A whole file's bytes; empty when it cannot be read.
std::string ReadFileBytes(const std::string& path);

// Raw SQL on a database file, outside any store: for independent checks.
class RawDb {
 public:
  explicit RawDb(const std::string& path);
  ~RawDb();
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  int64_t QueryInt(const std::string& sql);
  std::string QueryText(const std::string& sql);
  void Exec(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace kitsync::synctest

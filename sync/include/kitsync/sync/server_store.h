// The central server's ledger, in the core's terms. This interface is the seam between the sync
// service and its storage: SQLite is the embedded default (server_store_sqlite.cc); a
// PostgreSQL backend for a national deployment implements the same calls with the same
// guarantees (each call one transaction, nothing partially applied).
//
// Thread-safety: every method may be called from any thread; implementations serialise
// whatever must be serialised.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"
#include "kitsync/core/status.h"
#include "kitsync/core/store.h"
#include "kitsync/sync/report_facts.h"

namespace kitsync::sync {

// Who is calling, once a bearer token has been checked.
struct Principal {
  enum class Kind { kAdmin, kDevice };
  Kind kind = Kind::kDevice;
  // Set for devices only.
  std::string device_id;
  std::string post_id;
  std::string post_code;

  bool is_admin() const { return kind == Kind::kAdmin; }
};

// Printed once by `init`, never stored in clear.
struct InitResult {
  std::string admin_token;
  std::string admin_token_file;  // DIR/admin.token, mode 0600
};

// One batch of a device's change log, already parsed and field-checked.
struct PushInput {
  int64_t first_seq = 0;  // device sequence of changes[0]
  std::string tip_hash;   // chain hash (32 raw bytes) of the last change
  std::vector<core::RemoteChange> changes;
  int64_t pending_reported = 0;   // backlog the device says it still has
  int64_t now_ms = 0;             // the server's wall clock
  int64_t max_clock_skew_ms = 0;  // changes further ahead of now_ms are flagged
};

struct PushOutcome {
  int64_t acked_seq = 0;  // highest device sequence held durably
  int64_t applied = 0;    // changes of this batch written now
  int64_t flagged = 0;    // of those, changes whose HLC was beyond the allowed skew
};

// A page of the feed for one device.
struct FeedPage {
  std::vector<core::RemoteChange> changes;
  // The server sequence to store once these changes are applied: that of the last change, or
  // the feed's head when nothing more for this device precedes it.
  int64_t cursor = 0;
  int64_t remaining = 0;  // changes for this device after `cursor`, as of reading
};

// Where the server stands for one device.
struct DeviceCursor {
  int64_t acked_seq = 0;
  std::string tip_hash;  // empty when nothing was received
  int64_t feed_head = 0;
};

struct DeviceInfo {
  std::string id;
  std::string name;
  std::string post_id;
  std::string post_code;
  int64_t enrolled_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t last_push_ms = 0;
  int64_t acked_seq = 0;
  int64_t pending_reported = 0;
  std::optional<int64_t> revoked_ms;
  std::string revoke_reason;
};

struct EnrolmentCode {
  std::string code;  // as the admin gives it to the officer, e.g. "7KQ4-M2XD-9HTC"
  int64_t expires_ms = 0;
};

struct Enrolment {
  std::string device_id;
  std::string post_id;
  std::string post_code;
  std::string device_token;   // shown once; only its SHA-256 is kept
  std::string programme_key;  // raw bytes
};

// Stock moved by the centre. Codes, as an admin types them.
struct CentralMovementInput {
  core::MovementKind kind = core::MovementKind::kReceipt;  // receipt, transfer out, adjustment
  std::string kit_type_code;
  std::string post_code;  // where the stock is; for a dispatch the sending post
  int64_t quantity = 0;
  std::string counterpart_post_code;  // for a dispatch: the receiving post
  std::string reference;
  std::string reason;
  std::string officer_code;
  int64_t now_ms = 0;
};

class ServerStore {
 public:
  virtual ~ServerStore() = default;

  // The device ID central records (master data, central movements) carry.
  virtual const std::string& server_device_id() const = 0;

  // --- authentication
  // UNAUTHENTICATED for an empty or unknown token, or a revoked device. Records the device's
  // last-seen time (coarsely, so that authentication is not a write on every call).
  virtual core::Result<Principal> Authenticate(const std::string& token, int64_t now_ms) = 0;

  // --- enrolment
  // NOT_FOUND for an unknown post. `valid_minutes` is already range-checked.
  virtual core::Result<EnrolmentCode> CreateEnrolmentCode(const std::string& post_code,
                                                          int64_t valid_minutes,
                                                          int64_t now_ms) = 0;
  // UNAUTHENTICATED for an unknown, used or expired code. The code is spent in the same
  // transaction that creates the device.
  virtual core::Result<Enrolment> Enroll(const std::string& code, const std::string& device_name,
                                         int64_t now_ms) = 0;
  virtual core::Result<std::vector<DeviceInfo>> ListDevices() = 0;
  // NOT_FOUND for an unknown device; revoking twice keeps the first revocation.
  virtual core::Status RevokeDevice(const std::string& device_id, const std::string& reason,
                                    int64_t now_ms) = 0;

  // --- sync
  // One transaction: the batch is applied whole and the device's cursor advanced, or nothing
  // changes. See docs/server.md for the rules.
  virtual core::Result<PushOutcome> ApplyPush(const Principal& device, const PushInput& input) = 0;
  // The device's channels (its post, master data) after `after`, in server order, at most
  // `limit` changes. The device's own changes are left out: it holds them already.
  virtual core::Result<FeedPage> ReadFeed(const Principal& device, int64_t after,
                                          int64_t limit) = 0;
  virtual core::Result<DeviceCursor> GetCursor(const Principal& device) = 0;

  // --- the centre
  // Upserts; each new or changed record is appended to the master channel. Returns how many
  // changed. References must resolve within `data` or to records already held.
  virtual core::Result<int64_t> LoadMasterData(const core::MasterData& data, int64_t now_ms) = 0;
  virtual core::Result<core::MasterData> GetMasterData() = 0;
  // A receipt or adjustment records one movement; a dispatch records the transfer out at the
  // sending post and the transfer in at the receiving post. Returns the movements' IDs.
  virtual core::Result<std::vector<std::string>> RecordCentralMovement(
      const CentralMovementInput& input) = 0;

  // --- reports (read-only; each one read transaction, so its figures agree with each other)
  virtual core::Result<std::vector<HandoutLine>> ReportHandouts(const ReportScope& scope) = 0;
  // Per round and kit type: one line per post, then the all-posts line.
  virtual core::Result<std::vector<ServedLine>> ReportServed(const ReportScope& scope) = 0;
  // Post and kit type of `scope` only; every post and kit type with any fact otherwise.
  virtual core::Result<StockFacts> ReportStockFacts(const ReportScope& scope) = 0;
};

struct SqliteServerStoreOptions {
  int busy_timeout_ms = 5000;
};

// Creates a data directory: the database and DIR/admin.token (mode 0600). ALREADY_EXISTS when
// `dir` already holds a server database or an admin token.
core::Result<InitResult> InitSqliteServerStore(const std::string& dir, int64_t now_ms);
// Opens the data directory made by InitSqliteServerStore, migrating its schema forward.
core::Result<std::unique_ptr<ServerStore>> OpenSqliteServerStore(
    const std::string& dir, SqliteServerStoreOptions options = {});

// The database file inside a data directory.
std::string ServerDatabasePath(const std::string& dir);

}  // namespace kitsync::sync

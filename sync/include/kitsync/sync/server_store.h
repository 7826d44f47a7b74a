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

#include "kitsync/core/canonical.h"
#include "kitsync/core/conflicts.h"
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

// The logged forms of a batch's changes and the chain hash after each, worked out before the
// store is locked (ServerLogic::PreparePush), from `chain_from`: the hash the stream's previous
// batch ended on. A store trusts `after` from change k on only when the hash before change k
// (chain_from, or after[k - 1]) is the one it holds; otherwise it hashes again itself.
struct PrehashedChanges {
  std::string chain_from;               // empty: not known, and `after` is empty
  std::vector<core::LoggedForm> forms;  // one per change
  std::vector<std::string> after;       // empty, or one per change
};

// One batch of a device's change log, already parsed and field-checked.
struct PushInput {
  int64_t first_seq = 0;  // device sequence of changes[0]
  std::string tip_hash;   // chain hash (32 raw bytes) of the last change
  std::vector<core::RemoteChange> changes;
  int64_t pending_reported = 0;   // backlog the device says it still has
  int64_t now_ms = 0;             // the server's wall clock
  int64_t max_clock_skew_ms = 0;  // changes further ahead of now_ms are flagged
  // Absent when not worked out, or when a change has no logged form (the store then refuses
  // it where its own checks reach it).
  std::optional<PrehashedChanges> prehashed;
};

// Works out PushInput::prehashed for `changes`, the first of which has device sequence
// `first_seq`. Needs nothing of the store.
std::optional<PrehashedChanges> PrehashChanges(int64_t first_seq,
                                               const std::vector<core::RemoteChange>& changes,
                                               const std::string& chain_from);

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

// One run of the feed (docs/server.md, "Feed epochs"). A server restored from a copy goes on
// from the copy's feed head under a new epoch: its entries up to `start_seq` are those of the
// epoch before, the ones after it are its own.
struct FeedEpoch {
  std::string id;
  int64_t start_seq = 0;
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
  bool repeated = false;      // the same tablet asking again; nothing was written
};

// Identifies one of the office's writes across retries: the ID its tool chose, and a digest of
// the request without it. Empty `id`: the write is not protected against repeats.
struct RequestKey {
  std::string id;
  std::string fingerprint;
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
  RequestKey request;
};

// A correction of a beneficiary's details by the central office.
struct CentralCorrectionInput {
  std::string beneficiary_id;
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
  std::string officer_code;
  std::string actor;  // for the audit log
  int64_t now_ms = 0;
  RequestKey request;
};

// A conflict as the server keeps it: what was detected, where it stands, what an admin did.
struct ConflictRecord {
  std::string id;
  core::DetectedConflict conflict;
  core::ConflictStatus status = core::ConflictStatus::kOpen;
  std::vector<std::string> post_ids;
  int64_t detected_ms = 0;
  int64_t updated_ms = 0;
  std::string resolution;  // the action taken, e.g. "justify", "void"
  std::string resolved_by;
  std::optional<int64_t> resolved_ms;
  std::string note;
};

struct ConflictFilter {
  std::optional<core::ConflictKind> kind;
  std::optional<core::ConflictStatus> status;
  std::string post_id;  // empty: every post
};

// What an admin decided. Actions per kind:
//   entitlement-exceeded: "justify" (the extra kits were right; a note says why),
//                         "void" (void `handover_id`, one of the sides, as `officer_code`)
//   duplicate-beneficiary: "keep-both" (different people, or linked knowingly; a note says why),
//                          "merge" (one family: every other registration is merged into
//                          `keep_beneficiary_id`, one of the sides; a note says why)
//   stock-deficit: "receipt" / "adjustment" (records the missing receipt of `quantity`, or an
//                  adjustment of signed `quantity` with the note as its reason, at the post)
//   concurrent-update: "pick" (the centre re-issues correction `correction_id`'s values for the
//                      disputed fields) or "set" (the centre sets the values given), either way
//                      as a correction ordered after every version, so every replica takes it
//   update-vs-void: "confirm" (the merge stands and the correction stays unapplied; a note says
//                   why) or "restore" (the centre carries correction `correction_id`'s values, or
//                   the only correction's, onto the kept beneficiary, as "pick" does)
struct ResolveInput {
  std::string conflict_id;
  std::string action;
  std::string actor;  // who decided, as they sign the audit log
  std::string note;
  std::string handover_id;
  int64_t quantity = 0;
  std::string reference;
  std::string officer_code;
  std::string correction_id;
  std::string keep_beneficiary_id;
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
  int64_t now_ms = 0;
  RequestKey request;
};

struct ResolveOutcome {
  ConflictRecord conflict;              // as it stands after the decision
  std::vector<std::string> record_ids;  // facts the decision wrote to the feed
};

struct AuditEntry {
  int64_t seq = 0;
  int64_t at_ms = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string detail;
};

class ServerStore {
 public:
  virtual ~ServerStore() = default;

  // The device ID central records (master data, central movements) carry.
  virtual const std::string& server_device_id() const = 0;
  // The feed's epochs, oldest first; the last is the current one. Never empty, and fixed for
  // the store's life: only a restore, into a new data directory, starts an epoch.
  virtual const std::vector<FeedEpoch>& feed_epochs() const = 0;

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
  // transaction that creates the device. `offered_token`, when not empty, is the credential the
  // tablet made (already checked well-formed): a code already spent on a device holding that
  // credential answers with that device again and writes nothing, unless it was revoked.
  virtual core::Result<Enrolment> Enroll(const std::string& code, const std::string& device_name,
                                         const std::string& offered_token, int64_t now_ms) = 0;
  virtual core::Result<std::vector<DeviceInfo>> ListDevices() = 0;
  // NOT_FOUND for an unknown device; revoking twice keeps the first revocation.
  virtual core::Status RevokeDevice(const std::string& device_id, const std::string& reason,
                                    int64_t now_ms) = 0;

  // --- sync
  // One transaction: the batch is applied whole and the device's cursor advanced, or nothing
  // changes. See docs/server.md for the rules.
  virtual core::Result<PushOutcome> ApplyPush(const Principal& device, const PushInput& input) = 0;
  // Several batches of one device, in order, in one transaction, each as ApplyPush would apply it
  // alone: a result per batch up to the first refused one, which is that refusal; the batches
  // after it are left unapplied and get none. What the batches before it wrote commits with them.
  // One commit for the batches a push stream has waiting saves a wait for the disk per batch.
  // This default applies them one transaction at a time.
  virtual std::vector<core::Result<PushOutcome>> ApplyPushes(
      const Principal& device, const std::vector<const PushInput*>& inputs) {
    std::vector<core::Result<PushOutcome>> out;
    for (const PushInput* input : inputs) {
      out.push_back(ApplyPush(device, *input));
      if (!out.back().ok()) break;
    }
    return out;
  }
  // The device's channels (its post, master data) after `after`, in server order, at most
  // `limit` changes. The device's own changes are left out: it holds them already.
  // `remaining_after` is the `remaining` of the page before, read by the same pull (ending at
  // `after`), if any: the page's own `remaining` is then worked out from it instead of counted
  // again over everything the device has yet to pull.
  virtual core::Result<FeedPage> ReadFeed(const Principal& device, int64_t after, int64_t limit,
                                          std::optional<int64_t> remaining_after) = 0;
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

  // --- conflicts (detected by ApplyPush and the centre's writes, in their transactions)
  // Most recently updated first.
  virtual core::Result<std::vector<ConflictRecord>> ListConflicts(const ConflictFilter& filter) = 0;
  // NOT_FOUND for an unknown ID.
  virtual core::Result<ConflictRecord> GetConflict(const std::string& id) = 0;
  // One transaction: the facts the decision makes, the conflict's new state, the audit entry.
  // FAILED_PRECONDITION for an action that does not fit the conflict's kind or state.
  virtual core::Result<ResolveOutcome> ResolveConflict(const ResolveInput& input) = 0;
  // Looks at every situation from scratch and returns what holds; the stored open conflicts
  // must equal it. For checks and tests, not for the sync path.
  virtual core::Result<std::vector<core::DetectedConflict>> RecomputeConflicts() = 0;
  virtual core::Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int64_t limit) = 0;
  // The centre corrects a beneficiary; the correction reaches the post's tablets through the
  // feed. Returns the correction's ID. NOT_FOUND for an unknown beneficiary.
  virtual core::Result<std::string> CorrectBeneficiary(const CentralCorrectionInput& input) = 0;
  // --- reports (read-only; each one read transaction, so its figures agree with each other)
  virtual core::Result<std::vector<HandoutLine>> ReportHandouts(const ReportScope& scope) = 0;
  // Per round and kit type: one line per post, then the all-posts line.
  virtual core::Result<std::vector<ServedLine>> ReportServed(const ReportScope& scope) = 0;
  // Post and kit type of `scope` only; every post and kit type with any fact otherwise.
  virtual core::Result<StockFacts> ReportStockFacts(const ReportScope& scope) = 0;
};

struct SqliteServerStoreOptions {
  int busy_timeout_ms = 5000;
  // Write-ahead log checkpoints from a thread and connection of the store's own, off the
  // commits of pushes (server_checkpointer.h). Off: SQLite's automatic checkpoint, inside the
  // commit that crosses its threshold.
  bool background_checkpoints = true;
  // A checkpoint once this many pages (4 KiB each) were committed since the last; one that
  // holds up writers until it is done once the log holds `checkpoint_hard_pages`.
  int64_t checkpoint_soft_pages = 4000;
  int64_t checkpoint_hard_pages = 16000;
  // How often what is left in the log is copied while pushes commit fewer pages.
  int64_t checkpoint_period_ms = 1000;
};

// Creates a data directory: the database and DIR/admin.token (mode 0600). ALREADY_EXISTS when
// `dir` already holds a server database or an admin token.
core::Result<InitResult> InitSqliteServerStore(const std::string& dir, int64_t now_ms);
// A new admin credential for the data directory `dir`, written to DIR/admin.token (mode 0600,
// replacing the old file) and returned: for a credential lost or leaked, or a server restored
// where the old token file is gone. The old credential stops working at once, on a server
// running from `dir` too. Recorded in the audit log. NOT_FOUND when `dir` holds no server
// database.
core::Result<InitResult> ReplaceAdminToken(const std::string& dir, int64_t now_ms);
// Opens the data directory made by InitSqliteServerStore, migrating its schema forward.
core::Result<std::unique_ptr<ServerStore>> OpenSqliteServerStore(
    const std::string& dir, SqliteServerStoreOptions options = {});

// The database file inside a data directory.
std::string ServerDatabasePath(const std::string& dir);

}  // namespace kitsync::sync

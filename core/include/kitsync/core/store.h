// The tablet's ledger: one SQLite file holding master data, beneficiaries, handovers, stock
// movements and the change log. Every mutation writes its record and its change-log entry in one
// transaction, so a record that exists is always a record that will be uploaded.
//
// Thread-safety: a Store is used from one thread at a time. Several processes may open the same
// file; SQLite's locking serialises their writes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/change_log.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

struct StoreOptions {
  WallClock clock;  // defaults to the system clock
  // synchronous=FULL: a commit that returned survives power loss. Only benchmarks that measure
  // the cost of durability turn it off.
  bool durable = true;
  int busy_timeout_ms = 5000;
  // Timestamps from elsewhere further ahead of this wall clock are not absorbed into its HLC.
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
};

struct TabletSetup {
  std::string post_code;
  std::string device_name;
  std::string programme_key;  // raw bytes of the HMAC key for identity documents
  std::string device_id;      // empty: made here
};

struct DeviceIdentity {
  std::string device_id;
  std::string device_name;
  std::string post_code;
};

struct BeneficiaryInput {
  std::string doc_number;  // hashed before it is stored; never kept in clear
  std::string full_name;
  std::string phone;
  int64_t household_size = 1;
};

// A correction of a beneficiary's details; unset fields stay as they are.
struct BeneficiaryUpdateInput {
  std::string beneficiary_id;
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
  std::string officer_code;
};

struct ProofInput {
  ProofKind kind = ProofKind::kNone;
  std::string ref;
};

struct HandoverInput {
  std::string round_code;
  std::string beneficiary_id;
  std::string kit_type_code;
  int64_t quantity = 1;
  std::string officer_code;
  ProofInput proof;
  Collector collected_by = Collector::kSelf;
  std::string proxy_relation;
  bool consent = false;
  std::string override_reason;  // lets the officer go past warnings, recorded with the handover
};

// Something that should stop the officer, but cannot be a hard error: the kit may already be in
// the family's hands. Recording past a warning needs a reason.
struct Warning {
  std::string code;     // "stock-exceeded", "entitlement-exceeded"
  std::string message;  // for the officer
};

struct HandoverReceipt {
  Handover handover;
  std::vector<Warning> overridden;
  // The ID the officer gave, when the office had merged it into another beneficiary: the
  // handover is recorded for the kept one (handover.beneficiary_id). Empty otherwise.
  std::string merged_from;
};

struct VoidInput {
  std::string handover_id;
  std::string reason;
  std::string officer_code;
};

struct MovementInput {
  MovementKind kind = MovementKind::kReceipt;
  std::string kit_type_code;
  int64_t quantity = 0;  // positive; for adjustments a signed, non-zero delta
  std::string counterpart_post_code;  // transfers only
  std::string reference;
  std::string reason;
  std::string officer_code;
};

struct StockLine {
  std::string kit_type_code;
  int64_t received = 0;      // receipts + transfers in
  int64_t transferred = 0;   // transfers out
  int64_t adjusted = 0;      // sum of adjustment deltas (negative: lost or damaged)
  int64_t handed_out = 0;    // quantities of handovers not voided
  int64_t balance = 0;       // received - transferred + adjusted - handed_out
  std::optional<int64_t> last_count;  // latest physical count, if any
};

struct HandoverFilter {
  std::string round_code;
  std::string kit_type_code;
  std::string beneficiary_id;
  std::optional<int64_t> since_wall_ms;
  std::optional<int64_t> until_wall_ms;
  bool include_voided = true;
  int64_t limit = 1000;
};

struct HandoverView {
  Handover handover;
  std::string round_code;
  std::string kit_type_code;
  std::string officer_code;
  std::optional<HandoverVoid> void_record;
  // The beneficiary the office merged handover.beneficiary_id into, if it did: whose the
  // handover is now. Empty when the beneficiary was never retired.
  std::string merged_into;
};

struct TabletStatus {
  DeviceIdentity identity;
  int64_t last_seq = 0;
  int64_t acked_seq = 0;
  int64_t pending = 0;
  Hlc last_hlc;
  ChainReport chain;
  int64_t pull_cursor = 0;  // the last server feed entry applied (0: nothing pulled yet)
  std::string pull_epoch;   // the feed epoch that cursor belongs to (empty: none recorded)
};

// A record from the server's feed: another tablet's, the centre's, or this tablet's own coming
// back. For records that carry an HLC, `hlc` is theirs.
using RemoteRecord = Record;
struct RemoteChange {
  Hlc hlc;
  RemoteRecord record;
};

// How this tablet reaches its server. The token is the device credential from enrolment.
struct ServerLink {
  std::string address;       // "host:port"
  std::string device_token;
  std::string ca_file;       // PEM bundle to verify the server; empty for loopback plaintext
};

// Every fact a replica holds, reduced to one value independent of arrival order: replicas that
// hold the same beneficiaries, handovers, voids and movements, field for field, agree on it.
struct FactsDigest {
  std::string sha256_hex;
  int64_t facts = 0;
};

class Store {
 public:
  // Creates a new tablet database. Fails if `path` already holds one.
  static Result<std::unique_ptr<Store>> Create(const std::string& path, const TabletSetup& setup,
                                               StoreOptions options = {});
  // Opens an existing tablet database, migrating its schema forward.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {});

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const DeviceIdentity& identity() const;

  // Master data comes from the centre; it is upserted and not written to the change log.
  // All or nothing: one invalid record rejects the whole import.
  Status ImportMasterData(const MasterData& data);
  // The master data this tablet holds, ordered by code.
  Result<MasterData> LoadMasterData();

  // Refuses a document number already registered on this tablet (ALREADY_EXISTS, naming the ID).
  Result<Beneficiary> RegisterBeneficiary(const BeneficiaryInput& input);
  Result<Beneficiary> FindBeneficiaryByDocument(const std::string& doc_number);
  // The beneficiary's current details (every correction held applied); NOT_FOUND if unknown.
  Result<Beneficiary> GetBeneficiary(const std::string& id);
  // Corrects details of a beneficiary of this post. Nothing changes when every field given
  // already holds that value (FAILED_PRECONDITION says so), so a repeated command adds nothing.
  // A beneficiary the office merged into another is not corrected: FAILED_PRECONDITION names
  // the kept one.
  Result<BeneficiaryUpdate> UpdateBeneficiary(const BeneficiaryUpdateInput& input);

  // Validation only: what would stop this handover, without writing anything.
  Result<std::vector<Warning>> CheckHandover(const HandoverInput& input);
  // FAILED_PRECONDITION when a warning applies and no override reason is given. A beneficiary
  // the office merged into another is served as the kept one (HandoverReceipt::merged_from).
  Result<HandoverReceipt> RecordHandover(const HandoverInput& input);
  // All or nothing, in one transaction: the first invalid input rejects the whole import. Stock
  // and entitlement are checked against the running totals of the import itself.
  Result<int64_t> ImportHandovers(const std::vector<HandoverInput>& inputs);
  Result<HandoverVoid> VoidHandover(const VoidInput& input);

  Result<StockMovement> RecordMovement(const MovementInput& input);
  Result<std::vector<StockLine>> Stock();

  Result<std::vector<HandoverView>> ListHandovers(const HandoverFilter& filter);

  // Change-log entries after the last acknowledged upload, oldest first.
  Result<std::vector<ChangeEntry>> PendingChanges(int64_t limit);
  // The same entries, each with the fact it records: what an upload sends. A fact is read from
  // its row as a record rather than rebuilt as a payload to be parsed back; the entries'
  // payloads are left empty.
  struct PendingFact {
    ChangeEntry entry;
    Record record;
  };
  Result<std::vector<PendingFact>> PendingFacts(int64_t limit);
  // The pending entries after entry `after` (those after the acknowledged one when `after` is
  // earlier), with their facts: an upload that keeps sending while earlier batches await their
  // acks continues after the last entry it sent. OUT_OF_RANGE when the log does not reach
  // `after`.
  Result<std::vector<PendingFact>> PendingFacts(int64_t after, int64_t limit);
  // The same, written over the elements of `out` (resized to the count), whose strings keep
  // their storage: an upload that reads batch after batch into one vector allocates its records
  // once. On error `out` holds an unspecified prefix.
  Status PendingFacts(int64_t after, int64_t limit, std::vector<PendingFact>& out);
  // Marks everything up to `seq` as durably held by the server. Never moves backwards. The mark
  // survives the process being killed; a power cut may take it back to an earlier ack, which
  // costs nothing: a sync pass lines up with what the server holds before sending.
  Status AcknowledgeUpload(int64_t seq);
  // After the server reports holding less than this tablet believed acknowledged (its database
  // was restored from a backup), uploads resume from `seq` + 1. Nothing is lost: the log keeps
  // every entry.
  Status ResetUploadCursor(int64_t seq);
  Result<ChainReport> VerifyChain();

  // Applies a pulled batch and stores `cursor` in one transaction, so a crash between the two
  // cannot happen. Records already held are left as they are: facts never change, and this
  // tablet's own changes coming back do no harm. Master data is upserted.
  Status ApplyPulled(const std::vector<RemoteChange>& changes, int64_t cursor);
  Result<int64_t> PullCursor();
  // The server's feed epoch the pull cursor belongs to (docs/sync.md, "Line up"); empty when
  // none was recorded (a tablet that never lined up, or one from before feed epochs).
  Result<std::string> PullEpoch();
  // Records that the pull cursor belongs to feed epoch `epoch` and sets it to `cursor`, in one
  // transaction. The cursor only goes back (or stays): what the new epoch shares with the old
  // ends at most where this tablet stopped. INVALID_ARGUMENT for an empty epoch or a cursor
  // beyond the stored one.
  Status SetPullEpoch(const std::string& epoch, int64_t cursor);
  // The office's decisions on conflicts concerning this post, oldest first.
  Result<std::vector<ConflictResolution>> ListResolutions();

  Result<FactsDigest> DigestFacts();

  Status SaveServerLink(const ServerLink& link);
  // NOT_FOUND when the tablet was never enrolled.
  Result<ServerLink> LoadServerLink();
  // With `verify_chain`, walks the whole change log (as `kitsync status` shows); without, the
  // cheap figures only and `chain` is left as unchecked-ok. A sync pass uses the cheap form: the
  // server verifies every entry it receives against the chain it holds.
  Result<TabletStatus> GetStatus(bool verify_chain = true);

  // Writes a consistent copy of this tablet's database to the new file `path` (an SD card, a
  // laptop) while the tablet stays usable, then opens the copy as a tablet and walks its whole
  // change log, returning the copy's status (a chain broken on the tablet is broken in the copy
  // too, and reported, not hidden). The copy holds the device credential and the programme key:
  // it is readable by the owner alone. See core/snapshot.h for the errors; a copy that does not
  // open as a tablet is removed and DATA_LOSS returned.
  Result<TabletStatus> WriteBackup(const std::string& path);

 private:
  class Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kitsync::core

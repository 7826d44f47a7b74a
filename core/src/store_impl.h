// Internals shared by the store's source files: one per concern (tablet, master data,
// beneficiaries and handovers, stock), all over the same connection.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/store.h"
#include "kitsync/core/sqlite.h"

namespace kitsync::core {

struct RoundInfo {
  std::string id;
  std::string code;
  bool requires_proof = true;
  std::map<std::string, int64_t> max_per_kit_type;  // kit_type_id -> entitlement
};

struct OfficerInfo {
  std::string id;
  std::string post_id;
};

// The columns of a handover row, in the order ReadHandoverColumns expects, for table alias h.
#define KITSYNC_HANDOVER_COLUMNS                                                               \
  "h.id, h.round_id, h.beneficiary_id, h.kit_type_id, h.quantity, h.post_id, h.officer_id, "   \
  "h.device_id, h.hlc, h.wall_ms, h.proof_kind, h.proof_ref, h.collected_by, h.proxy_relation, " \
  "h.consent, h.override_reason, h.overridden_warnings"
inline constexpr int kHandoverColumnCount = 17;
Handover ReadHandoverColumns(const sqlite::Statement& row, int first);
// The same, written over `h`, keeping its strings' storage (ReadHandoverFieldsInto).
void ReadHandoverColumnsInto(const sqlite::Statement& row, int first, Handover& h);
// Overridden warning codes are stored comma-separated; codes never contain a comma.
std::string JoinWarnings(const std::vector<std::string>& codes);

// Settings kept in the meta table.
Result<std::optional<std::string>> ReadOptionalMeta(sqlite::Db& db, const char* key);
Result<std::string> ReadMeta(sqlite::Db& db, const char* key);
// `fallback` stands in for a setting never written; without one, a missing setting is DATA_LOSS.
Result<int64_t> ReadMetaInt(sqlite::Db& db, const char* key,
                            std::optional<int64_t> fallback = std::nullopt);
Status WriteMeta(sqlite::Db& db, const char* key, std::string_view value);

// Sums by movement kind plus the quantity handed out and not voided, for one post and kit type.
struct Totals {
  int64_t receipts = 0;
  int64_t transfers_in = 0;
  int64_t transfers_out = 0;
  int64_t adjustments = 0;
  int64_t handed_out = 0;

  int64_t Balance() const {
    return receipts + transfers_in - transfers_out + adjustments - handed_out;
  }
};

// What the ledger says of the family a handover is for, in its round and kit type.
struct FamilyHistory {
  // The registration the kit counts for: the one asked for, or the one the office kept when
  // it merged the asked-for registration away.
  std::optional<std::string> kept;
  bool known = false;     // this tablet holds that registration
  std::string doc_hash;   // the family, when known
  int64_t received = 0;   // of this kit type in this round, not voided, at this post
  int64_t elsewhere = 0;  // the same, at other posts, as of the last pull
};

// The last entry of the change log: where the next entry attaches.
struct LogTip {
  int64_t seq = 0;
  Hlc hlc;
  std::string hash;
};

class Store::Impl {
 public:
  Impl(std::unique_ptr<sqlite::Db> db, StoreOptions options)
      : db_(std::move(db)), clock_(options.clock), max_clock_skew_ms_(options.max_clock_skew_ms) {}

  sqlite::Db& db() { return *db_; }
  const DeviceIdentity& identity() const { return identity_; }

  Status LoadIdentity();
  Status WriteSetup(const TabletSetup& setup, const std::string& device_id);

  // --- change log (store.cc). REQUIRES: an open write transaction.
  Result<LogTip> ReadTip();
  // The next local timestamp, after every entry already in the log.
  Hlc NextHlc(const LogTip& tip);
  // Appends an entry whose hash covers `payload`. The payload is stored only with
  // `store_payload`; otherwise it is rebuilt from the fact's own row when read, since facts never
  // change, which keeps each recorded fact written once.
  Status Append(LogTip& tip, Hlc hlc, const char* entity, const std::string& entity_id,
                const std::string& payload, bool store_payload);
  // REQUIRES: a row of "SELECT seq, hlc, entity, entity_id, op, payload, hash".
  Result<ChangeEntry> ReadEntry(const sqlite::Statement& row);
  Result<std::string> HashOfEntry(int64_t seq);
  Result<std::vector<ChangeEntry>> ReadPending(int64_t limit);
  Status ReadPendingFacts(int64_t limit, std::vector<Store::PendingFact>& out);
  // Calls `each` for the entries after the acknowledged one, in order, at most `limit`, with the
  // entry's fields (prev_hash included) but its payload, and its row for the rest.
  Status ForEachPending(int64_t limit,
                        const std::function<Status(ChangeEntry, const sqlite::Statement&)>& each);
  Result<ChainReport> WalkChain();
  // The canonical payload of a fact held in its table (store_read.cc). A void is found by its
  // handover and `device_id`, this tablet's when empty.
  Result<std::string> EncodeStoredFact(const std::string& entity, const std::string& id,
                                       const std::string& device_id = {});
  // The same fact as a record: equal to decoding EncodeStoredFact's payload.
  Result<Record> ReadStoredFact(const std::string& entity, const std::string& id);
  Result<FactsDigest> Digest();

  // Upserts master data. REQUIRES: validated, and an open write transaction.
  Status UpsertMasterData(const MasterData& data);

  // --- reference lookups (store_master.cc). Codes are what officers type.
  Result<std::string> KitTypeId(const std::string& code);
  Result<std::string> PostId(const std::string& code);
  Result<std::string> OwnPostId();
  Result<RoundInfo> Round(const std::string& code);
  Result<OfficerInfo> Officer(const std::string& code);
  Result<std::string> CodeOf(const char* table, const std::string& id);

  // --- handovers (store_handovers.cc)
  struct PreparedHandover {
    Handover handover;
    std::vector<Warning> warnings;
    std::string merged_from;  // the ID given, when it was merged into handover.beneficiary_id
  };
  // What one write call has already looked up. A bulk import resolves each code once and keeps
  // the post's balance per kit type as a running figure instead of re-summing for every row.
  struct HandoverContext {
    std::map<std::string, RoundInfo> rounds;
    std::map<std::string, std::string> kit_types;
    std::map<std::string, OfficerInfo> officers;
    std::string post_id;
    std::map<std::string, int64_t> balances;  // kit_type_id -> balance, this call's rows included
  };
  // Validates `input` and fills everything but the ID and timestamps. `history` is the family's
  // history when the caller read it already (a bulk import reads many rows' at once); without
  // it, it is read here.
  Result<PreparedHandover> PrepareHandover(const HandoverInput& input, HandoverContext& ctx,
                                           const FamilyHistory* history = nullptr);
  // The same into `out`, whatever it held before.
  Status PrepareHandoverInto(const HandoverInput& input, HandoverContext& ctx,
                             const FamilyHistory* history, PreparedHandover& out);
  // Reads the family histories of a bulk import's rows ahead, a run at a time.
  class ImportLookahead;
  // The round and kit type a handover names, looked up once per write call.
  Result<const RoundInfo*> ResolveRound(const std::string& code, HandoverContext& ctx);
  Result<const std::string*> ResolveKitTypeId(const std::string& code, HandoverContext& ctx);

  // --- facts (store_rows.cc): inserted once; a repeat is ignored. REQUIRES: a write transaction.
  Status InsertBeneficiary(const Beneficiary& b);
  // Keeps the correction and applies it to the beneficiary's row, field by field.
  Status InsertBeneficiaryUpdate(const BeneficiaryUpdate& u);
  // Pulled in server order, so the latest summary for a family, round, kit and post replaces
  // the one before.
  Status UpsertServedSummary(const ServedSummary& s);
  Status InsertResolution(const ConflictResolution& r);
  // Keeps the merge if it stands for its retired beneficiary (core/merges.h); an older or
  // repeated one changes nothing.
  Status InsertMerge(const BeneficiaryMerge& m);
  // The beneficiary `beneficiary_id` was merged into, if it was retired by a merge.
  Result<std::optional<std::string>> KeptIdOf(const std::string& beneficiary_id);
  Status InsertHandover(const Handover& h);
  Status InsertVoid(const HandoverVoid& v);
  Status InsertMovement(const StockMovement& m);

  // --- stock (store_stock.cc)
  Result<int64_t> Balance(const std::string& post_id, const std::string& kit_type_id);
  Result<Totals> ReadTotals(const std::string& post_id, const std::string& kit_type_id);
  Result<int64_t> HandedOut(const std::string& post_id, const std::string& kit_type_id);
  // After this connection committed handovers (delta > 0) or voids (delta < 0).
  void CommittedHandedOut(const std::string& post_id, const std::string& kit_type_id,
                          int64_t delta);
  // After this connection committed facts it did not count itself (a pulled batch).
  void ForgetHandedOut() { handed_out_loaded_ = false; }

  // --- programme key for document hashes
  const std::string& programme_key() const { return programme_key_; }

  HlcClock& clock() { return clock_; }
  int64_t max_clock_skew_ms() const { return max_clock_skew_ms_; }

 private:
  std::unique_ptr<sqlite::Db> db_;
  HlcClock clock_;
  int64_t max_clock_skew_ms_;
  DeviceIdentity identity_;
  std::string programme_key_;
  std::map<std::pair<std::string, std::string>, int64_t> handed_out_;
  bool handed_out_loaded_ = false;
  int64_t handed_out_version_ = 0;
};

}  // namespace kitsync::core

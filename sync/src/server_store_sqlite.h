// The SQLite server store's internals, shared by its source files: one per concern (devices and
// credentials, pushes, the feed, the centre's own writes), all over one connection.
//
// One connection behind one mutex: SQLite serialises writers anyway, and keeping reads on the
// same connection means a pull never sees a feed entry whose transaction has not committed, so
// server sequences become visible strictly in order. A second connection, the checkpointer's,
// only copies the write-ahead log into the database file and reads no rows.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "kitsync/core/canonical.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_store.h"
#include "server_checkpointer.h"
#include "server_served_filter.h"

namespace kitsync::sync {

inline constexpr char kMasterChannel[] = "master";
// Served summaries (core::ServedSummary) about a post's handovers go on "served:<post ID>"; a
// device pulls those of every other post (its own post's handovers it holds already).
inline constexpr char kServedChannelPrefix[] = "served:";
// A feed entry naming a run of one push batch's handovers (schema step 10): its payload their
// IDs in push order, one per line, its entity ID how many.
inline constexpr char kHandoversEntity[] = "handovers";

// A situation conflicts are looked for in; a change touches a few of them (core/conflicts.h).
struct DuplicateSituation {
  std::string doc_hash;
  auto operator<=>(const DuplicateSituation&) const = default;
};
struct EntitlementSituation {
  std::string doc_hash;
  std::string round_id;
  std::string kit_type_id;
  auto operator<=>(const EntitlementSituation&) const = default;
};
struct StockSituation {
  std::string post_id;
  std::string kit_type_id;
  auto operator<=>(const StockSituation&) const = default;
};
struct CorrectionSituation {
  std::string beneficiary_id;
  auto operator<=>(const CorrectionSituation&) const = default;
};
// A beneficiary retired by a merge, looked at for corrections that missed the merge.
struct MergedSituation {
  std::string beneficiary_id;
  auto operator<=>(const MergedSituation&) const = default;
};
using Situation = std::variant<DuplicateSituation, EntitlementSituation, StockSituation,
                               CorrectionSituation, MergedSituation>;
using Situations = std::set<Situation>;

class SqliteServerStore final : public ServerStore {
 public:
  static core::Result<std::unique_ptr<SqliteServerStore>> Open(
      const std::string& dir, const SqliteServerStoreOptions& options);
  // The database file at `path`, wherever it is (a restore opens its copy before the copy
  // takes its place in the data directory).
  static core::Result<std::unique_ptr<SqliteServerStore>> OpenFile(
      const std::string& path, const SqliteServerStoreOptions& options);

  // Makes `token_sha256` the admin credential's digest, in place of the one before.
  core::Status SetAdminTokenDigest(const std::string& token_sha256, int64_t now_ms);

  const std::string& server_device_id() const override { return server_device_id_; }
  const std::vector<FeedEpoch>& feed_epochs() const override { return feed_epochs_; }

  // server_store_epochs.cc
  // Starts a new feed epoch that begins after `start_seq` (a restored copy's feed head).
  core::Result<FeedEpoch> StartFeedEpoch(int64_t start_seq, int64_t now_ms);
  // Leaves write-ahead logging, with everything in the main file: the file can then be moved
  // on its own. For a restore's copy before it is renamed into place; the server turns the
  // log on again when it opens the file.
  core::Status FoldLogIntoFile();

  core::Result<Principal> Authenticate(const std::string& token, int64_t now_ms) override;
  core::Result<EnrolmentCode> CreateEnrolmentCode(const std::string& post_code,
                                                  int64_t valid_minutes, int64_t now_ms) override;
  core::Result<Enrolment> Enroll(const std::string& code, const std::string& device_name,
                                 const std::string& offered_token,
                                 int64_t now_ms) override;
  core::Result<std::vector<DeviceInfo>> ListDevices() override;
  core::Status RevokeDevice(const std::string& device_id, const std::string& reason,
                            int64_t now_ms) override;

  core::Result<PushOutcome> ApplyPush(const Principal& device, const PushInput& input) override;
  // Each batch in a savepoint of its own, so that a refused one leaves those before it whole.
  std::vector<core::Result<PushOutcome>> ApplyPushes(
      const Principal& device, const std::vector<const PushInput*>& inputs) override;
  core::Result<FeedPage> ReadFeed(const Principal& device, int64_t after, int64_t limit,
                                  std::optional<int64_t> remaining_after) override;
  // The channels `device` pulls: its post, master data, other posts' served summaries.
  core::Result<std::vector<std::string>> ChannelsOf(const Principal& device);
  core::Result<DeviceCursor> GetCursor(const Principal& device) override;

  core::Result<int64_t> LoadMasterData(const core::MasterData& data, int64_t now_ms) override;
  core::Result<core::MasterData> GetMasterData() override;
  core::Result<std::vector<std::string>> RecordCentralMovement(
      const CentralMovementInput& input) override;

  core::Result<std::vector<ConflictRecord>> ListConflicts(const ConflictFilter& filter) override;
  core::Result<ConflictRecord> GetConflict(const std::string& id) override;
  core::Result<ResolveOutcome> ResolveConflict(const ResolveInput& input) override;
  core::Result<std::vector<core::DetectedConflict>> RecomputeConflicts() override;
  core::Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int64_t limit) override;
  core::Result<std::string> CorrectBeneficiary(const CentralCorrectionInput& input) override;
  // server_store_reports.cc
  core::Result<std::vector<HandoutLine>> ReportHandouts(const ReportScope& scope) override;
  core::Result<std::vector<ServedLine>> ReportServed(const ReportScope& scope) override;
  core::Result<StockFacts> ReportStockFacts(const ReportScope& scope) override;

 private:
  explicit SqliteServerStore(std::unique_ptr<core::sqlite::Db> db) : db_(std::move(db)) {}

  // Everything below REQUIRES mu_ held; writers also an open transaction.

  // One pushed batch, applied within the caller's transaction (ApplyPushes).
  core::Result<PushOutcome> ApplyPushLocked(const Principal& device, const PushInput& input);

  // One feed entry as read for a pull.
  struct FeedRow {
    int64_t server_seq = 0;
    std::string entity;
    std::string entity_id;
    core::Hlc hlc;
    std::string payload;
  };
  // Adds the changes a feed entry stands for to `changes`: one record, the handover its entry
  // refers to, or a transaction's served summaries for one post.
  core::Status AddFeedEntry(const FeedRow& row, std::vector<core::RemoteChange>& changes);
  // A handover as the server holds it, rebuilt from its row (its feed entry holds no copy).
  core::Result<std::optional<core::Handover>> HeldHandover(const std::string& id);
  // The same for a run's IDs with one statement, each at its ID's position.
  core::Result<std::vector<std::optional<core::Handover>>> HeldHandovers(
      const std::vector<std::string_view>& ids);

  // Appends one record to the feed and returns its server sequence.
  core::Result<int64_t> AppendFeed(const std::string& channel, const core::LoggedForm& form,
                                   core::Hlc hlc, const std::string& origin_device);
  // The first column of the first row `sql` selects with one or two keys, or nothing.
  core::Result<std::optional<std::string>> QueryText(const char* sql, const std::string& key1,
                                                     const std::string& key2 = {});
  core::Result<bool> Exists(const char* sql, const std::string& id);
  // Refuses a reference to a record the server does not hold.
  core::Status RequireRef(const char* sql, const std::string& id, const std::string& what);
  // References a push batch has already found held, by the query that found them: the records
  // of a batch name the same round, kit type and officer over and over, and nothing they name
  // is deleted while the batch's transaction runs.
  // By query, then ID: a look-up that finds an ID held copies nothing.
  using HeldRefs = std::map<const char*, std::set<std::string, std::less<>>>;
  core::Status RequireRef(const char* sql, const std::string& id, const std::string& what,
                          HeldRefs& held);
  // Quantities a push batch handed out, by post and kit type, added to handover_totals once
  // per batch. Every handover the server holds arrives through ApplyPush, which keeps the
  // totals equal to the sums over handovers.
  // Viewing the batch's records, which outlive it.
  using HandedOut = std::map<std::pair<std::string_view, std::string_view>, int64_t>;
  core::Status AddHandedOut(const HandedOut& handed);

  // What a push batch's handovers look up, read for the whole batch before any of its facts
  // is applied, one statement for all of them instead of two for each: the payloads of
  // handovers already held under the batch's IDs, and the document hashes of the families
  // the batch serves that the server held before it. A family registered in the same batch
  // is not among them and is looked up on its own; so is every handover of a batch that
  // holds one ID twice (`held_known` false).
  struct BatchLookups {
    bool held_known = false;
    std::unordered_map<std::string, std::string> held;        // handover ID -> payload
    std::unordered_map<std::string, std::string> doc_hashes;  // beneficiary ID -> hash
  };
  core::Status LookUpBatch(const std::vector<core::RemoteChange>& changes, size_t from,
                           BatchLookups& out);

  // A push batch's new handovers, checked, whose rows wait to be written after one feed entry
  // that names them all: a feed row with its index entry for each handover cost as much as the
  // handover's own row. Nothing a batch holds besides voids refers to a handover, so the run
  // is written before a void and at the end of the batch; the registrations its handovers
  // name are in the feed before it.
  struct PendingHandover {
    const core::Handover* handover = nullptr;
    bool clock_ahead = false;
    // The entitlement situation it touches (the family's, by document hash), in the batch's
    // set of touched situations, whose elements stay put while the batch is applied.
    const EntitlementSituation* situation = nullptr;
  };
  using HandoverRun = std::vector<PendingHandover>;
  // The handovers a push transaction wrote for situations that held none before it (the served
  // filter's certain "no"): every handover those situations now hold, by the situation's
  // element of the transaction's touched set.
  struct Gathered;
  using FirstKits = std::unordered_map<const EntitlementSituation*, Gathered>;
  // With `first_kits`, adds to it the run's handovers whose situation the filter says held none.
  core::Status WriteHandoverRun(HandoverRun& run, const std::string& origin_device,
                                FirstKits* first_kits = nullptr);
  // Rebuilds the served filter when another connection has written to the database since it
  // was built (PRAGMA data_version), or when it holds more situations than it was sized for.
  core::Status KeepServedFilterCurrent();
  core::Status InsertHandover(const core::Handover& h, bool clock_ahead, int64_t server_seq);

  // One pushed fact: checked against what the server holds and, when new, written with its
  // feed entry, or for a handover with `run`, added to it. Returns whether it was (or will
  // be) written (false: the same fact was already held). Adds the situations the fact may
  // change to `touched`, but a handover's stock situation: the caller adds one for each post
  // and kit type its handovers came from.
  core::Result<bool> ApplyFact(const core::RemoteChange& change, const core::LoggedForm& form,
                               bool clock_ahead, const Principal& device, Situations& touched,
                               HeldRefs& refs, const BatchLookups& lookups, HandoverRun* run);
  core::Status InsertMovement(const core::StockMovement& m, bool clock_ahead, int64_t server_seq);

  // Code -> ID of master data, with the known codes in the error.
  core::Result<std::string> IdByCode(const char* table, const char* noun, const std::string& code);
  core::Result<int64_t> Balance(const std::string& post_id, const std::string& kit_type_id);
  // Inside the caller's transaction; adds the stock situations it changes to `touched`.
  core::Result<std::vector<std::string>> RecordCentralMovementLocked(
      const CentralMovementInput& input, Situations& touched);

  // The server sequence the open write transaction's first feed entry gets: facts that entered
  // the feed from it on are the transaction's own. Read before the transaction appends anything.
  core::Result<int64_t> FirstNewSeq();

  // Conflicts (server_store_conflicts.cc): looks at each touched situation again and writes
  // what changed, in the caller's transaction. `first_new_seq` (FirstNewSeq) tells the facts
  // this transaction wrote from those whose served summaries were sent before it; with
  // `summarise_all`, no summary was ever sent (a database from before schema step 4).
  // `first_kits`: situations of `touched` whose handovers are all the transaction's own, known
  // without a read (WriteHandoverRun); what it holds is moved out.
  core::Status RefreshConflicts(const Situations& touched, int64_t now_ms, int64_t first_new_seq,
                                bool summarise_all = false, FirstKits* first_kits = nullptr);
  // Every situation the stored facts make, for the rules to look at all of them.
  core::Result<Situations> AllSituations();
  // The stored conflicts and served summaries brought in line with every fact, in one
  // transaction. After an upgrade, facts stored by an older server have never been seen by the
  // rules (or the summaries) that the upgrade brought. `summaries_sent`: the database comes
  // from a server that sent served summaries (schema step 4 on), so every fact it holds is
  // summarised already; otherwise none is, and every family's totals are sent.
  core::Status RefreshAllSituations(int64_t now_ms, bool summaries_sent);
  core::Status TouchHandover(const std::string& handover_id, Situations& touched);
  core::Result<std::optional<core::DetectedConflict>> DetectSituation(const Situation& situation,
                                                                      bool recount = false);
  core::Result<std::optional<core::DetectedConflict>> DetectDuplicate(const std::string& doc_hash);
  core::Result<std::optional<core::DetectedConflict>> DetectCorrections(
      const std::string& beneficiary_id);
  // Inserts a correction (device's or the centre's) with its feed entry and applies it to the
  // beneficiary's row. REQUIRES the beneficiary held at `u.post_id`.
  core::Status InsertCorrection(const core::BeneficiaryUpdate& u, const core::LoggedForm& form,
                                bool clock_ahead, const std::string& origin_device);
  // A correction made by the centre, ordered after every version of the beneficiary it holds.
  // FAILED_PRECONDITION for a beneficiary merged into another.
  core::Result<std::string> CorrectCentrally(const CentralCorrectionInput& in, Situations& touched);
  // Every correction of the beneficiary, with the IDs of those whose clock was ahead.
  core::Status GatherCorrections(const std::string& beneficiary_id,
                                 std::vector<core::BeneficiaryUpdate>& updates,
                                 std::vector<std::string>& clock_ahead);

  // Merges (server_store_merges.cc).
  // The beneficiary `beneficiary_id` stands merged into, if a merge retired it.
  core::Result<std::optional<std::string>> KeptIdOf(const std::string& beneficiary_id);
  // The "merge" decision on a duplicate-beneficiary conflict: every other registration of the
  // family is merged into `in.keep_beneficiary_id`; the merges, and the kept registration for
  // posts that did not hold it, go to the feed of every post concerned. Returns the merges' IDs.
  core::Result<std::vector<std::string>> MergeBeneficiaries(const ConflictRecord& conflict,
                                                            const ResolveInput& in,
                                                            Situations& touched);
  // Sends what a post's tablets need to serve the kept beneficiary (its registration and every
  // correction of it) to `post_id`'s channel.
  core::Status CopyKeptTo(const std::string& kept_id, const std::string& post_id);
  // Posts whose tablets hold a beneficiary merged into `kept_id`, other than `except_post_id`:
  // they also receive what changes the kept one.
  core::Result<std::vector<std::string>> PostsMergedInto(const std::string& kept_id,
                                                         const std::string& except_post_id);
  core::Result<std::optional<core::DetectedConflict>> DetectMergedCorrections(
      const std::string& beneficiary_id);
  // Most kits a round entitles a family to, by round and kit type (0: none), as read so far
  // by one call: a batch's families mostly share their round and kit type, and master data
  // does not change under the store's lock.
  // Keys view the situations' strings, which outlive the call.
  using EntitlementRules = std::map<std::pair<std::string_view, std::string_view>, int64_t>;
  // With `served` already gathered, no second read of the family's handovers.
  core::Result<std::optional<core::DetectedConflict>> DetectEntitlement(
      const EntitlementSituation& situation,
      std::optional<std::vector<core::ServedHandover>> served = std::nullopt,
      EntitlementRules* rules = nullptr);
  // Where a gathered handover, and the first void of it, entered the feed (0: not voided).
  struct ServedSeqs {
    int64_t handover = 0;
    int64_t first_void = 0;
  };
  // A served handover and its feed sequences from a row holding, from column `first` on:
  // h.id, h.beneficiary_id, h.post_id, h.device_id, h.hlc, h.wall_ms, h.quantity,
  // h.clock_ahead, h.override_reason, h.server_seq, and the first void's server_seq.
  static std::pair<core::ServedHandover, ServedSeqs> ServedFromRow(
      const core::sqlite::Statement& row, int first);
  // Every handover of the situation's kit type and round to the family, voided or not; with
  // `seqs`, also where each of them and its first void entered the feed, in the same order.
  core::Result<std::vector<core::ServedHandover>> GatherServed(
      const EntitlementSituation& s, std::vector<ServedSeqs>* seqs = nullptr);
  // The same for many situations at once, in one statement: a push batch touches one per
  // family it serves. Keyed by (document hash, round, kit type), viewing the situations'
  // own strings; a situation whose family holds no such handover has an empty entry.
  struct Gathered {
    std::vector<core::ServedHandover> served;
    std::vector<ServedSeqs> seqs;
  };
  using GatheredBySituation =
      std::map<std::tuple<std::string_view, std::string_view, std::string_view>, Gathered>;
  core::Result<GatheredBySituation> GatherServedAll(
      const std::vector<const EntitlementSituation*>& situations);
  // The served summaries a transaction sends, by post, each post's grouped by round and kit
  // type: written as a few feed entries once every situation was looked at.
  using ServedOutbox =
      std::map<std::string, std::map<std::pair<std::string, std::string>,
                                     std::vector<std::pair<std::string, int64_t>>>>;
  // Adds a new summary to `outbox` for each post whose total for the family changed in the
  // open transaction (facts from `first_new_seq` on).
  static core::Status RefreshServedSummaries(const EntitlementSituation& s,
                                             const std::vector<core::ServedHandover>& served,
                                             const std::vector<ServedSeqs>& seqs,
                                             int64_t first_new_seq, ServedOutbox& outbox);
  // Appends the outbox to the feed: one entry per post and up to kMaxServedPerEntry summaries,
  // on the post's served channel, for every other post's tablets.
  core::Status SendServedSummaries(const ServedOutbox& outbox, int64_t now_ms);
  // `recount`: sum the handovers themselves rather than read handover_totals, for a look at
  // the facts from scratch (RecomputeConflicts).
  core::Result<core::StockTotals> Totals(const std::string& post_id,
                                         const std::string& kit_type_id, bool recount = false);
  static std::string SituationKey(const Situation& situation);
  core::Result<ConflictRecord> ReadConflict(const std::string& id);
  core::Status AppendAudit(int64_t now_ms, const std::string& actor, const std::string& action,
                           const std::string& target, const std::string& detail);

  // The server's hybrid logical clock, for the records it makes itself. It absorbs the HLCs of
  // pushed changes within the allowed skew, so central records order after what it has seen.
  core::Hlc NextHlc(int64_t now_ms);
  void ObserveHlc(core::Hlc hlc);
  core::Status SaveHlc();
  // What an earlier request with the same ID wrote (server_store_requests.cc); nothing when the
  // ID is new or empty. INVALID_ARGUMENT when the ID came with a different request.
  core::Result<std::optional<std::vector<std::string>>> PriorOutcome(const RequestKey& request,
                                                                     std::string_view kind);
  core::Status RememberOutcome(const RequestKey& request, std::string_view kind,
                               const std::vector<std::string>& ids, int64_t now_ms);

  std::mutex mu_;
  std::unique_ptr<core::sqlite::Db> db_;
  // After db_: stopped, and its hook removed, before the connection closes.
  std::unique_ptr<ServerCheckpointer> checkpointer_;
  std::string server_device_id_;
  std::string programme_key_;
  core::Hlc hlc_;
  std::vector<FeedEpoch> feed_epochs_;
  ServedSituationFilter served_filter_;
  int64_t served_filter_version_ = -1;  // PRAGMA data_version it was built at; -1: never
};

// The feed's epochs, oldest first (server_store_epochs.cc).
core::Result<std::vector<FeedEpoch>> ReadFeedEpochs(core::sqlite::Db& db);
// Appends a new epoch, a random ID, beginning after `start_seq`. In the caller's transaction.
core::Result<FeedEpoch> AppendFeedEpoch(core::sqlite::Db& db, int64_t start_seq, int64_t now_ms);

// Meta settings (key -> blob).
core::Result<std::optional<std::string>> ReadServerMeta(core::sqlite::Db& db, const char* key);
core::Status WriteServerMeta(core::sqlite::Db& db, const char* key, std::string_view value);

}  // namespace kitsync::sync

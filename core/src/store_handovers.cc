// Beneficiaries and handovers: the facts an officer records at the post.
#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "store_impl.h"

namespace kitsync::core {
namespace {

// What a record alone cannot tell: the round's own rule, and the officer's override.
Status ValidateAgainstRound(const HandoverInput& in, const RoundInfo& round) {
  if (in.proof.kind == ProofKind::kNone && round.requires_proof) {
    return Status::InvalidArgument("round " + round.code +
                                   " requires proof of receipt (a signature, photo or voucher)");
  }
  return ValidateText("override reason", in.override_reason, kMaxReasonLength, false);
}

// The family history of every beneficiary ID in a JSON array, one row each, named by its array
// index (`key`). A family is its document hash: handovers here to any beneficiary registered
// with it count (a duplicate registration included), and what other posts reported as of the
// last pull. The registration is read once per ID. A single handover asks with an array of one;
// a bulk import with a run of its rows, so that a row costs the statement's lookups and not a
// statement of its own.
constexpr const char* kFamilyHistorySql =
    "SELECT j.key, m.kept_id, b.doc_hash, "
    "(SELECT coalesce(sum(h.quantity), 0) FROM beneficiaries f "
    "JOIN handovers h ON h.beneficiary_id = f.id "
    "WHERE f.doc_hash = b.doc_hash "
    "AND h.round_id = ?2 AND h.kit_type_id = ?3 AND NOT EXISTS "
    "(SELECT 1 FROM handover_voids v WHERE v.handover_id = h.id)), "
    "(SELECT coalesce(sum(s.quantity), 0) FROM served_elsewhere s "
    "WHERE s.doc_hash = b.doc_hash "
    "AND s.round_id = ?2 AND s.kit_type_id = ?3 AND s.post_id != ?4) "
    "FROM json_each(?1) j "
    "LEFT JOIN beneficiary_merges m ON m.retired_id = j.value "
    "LEFT JOIN beneficiaries b ON b.id = coalesce(m.kept_id, j.value)";

// Calls `each(index, history)` for every ID of `ids_json`. REQUIRES: an array of valid IDs.
template <typename Each>
Status ReadFamilyHistories(sqlite::Db& db, std::string_view ids_json, std::string_view round_id,
                           std::string_view kit_type_id, std::string_view post_id, Each&& each) {
  ASSIGN_OR_RETURN(auto* stmt, db.Cached(kFamilyHistorySql));
  // The views outlive every step: the statement is reset before this returns.
  stmt->BindView(1, ids_json).BindView(2, round_id).BindView(3, kit_type_id).BindView(4, post_id);
  Status status;
  while (status.ok()) {
    Result<bool> row = stmt->Step();
    if (!row.ok()) {
      status = row.status();
      break;
    }
    if (!*row) break;
    FamilyHistory history;
    if (!stmt->IsNull(1)) history.kept = stmt->Text(1);
    history.known = !stmt->IsNull(2);
    if (history.known) history.doc_hash = stmt->Text(2);
    history.received = stmt->Int(3);
    history.elsewhere = stmt->Int(4);
    status = each(stmt->Int(0), std::move(history));
  }
  stmt->Reset();
  return status;
}

// REQUIRES: `beneficiary_id` is a valid ID, so it needs no escaping in JSON.
Result<FamilyHistory> ReadHistory(sqlite::Db& db, const std::string& beneficiary_id,
                                  const std::string& round_id, const std::string& kit_type_id,
                                  const std::string& post_id) {
  const std::string ids_json = "[\"" + beneficiary_id + "\"]";
  FamilyHistory history;
  RETURN_IF_ERROR(ReadFamilyHistories(db, ids_json, round_id, kit_type_id, post_id,
                                      [&](int64_t, FamilyHistory h) {
                                        history = std::move(h);
                                        return Status::Ok();
                                      }));
  return history;
}

Beneficiary ReadBeneficiary(const sqlite::Statement& s) {
  Beneficiary b;
  b.id = s.Text(0);
  b.doc_hash = s.Text(1);
  b.full_name = s.Text(2);
  b.phone = s.Text(3);
  b.household_size = s.Int(4);
  b.post_id = s.Text(5);
  b.device_id = s.Text(6);
  b.hlc = Hlc::Unpack(static_cast<uint64_t>(s.Int(7)));
  return b;
}

constexpr const char* kBeneficiaryColumns =
    "SELECT id, doc_hash, full_name, phone, household_size, post_id, device_id, hlc "
    "FROM beneficiaries b WHERE doc_hash = ? ORDER BY EXISTS (SELECT 1 FROM beneficiary_merges m "
    "WHERE m.retired_id = b.id), hlc LIMIT 1";

}  // namespace

Result<Beneficiary> Store::FindBeneficiaryByDocument(const std::string& doc_number) {
  RETURN_IF_ERROR(ValidateText("document number", doc_number, kMaxCodeLength * 2, true));
  const std::string hash = DocumentHash(impl_->programme_key(), doc_number);
  ASSIGN_OR_RETURN(auto* stmt, impl_->db().Cached(kBeneficiaryColumns));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, hash).Step());
  if (!row) return Status::NotFound("no beneficiary with that document number on this tablet");
  Beneficiary b = ReadBeneficiary(*stmt);
  stmt->Reset();
  return b;
}

Result<Beneficiary> Store::RegisterBeneficiary(const BeneficiaryInput& in) {
  RETURN_IF_ERROR(ValidateText("document number", in.doc_number, kMaxCodeLength * 2, true));
  if (NormalizeDocumentNumber(in.doc_number).size() < 4) {
    return Status::InvalidArgument("document number '" + in.doc_number +
                                   "' is too short (at least 4 letters or digits)");
  }
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  auto existing = FindBeneficiaryByDocument(in.doc_number);
  if (existing.ok()) {
    return Status::AlreadyExists("this document is already registered on this tablet as "
                                 "beneficiary " + existing->id + " (" + existing->full_name + ")");
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  ASSIGN_OR_RETURN(std::string post_id, impl_->OwnPostId());
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  Beneficiary b;
  b.id = NewUuidV7();
  b.doc_hash = DocumentHash(impl_->programme_key(), in.doc_number);
  b.full_name = in.full_name;
  b.phone = in.phone;
  b.household_size = in.household_size;
  b.post_id = post_id;
  b.device_id = impl_->identity().device_id;
  b.hlc = impl_->NextHlc(tip);
  RETURN_IF_ERROR(ValidateBeneficiaryRecord(b));
  RETURN_IF_ERROR(impl_->InsertBeneficiary(b));
  RETURN_IF_ERROR(impl_->Append(tip, b.hlc, "beneficiary", b.id, EncodeBeneficiary(b),
                                /*store_payload=*/true));
  RETURN_IF_ERROR(tx->Commit());
  return b;
}

Result<const RoundInfo*> Store::Impl::ResolveRound(const std::string& code,
                                                   HandoverContext& ctx) {
  auto it = ctx.rounds.find(code);
  if (it == ctx.rounds.end()) {
    ASSIGN_OR_RETURN(RoundInfo round, Round(code));
    it = ctx.rounds.emplace(code, std::move(round)).first;
  }
  return &it->second;
}

Result<const std::string*> Store::Impl::ResolveKitTypeId(const std::string& code,
                                                         HandoverContext& ctx) {
  auto it = ctx.kit_types.find(code);
  if (it == ctx.kit_types.end()) {
    ASSIGN_OR_RETURN(std::string id, KitTypeId(code));
    it = ctx.kit_types.emplace(code, std::move(id)).first;
  }
  return &it->second;
}

Result<Store::Impl::PreparedHandover> Store::Impl::PrepareHandover(const HandoverInput& in,
                                                                    HandoverContext& ctx,
                                                                    const FamilyHistory* known) {
  PreparedHandover out;
  RETURN_IF_ERROR(PrepareHandoverInto(in, ctx, known, out));
  return out;
}

Status Store::Impl::PrepareHandoverInto(const HandoverInput& in, HandoverContext& ctx,
                                        const FamilyHistory* known, PreparedHandover& out) {
  ASSIGN_OR_RETURN(const RoundInfo* round_info, ResolveRound(in.round_code, ctx));
  const RoundInfo& round = *round_info;
  ASSIGN_OR_RETURN(const std::string* kit_type_id_ptr, ResolveKitTypeId(in.kit_type_code, ctx));
  const std::string& kit_type_id = *kit_type_id_ptr;
  auto officer_it = ctx.officers.find(in.officer_code);
  if (officer_it == ctx.officers.end()) {
    ASSIGN_OR_RETURN(OfficerInfo officer, Officer(in.officer_code));
    officer_it = ctx.officers.emplace(in.officer_code, std::move(officer)).first;
  }
  const OfficerInfo& officer = officer_it->second;
  if (ctx.post_id.empty()) {
    ASSIGN_OR_RETURN(ctx.post_id, OwnPostId());
  }
  const std::string& post_id = ctx.post_id;
  RETURN_IF_ERROR(ValidateAgainstRound(in, round));
  RETURN_IF_ERROR(ValidateId("beneficiary ID", in.beneficiary_id));
  if (officer.post_id != post_id) {
    return Status::PermissionDenied("officer " + in.officer_code + " is not posted at " +
                                    identity_.post_code);
  }
  auto entitled = round.max_per_kit_type.find(kit_type_id);
  if (entitled == round.max_per_kit_type.end()) {
    return Status::InvalidArgument("kit type " + in.kit_type_code +
                                   " is not distributed in round " + round.code);
  }
  // Every field is set, or cleared when this handover has none of it: `out` may hold the
  // previous row of an import.
  out.warnings.clear();
  out.merged_from.clear();
  Handover& h = out.handover;
  h.id.clear();
  h.hlc = {};
  h.wall_ms = 0;
  h.override_reason.clear();
  h.overridden_warnings.clear();
  h.round_id = round.id;
  h.beneficiary_id = in.beneficiary_id;
  h.kit_type_id = kit_type_id;
  h.quantity = in.quantity;
  h.post_id = post_id;
  h.officer_id = officer.id;
  h.device_id = identity_.device_id;
  h.proof_kind = in.proof.kind;
  h.proof_ref = in.proof.ref;
  h.collected_by = in.collected_by;
  h.proxy_relation = in.proxy_relation;
  h.consent = in.consent;
  RETURN_IF_ERROR(ValidateHandoverContent(h));

  // Rows written earlier in this transaction are visible to this query; a history read ahead
  // counts them itself (ImportLookahead).
  FamilyHistory read;
  if (!known) {
    ASSIGN_OR_RETURN(read, ReadHistory(*db_, in.beneficiary_id, round.id, kit_type_id, post_id));
  }
  const FamilyHistory& history = known ? *known : read;
  // A family the office merged is served under the registration it kept: the officer may still
  // hold the retired ID (on a card, in a list), and the kit must count for the family once.
  if (history.kept) {
    out.merged_from = in.beneficiary_id;
    h.beneficiary_id = *history.kept;
  }
  if (!history.known && history.kept) {
    return Status::NotFound("beneficiary " + in.beneficiary_id + " was merged into " +
                            *history.kept + " by the central office, and this tablet does not hold " +
                            *history.kept + " yet; sync, then record the handover again");
  }
  if (!history.known) {
    return Status::NotFound("no beneficiary " + in.beneficiary_id +
                            " on this tablet; register the beneficiary first");
  }

  auto balance_it = ctx.balances.find(kit_type_id);
  if (balance_it == ctx.balances.end()) {
    ASSIGN_OR_RETURN(int64_t balance, Balance(post_id, kit_type_id));
    balance_it = ctx.balances.emplace(kit_type_id, balance).first;
  }
  const int64_t balance = balance_it->second;
  if (in.quantity > balance) {
    out.warnings.push_back(
        {"stock-exceeded", "the post's stock of " + in.kit_type_code + " is " +
                               std::to_string(balance) + ", fewer than the " +
                               std::to_string(in.quantity) + " being handed out"});
  }
  const int64_t received = history.received + history.elsewhere;
  if (received + in.quantity > entitled->second) {
    out.warnings.push_back(
        {"entitlement-exceeded",
         "this beneficiary already received " + std::to_string(received) + " " +
             in.kit_type_code + " in round " + round.code + " (entitled to " +
             std::to_string(entitled->second) + ")" +
             (history.elsewhere > 0 ? "; " + std::to_string(history.elsewhere) +
                                          " of them at other posts, as of the last sync"
                                    : "")});
  }

  if (!out.warnings.empty()) {
    h.override_reason = in.override_reason;
    for (const Warning& w : out.warnings) h.overridden_warnings.push_back(w.code);
  }
  return Status::Ok();
}

Result<std::vector<Warning>> Store::CheckHandover(const HandoverInput& input) {
  Impl::HandoverContext ctx;
  ASSIGN_OR_RETURN(auto prepared, impl_->PrepareHandover(input, ctx));
  return prepared.warnings;
}

namespace {

Status NeedsOverride(const std::vector<Warning>& warnings) {
  std::string message = "this handover needs an officer's override: ";
  for (size_t i = 0; i < warnings.size(); ++i) {
    message += (i ? "; " : "") + warnings[i].message;
  }
  message += ". If the kit has already left, record it again with a reason.";
  return Status::FailedPrecondition(message);
}

}  // namespace

// The family histories of a run of an import's rows, read before any row of the run is
// written: one statement per round and kit type in the run instead of one per row. A history
// must count the import's earlier rows for the same family as the ledger would once they are
// written. Rows before the run are in the ledger already; rows earlier in the run are added
// here. That holds because an import stops at its first refused row: by the time a row is
// checked, every row before it was written, with its own quantity, for its family.
class Store::Impl::ImportLookahead {
 public:
  // Long enough that a statement's start and finish cost nothing per row, short enough that
  // the histories held stay small whatever the import's size.
  static constexpr size_t kRun = 512;

  bool Covers(size_t row) const { return row >= first_ && row < first_ + histories_.size(); }
  // nullptr when the row was not read ahead; it is then refused before its history is needed,
  // or reads it alone.
  const FamilyHistory* Find(size_t row) const {
    if (!Covers(row) || !histories_[row - first_]) return nullptr;
    return &*histories_[row - first_];
  }

  // Reads the histories of the run starting at `first`.
  Status Read(Impl& impl, const std::vector<HandoverInput>& inputs, size_t first,
              HandoverContext& ctx) {
    first_ = first;
    histories_.assign(std::min(kRun, inputs.size() - first), std::nullopt);
    // A row whose round, kit type or post cannot be resolved is refused, and the import with
    // it, so the run need not look past it; its error is left for the row to report.
    if (ctx.post_id.empty()) {
      auto post_id = impl.OwnPostId();
      if (!post_id.ok()) return Status::Ok();
      ctx.post_id = *std::move(post_id);
    }
    std::vector<Group> groups;
    for (size_t row = 0; row < histories_.size(); ++row) {
      const HandoverInput& in = inputs[first + row];
      auto round = impl.ResolveRound(in.round_code, ctx);
      if (!round.ok()) break;
      auto kit_type_id = impl.ResolveKitTypeId(in.kit_type_code, ctx);
      if (!kit_type_id.ok()) break;
      // Refused before its history is read; an ID also needs no escaping in JSON.
      if (!IsValidUuid(in.beneficiary_id)) continue;
      GroupOf(groups, **round, **kit_type_id).Add(row, in.beneficiary_id);
    }
    for (Group& group : groups) {
      RETURN_IF_ERROR(ReadGroup(impl.db(), group, ctx.post_id));
      CountEarlierRowsOfTheRun(group, inputs);
    }
    return Status::Ok();
  }

 private:
  // The run's rows of one round and kit type, and their beneficiary IDs as a JSON array.
  struct Group {
    const RoundInfo* round;
    const std::string* kit_type_id;
    std::vector<size_t> rows;
    std::string ids_json;

    void Add(size_t row, const std::string& beneficiary_id) {
      ids_json += rows.empty() ? "[\"" : ",\"";
      ids_json += beneficiary_id;
      ids_json += '"';
      rows.push_back(row);
    }
  };

  static Group& GroupOf(std::vector<Group>& groups, const RoundInfo& round,
                        const std::string& kit_type_id) {
    // By value: the earlier rows a history counts are those of its round and kit type.
    for (Group& g : groups) {
      if (g.round->id == round.id && *g.kit_type_id == kit_type_id) return g;
    }
    return groups.emplace_back(Group{&round, &kit_type_id, {}, {}});
  }

  Status ReadGroup(sqlite::Db& db, Group& group, const std::string& post_id) {
    group.ids_json += ']';
    return ReadFamilyHistories(
        db, group.ids_json, group.round->id, *group.kit_type_id, post_id,
        [&](int64_t index, FamilyHistory history) {
          if (index < 0 || static_cast<size_t>(index) >= group.rows.size()) {
            return Status::Internal("a family history came back for no row of the import");
          }
          histories_[group.rows[static_cast<size_t>(index)]] = std::move(history);
          return Status::Ok();
        });
  }

  // What the ledger will hold for each family by the time each row is checked: the quantities
  // of the run's earlier rows for the same family, round and kit type.
  void CountEarlierRowsOfTheRun(const Group& group, const std::vector<HandoverInput>& inputs) {
    std::unordered_map<std::string_view, int64_t> earlier;  // doc_hash -> quantity
    for (size_t row : group.rows) {
      std::optional<FamilyHistory>& history = histories_[row];
      if (!history || !history->known) continue;  // refused, and the import with it
      const int64_t quantity = inputs[first_ + row].quantity;
      int64_t& family = earlier[history->doc_hash];
      history->received += family;
      // A quantity out of bounds is refused with its row; it must not overflow the sum.
      if (quantity >= 1 && quantity <= kMaxQuantity) family += quantity;
    }
  }

  size_t first_ = 0;
  std::vector<std::optional<FamilyHistory>> histories_;
};

Result<HandoverReceipt> Store::RecordHandover(const HandoverInput& input) {
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  Impl::HandoverContext ctx;
  ASSIGN_OR_RETURN(auto prepared, impl_->PrepareHandover(input, ctx));
  if (!prepared.warnings.empty() && input.override_reason.empty()) {
    return NeedsOverride(prepared.warnings);
  }
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  Handover& h = prepared.handover;
  h.id = NewUuidV7();
  h.hlc = impl_->NextHlc(tip);
  h.wall_ms = impl_->clock().WallMs();
  RETURN_IF_ERROR(impl_->InsertHandover(h));
  RETURN_IF_ERROR(impl_->Append(tip, h.hlc, "handover", h.id, EncodeHandover(h),
                                /*store_payload=*/false));
  RETURN_IF_ERROR(tx->Commit());
  impl_->CommittedHandedOut(h.post_id, h.kit_type_id, h.quantity);
  return HandoverReceipt{std::move(h), std::move(prepared.warnings),
                         std::move(prepared.merged_from)};
}

Result<int64_t> Store::ImportHandovers(const std::vector<HandoverInput>& inputs) {
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  Impl::HandoverContext ctx;
  std::map<std::string, int64_t> added;  // kit_type_id -> quantity, counted once committed
  Impl::ImportLookahead lookahead;
  // One handover filled row after row, so that its strings keep their storage.
  Impl::PreparedHandover prepared;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const HandoverInput& input = inputs[i];
    if (!lookahead.Covers(i)) RETURN_IF_ERROR(lookahead.Read(*impl_, inputs, i, ctx));
    Status status = impl_->PrepareHandoverInto(input, ctx, lookahead.Find(i), prepared);
    if (!status.ok()) {
      return Status(status.code(), "handover " + std::to_string(i + 1) + " of " +
                                       std::to_string(inputs.size()) + ": " + status.message());
    }
    if (!prepared.warnings.empty() && input.override_reason.empty()) {
      Status s = NeedsOverride(prepared.warnings);
      return Status(s.code(), "handover " + std::to_string(i + 1) + ": " + s.message());
    }
    Handover& h = prepared.handover;
    h.id = NewUuidV7();
    h.hlc = impl_->NextHlc(tip);
    h.wall_ms = impl_->clock().WallMs();
    RETURN_IF_ERROR(impl_->InsertHandover(h));
    RETURN_IF_ERROR(impl_->Append(tip, h.hlc, "handover", h.id, EncodeHandover(h),
                                /*store_payload=*/false));
    ctx.balances[h.kit_type_id] -= h.quantity;
    added[h.kit_type_id] += h.quantity;
  }
  RETURN_IF_ERROR(tx->Commit());
  for (const auto& [kit_type_id, quantity] : added) {
    impl_->CommittedHandedOut(ctx.post_id, kit_type_id, quantity);
  }
  return static_cast<int64_t>(inputs.size());
}

Result<HandoverVoid> Store::VoidHandover(const VoidInput& in) {
  RETURN_IF_ERROR(ValidateId("handover ID", in.handover_id));
  RETURN_IF_ERROR(ValidateText("reason for voiding", in.reason, kMaxReasonLength, true));
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(OfficerInfo officer, impl_->Officer(in.officer_code));
  ASSIGN_OR_RETURN(std::string post_id, impl_->OwnPostId());
  if (officer.post_id != post_id) {
    return Status::PermissionDenied("officer " + in.officer_code + " is not posted at " +
                                    impl_->identity().post_code);
  }
  ASSIGN_OR_RETURN(auto* find, db.Cached("SELECT post_id, kit_type_id, quantity FROM handovers "
                                         "WHERE id = ?"));
  ASSIGN_OR_RETURN(bool found, find->Bind(1, in.handover_id).Step());
  if (!found) return Status::NotFound("no handover " + in.handover_id + " on this tablet");
  const std::string handover_post = find->Text(0);
  const std::string kit_type_id = find->Text(1);
  const int64_t quantity = find->Int(2);
  find->Reset();
  if (handover_post != post_id) {
    return Status::PermissionDenied("handover " + in.handover_id +
                                    " was recorded at another post and can be voided only there");
  }
  ASSIGN_OR_RETURN(auto* voided, db.Cached("SELECT reason FROM handover_voids WHERE "
                                           "handover_id = ?"));
  ASSIGN_OR_RETURN(bool already, voided->Bind(1, in.handover_id).Step());
  if (already) {
    std::string reason = voided->Text(0);
    voided->Reset();
    return Status::FailedPrecondition("handover " + in.handover_id +
                                      " is already voided (reason: " + reason + ")");
  }
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  HandoverVoid v;
  v.handover_id = in.handover_id;
  v.reason = in.reason;
  v.officer_id = officer.id;
  v.device_id = impl_->identity().device_id;
  v.hlc = impl_->NextHlc(tip);
  v.wall_ms = impl_->clock().WallMs();
  RETURN_IF_ERROR(impl_->InsertVoid(v));
  RETURN_IF_ERROR(impl_->Append(tip, v.hlc, "handover_void", v.handover_id,
                                EncodeHandoverVoid(v), /*store_payload=*/false));
  RETURN_IF_ERROR(tx->Commit());
  impl_->CommittedHandedOut(handover_post, kit_type_id, -quantity);
  return v;
}

Result<std::vector<HandoverView>> Store::ListHandovers(const HandoverFilter& f) {
  std::optional<std::string> round_id, kit_type_id;
  if (!f.round_code.empty()) {
    ASSIGN_OR_RETURN(RoundInfo r, impl_->Round(f.round_code));
    round_id = r.id;
  }
  if (!f.kit_type_code.empty()) {
    ASSIGN_OR_RETURN(kit_type_id, impl_->KitTypeId(f.kit_type_code));
  }
  if (!f.beneficiary_id.empty()) RETURN_IF_ERROR(ValidateId("beneficiary ID", f.beneficiary_id));
  if (f.limit < 1) return Status::InvalidArgument("limit must be at least 1");

  ASSIGN_OR_RETURN(
      auto* stmt,
      impl_->db().Cached(
          "SELECT " KITSYNC_HANDOVER_COLUMNS ", r.code, k.code, o.code, "
          "v.reason, v.officer_id, v.device_id, v.hlc, v.wall_ms, m.kept_id "
          "FROM handovers h "
          "LEFT JOIN rounds r ON r.id = h.round_id "
          "LEFT JOIN kit_types k ON k.id = h.kit_type_id "
          "LEFT JOIN officers o ON o.id = h.officer_id "
          "LEFT JOIN beneficiary_merges m ON m.retired_id = h.beneficiary_id "
          // The first void when two tablets voided the same handover.
          "LEFT JOIN handover_voids v ON v.handover_id = h.id AND v.device_id = "
          "(SELECT w.device_id FROM handover_voids w WHERE w.handover_id = h.id "
          "ORDER BY w.hlc, w.device_id LIMIT 1) "
          "WHERE (?1 IS NULL OR h.round_id = ?1) AND (?2 IS NULL OR h.kit_type_id = ?2) "
          "AND (?3 IS NULL OR h.beneficiary_id = ?3 OR m.kept_id = ?3) "
          "AND (?4 IS NULL OR h.wall_ms >= ?4) "
          "AND (?5 IS NULL OR h.wall_ms < ?5) AND (?6 OR v.handover_id IS NULL) "
          "ORDER BY h.hlc LIMIT ?7"));
  if (round_id) stmt->Bind(1, *round_id);
  if (kit_type_id) stmt->Bind(2, *kit_type_id);
  // A family's handovers, whichever of its registrations they were recorded for: a retired ID
  // stands for the beneficiary it was merged into.
  if (!f.beneficiary_id.empty()) {
    ASSIGN_OR_RETURN(std::optional<std::string> kept, impl_->KeptIdOf(f.beneficiary_id));
    stmt->Bind(3, kept.value_or(f.beneficiary_id));
  }
  stmt->BindOptional(4, f.since_wall_ms).BindOptional(5, f.until_wall_ms);
  stmt->Bind(6, int64_t{f.include_voided}).Bind(7, f.limit);

  std::vector<HandoverView> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    HandoverView view;
    view.handover = ReadHandoverColumns(*stmt, 0);
    const Handover& h = view.handover;
    view.round_code = stmt->Text(17);
    view.kit_type_code = stmt->Text(18);
    view.officer_code = stmt->Text(19);
    if (!stmt->IsNull(20)) {
      view.void_record = HandoverVoid{h.id,          stmt->Text(20), stmt->Text(21),
                                      stmt->Text(22), Hlc::Unpack(static_cast<uint64_t>(stmt->Int(23))),
                                      stmt->Int(24)};
    }
    if (!stmt->IsNull(25)) view.merged_into = stmt->Text(25);
    out.push_back(std::move(view));
  }
  stmt->Reset();
  return out;
}

}  // namespace kitsync::core

// Conflicts: gathering the facts of a situation for core's rules, keeping one row per situation
// up to date in the transaction that changed its facts, and an admin's decisions on them.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "server_master_codec.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::ConflictKind;
using core::ConflictStatus;
using core::DetectedConflict;
using core::Result;
using core::Status;
using core::sqlite::Statement;
using core::sqlite::Transaction;
using nlohmann::json;

std::string N(int64_t v) { return std::to_string(v); }

json SidesToJson(const std::vector<core::ConflictSide>& sides) {
  json out = json::array();
  for (const core::ConflictSide& s : sides) {
    out.push_back({{"entity", s.entity},
                   {"entity_id", s.entity_id},
                   {"post_id", s.post_id},
                   {"device_id", s.device_id},
                   {"hlc", s.hlc.Pack()},
                   {"wall_ms", s.wall_ms},
                   {"quantity", s.quantity},
                   {"clock_ahead", s.clock_ahead},
                   {"detail", s.detail}});
  }
  return out;
}

std::vector<core::ConflictSide> SidesFromJson(const std::string& text) {
  std::vector<core::ConflictSide> out;
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_array()) return out;
  for (const json& s : doc) {
    core::ConflictSide side;
    side.entity = s.value("entity", "");
    side.entity_id = s.value("entity_id", "");
    side.post_id = s.value("post_id", "");
    side.device_id = s.value("device_id", "");
    side.hlc = core::Hlc::Unpack(s.value("hlc", uint64_t{0}));
    side.wall_ms = s.value("wall_ms", int64_t{0});
    side.quantity = s.value("quantity", int64_t{0});
    side.clock_ahead = s.value("clock_ahead", false);
    side.detail = s.value("detail", "");
    out.push_back(std::move(side));
  }
  return out;
}

std::string PostIdsJson(const DetectedConflict& c) {
  std::set<std::string> posts;
  for (const core::ConflictSide& s : c.sides) posts.insert(s.post_id);
  return json(posts).dump();
}

// Which actions fit which kind of conflict.
bool ActionFits(ConflictKind kind, const std::string& action) {
  switch (kind) {
    case ConflictKind::kEntitlementExceeded: return action == "justify" || action == "void";
    case ConflictKind::kDuplicateBeneficiary: return action == "keep-both" || action == "merge";
    case ConflictKind::kStockDeficit: return action == "receipt" || action == "adjustment";
    case ConflictKind::kConcurrentUpdate: return action == "pick" || action == "set";
    case ConflictKind::kUpdateVsVoid: return action == "confirm" || action == "restore";
  }
  return false;
}

std::string ActionsFor(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::kEntitlementExceeded: return "justify, void";
    case ConflictKind::kDuplicateBeneficiary: return "keep-both, merge";
    case ConflictKind::kStockDeficit: return "receipt, adjustment";
    case ConflictKind::kConcurrentUpdate: return "pick, set";
    case ConflictKind::kUpdateVsVoid: return "confirm, restore";
  }
  return "";
}

ConflictRecord ReadConflictRow(const Statement& row) {
  ConflictRecord r;
  r.id = row.Text(0);
  r.conflict.key = row.Text(1);
  r.conflict.kind = core::ParseConflictKind(row.Text(2)).value_or(ConflictKind::kStockDeficit);
  const std::string severity = row.Text(3);
  r.conflict.severity = severity == "high"  ? core::Severity::kHigh
                        : severity == "low" ? core::Severity::kLow
                                            : core::Severity::kMedium;
  r.status = core::ParseConflictStatus(row.Text(4)).value_or(ConflictStatus::kOpen);
  r.conflict.summary = row.Text(5);
  r.conflict.provisional = row.Text(6);
  r.conflict.sides = SidesFromJson(row.Text(7));
  const json posts = json::parse(row.Text(8), nullptr, false);
  if (posts.is_array()) {
    for (const json& p : posts) {
      if (p.is_string()) r.post_ids.push_back(p.get<std::string>());
    }
  }
  r.conflict.clock_ahead = row.Int(9) != 0;
  r.detected_ms = row.Int(10);
  r.updated_ms = row.Int(11);
  r.resolution = row.Text(12);
  r.resolved_by = row.Text(13);
  if (!row.IsNull(14)) r.resolved_ms = row.Int(14);
  r.note = row.Text(15);
  return r;
}

}  // namespace

// --- gathering the facts of one situation

std::pair<core::ServedHandover, SqliteServerStore::ServedSeqs> SqliteServerStore::ServedFromRow(
    const Statement& row, int first) {
  core::ServedHandover h;
  h.handover_id = row.Text(first);
  h.beneficiary_id = row.Text(first + 1);
  h.post_id = row.Text(first + 2);
  h.device_id = row.Text(first + 3);
  h.hlc = core::Hlc::Unpack(static_cast<uint64_t>(row.Int(first + 4)));
  h.wall_ms = row.Int(first + 5);
  h.quantity = row.Int(first + 6);
  h.clock_ahead = row.Int(first + 7) != 0;
  h.override_reason = row.Text(first + 8);
  h.voided = !row.IsNull(first + 10);
  const ServedSeqs seqs{row.Int(first + 9), h.voided ? row.Int(first + 10) : 0};
  return {std::move(h), seqs};
}

Result<std::optional<DetectedConflict>> SqliteServerStore::DetectDuplicate(
    const std::string& doc_hash) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT id, post_id, device_id, hlc, clock_ahead FROM beneficiaries "
                               "WHERE doc_hash = ?"));
  stmt->Bind(1, doc_hash);
  std::vector<core::Registration> registered;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    registered.push_back({stmt->Text(0), stmt->Text(1), stmt->Text(2),
                          core::Hlc::Unpack(static_cast<uint64_t>(stmt->Int(3))),
                          stmt->Int(4) != 0});
  }
  stmt->Reset();
  return core::DetectDuplicateBeneficiary(doc_hash, std::move(registered));
}

Result<std::optional<DetectedConflict>> SqliteServerStore::DetectEntitlement(
    const EntitlementSituation& s, std::optional<std::vector<core::ServedHandover>> served,
    EntitlementRules* rules) {
  const std::pair<std::string_view, std::string_view> rule_key{s.round_id, s.kit_type_id};
  auto known = rules ? rules->find(rule_key) : EntitlementRules::iterator();
  int64_t max = 0;
  if (rules && known != rules->end()) {
    max = known->second;
  } else {
    ASSIGN_OR_RETURN(Statement * allowed,
                     db_->Cached("SELECT max_per_beneficiary FROM round_entitlements "
                                 "WHERE round_id = ? AND kit_type_id = ?"));
    ASSIGN_OR_RETURN(bool has_rule, allowed->Bind(1, s.round_id).Bind(2, s.kit_type_id).Step());
    max = has_rule ? allowed->Int(0) : 0;
    allowed->Reset();
    if (rules) rules->emplace(rule_key, max);
  }
  // A kit type the round does not entitle anyone to is refused at the tablet; nothing to count.
  // (The schema refuses a rule of 0 or fewer: 0 stands for no rule.)
  if (max == 0) return std::optional<DetectedConflict>();
  if (!served) {
    ASSIGN_OR_RETURN(served, GatherServed(s));
  }
  return core::DetectEntitlementExceeded(s.doc_hash, s.round_id, s.kit_type_id, max,
                                         std::move(*served));
}

Result<std::vector<core::ServedHandover>> SqliteServerStore::GatherServed(
    const EntitlementSituation& s, std::vector<ServedSeqs>* seqs) {
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT h.id, h.beneficiary_id, h.post_id, h.device_id, h.hlc, h.wall_ms, "
                  "h.quantity, h.clock_ahead, h.override_reason, h.server_seq, "
                  "(SELECT min(v.server_seq) FROM handover_voids v WHERE v.handover_id = h.id) "
                  "FROM beneficiaries b JOIN handovers h ON h.beneficiary_id = b.id "
                  "AND h.round_id = ? AND h.kit_type_id = ? WHERE b.doc_hash = ?"));
  stmt->BindView(1, s.round_id).BindView(2, s.kit_type_id).BindView(3, s.doc_hash);
  std::vector<core::ServedHandover> served;
  if (seqs) seqs->clear();
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    auto [h, seq] = ServedFromRow(*stmt, 0);
    if (seqs) seqs->push_back(seq);
    served.push_back(std::move(h));
  }
  stmt->Reset();
  return served;
}

Result<SqliteServerStore::GatheredBySituation> SqliteServerStore::GatherServedAll(
    const std::vector<const EntitlementSituation*>& situations) {
  GatheredBySituation out;
  std::vector<std::string_view> families;
  families.reserve(situations.size());
  for (const EntitlementSituation* s : situations) {
    out.try_emplace({s->doc_hash, s->round_id, s->kit_type_id});
    families.push_back(s->doc_hash);
  }
  std::sort(families.begin(), families.end());
  families.erase(std::unique(families.begin(), families.end()), families.end());
  // Document hashes are lower-case hex: nothing in them needs escaping.
  std::string list = "[";
  for (size_t i = 0; i < families.size(); ++i) {
    if (i) list += ',';
    list += '"';
    list += families[i];
    list += '"';
  }
  list += ']';
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT b.doc_hash, h.round_id, h.kit_type_id, h.id, h.beneficiary_id, "
                  "h.post_id, h.device_id, h.hlc, h.wall_ms, h.quantity, h.clock_ahead, "
                  "h.override_reason, h.server_seq, "
                  "(SELECT min(v.server_seq) FROM handover_voids v WHERE v.handover_id = h.id) "
                  "FROM json_each(?1) j CROSS JOIN beneficiaries b ON b.doc_hash = j.value "
                  "CROSS JOIN handovers h ON h.beneficiary_id = b.id"));
  stmt->BindView(1, list);
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    // The family's handovers of other rounds and kit types are not asked for.
    auto it = out.find({stmt->TextView(0), stmt->TextView(1), stmt->TextView(2)});
    if (it == out.end()) continue;
    auto [h, seq] = ServedFromRow(*stmt, 3);
    it->second.seqs.push_back(seq);
    it->second.served.push_back(std::move(h));
  }
  stmt->Reset();
  return out;
}

Status SqliteServerStore::RefreshServedSummaries(const EntitlementSituation& s,
                                                 const std::vector<core::ServedHandover>& served,
                                                 const std::vector<ServedSeqs>& seqs,
                                                 int64_t first_new_seq, ServedOutbox& outbox) {
  // Every transaction that changes a post's total for a family (a handover, a void) refreshes
  // the family's situation in that same transaction, and sends the total whenever it differs
  // from the one sent before. So the last total sent for a post is its total as of this
  // transaction's start, and a post that had served the family by then has had one sent.
  // Both are read off the facts: what entered the feed before `first_new_seq` was there.
  struct PostTotals {
    int64_t now = 0;
    int64_t before = 0;
    bool served_before = false;
  };
  std::map<std::string_view, PostTotals> per_post;  // in post ID order, as the feed gets them
  for (size_t i = 0; i < served.size(); ++i) {
    const core::ServedHandover& h = served[i];
    PostTotals& t = per_post[h.post_id];
    if (!h.voided) t.now += h.quantity;
    if (seqs[i].handover < first_new_seq) {
      t.served_before = true;
      const bool voided_before = seqs[i].first_void != 0 && seqs[i].first_void < first_new_seq;
      if (!voided_before) t.before += h.quantity;
    }
  }
  for (const auto& [post_id, t] : per_post) {
    if (t.served_before && t.before == t.now) continue;  // sent already
    const core::ServedSummary summary{s.doc_hash, s.round_id, s.kit_type_id,
                                      std::string(post_id), t.now};
    RETURN_IF_ERROR(core::ValidateServedSummary(summary));
    outbox[summary.post_id][{s.round_id, s.kit_type_id}].emplace_back(s.doc_hash, t.now);
  }
  return Status::Ok();
}

Status SqliteServerStore::SendServedSummaries(const ServedOutbox& outbox, int64_t now_ms) {
  // A pull page holds whole entries: bounded, so that one entry (after an upgrade, every
  // family's totals) never makes a page too large to send.
  constexpr size_t kMaxServedPerEntry = 500;
  std::vector<core::ServedSummary> entry;
  auto send = [&]() -> Status {
    if (entry.empty()) return Status::Ok();
    const core::LoggedForm form{kServedSummariesEntity, std::to_string(entry.size()),
                                EncodeServedSummaries(entry)};
    RETURN_IF_ERROR(AppendFeed(kServedChannelPrefix + entry.front().post_id, form,
                               NextHlc(now_ms), server_device_id_)
                        .status());
    entry.clear();
    return Status::Ok();
  };
  for (const auto& [post_id, groups] : outbox) {
    for (const auto& [round_and_kit, totals] : groups) {
      for (const auto& [doc_hash, quantity] : totals) {
        entry.push_back(
            {doc_hash, round_and_kit.first, round_and_kit.second, post_id, quantity});
        if (entry.size() == kMaxServedPerEntry) RETURN_IF_ERROR(send());
      }
    }
    RETURN_IF_ERROR(send());
  }
  return Status::Ok();
}

Result<core::StockTotals> SqliteServerStore::Totals(const std::string& post_id,
                                                    const std::string& kit_type_id, bool recount) {
  core::StockTotals t;
  ASSIGN_OR_RETURN(Statement * moved,
                   db_->Cached("SELECT kind, sum(quantity) FROM stock_movements "
                               "WHERE post_id = ? AND kit_type_id = ? GROUP BY kind"));
  moved->Bind(1, post_id).Bind(2, kit_type_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, moved->Step());
    if (!row) break;
    const auto kind = core::ParseMovementKind(moved->Text(0));
    const int64_t sum = moved->Int(1);
    if (!kind) continue;
    switch (*kind) {
      case core::MovementKind::kReceipt:
      case core::MovementKind::kTransferIn: t.received += sum; break;
      case core::MovementKind::kTransferOut: t.transferred += sum; break;
      case core::MovementKind::kAdjustment: t.adjusted += sum; break;
      case core::MovementKind::kCount: break;
    }
  }
  moved->Reset();
  // All handovers from the running sum a trigger keeps (schema step 6), minus the few voided
  // ones: summing the handovers themselves grew with the post's history, batch after batch.
  ASSIGN_OR_RETURN(Statement * handed,
                   db_->Cached(recount ? "SELECT coalesce(sum(quantity), 0) FROM handovers "
                                         "WHERE post_id = ? AND kit_type_id = ?"
                                       : "SELECT coalesce(sum(quantity), 0) FROM handover_totals "
                                         "WHERE post_id = ? AND kit_type_id = ?"));
  ASSIGN_OR_RETURN(bool row, handed->Bind(1, post_id).Bind(2, kit_type_id).Step());
  t.handed_out = row ? handed->Int(0) : 0;
  handed->Reset();
  ASSIGN_OR_RETURN(Statement * voided,
                   db_->Cached("SELECT coalesce(sum(h.quantity), 0) FROM handovers h "
                               "WHERE h.id IN (SELECT handover_id FROM handover_voids "
                               "WHERE post_id = ?) AND h.kit_type_id = ?"));
  ASSIGN_OR_RETURN(row, voided->Bind(1, post_id).Bind(2, kit_type_id).Step());
  t.handed_out -= row ? voided->Int(0) : 0;
  voided->Reset();
  return t;
}

Result<std::optional<DetectedConflict>> SqliteServerStore::DetectCorrections(
    const std::string& beneficiary_id) {
  ASSIGN_OR_RETURN(Statement * reg,
                   db_->Cached("SELECT f.payload FROM beneficiaries b JOIN feed f "
                               "ON f.server_seq = b.server_seq WHERE b.id = ?"));
  ASSIGN_OR_RETURN(bool row, reg->Bind(1, beneficiary_id).Step());
  if (!row) return Status::Internal("corrections of a beneficiary the server does not hold");
  auto registered = core::DecodeBeneficiary(reg->Text(0));
  reg->Reset();
  if (!registered.ok()) return registered.status();
  std::vector<core::BeneficiaryUpdate> updates;
  std::vector<std::string> ahead;
  RETURN_IF_ERROR(GatherCorrections(beneficiary_id, updates, ahead));
  return core::DetectConcurrentUpdate(*registered, std::move(updates), ahead);
}

Status SqliteServerStore::GatherCorrections(const std::string& beneficiary_id,
                                            std::vector<core::BeneficiaryUpdate>& updates,
                                            std::vector<std::string>& ahead) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT f.payload, u.clock_ahead, u.id FROM beneficiary_updates u "
                               "JOIN feed f ON f.server_seq = u.server_seq "
                               "WHERE u.beneficiary_id = ?"));
  stmt->Bind(1, beneficiary_id);
  while (true) {
    ASSIGN_OR_RETURN(bool more, stmt->Step());
    if (!more) break;
    auto u = core::DecodeBeneficiaryUpdate(stmt->Text(0));
    if (!u.ok()) {
      stmt->Reset();
      return u.status();
    }
    if (stmt->Int(1) != 0) ahead.push_back(stmt->Text(2));
    updates.push_back(std::move(*u));
  }
  stmt->Reset();
  return Status::Ok();
}

Status SqliteServerStore::InsertCorrection(const core::BeneficiaryUpdate& u,
                                           const core::LoggedForm& form, bool clock_ahead,
                                           const std::string& origin_device) {
  ASSIGN_OR_RETURN(int64_t seq, AppendFeed(u.post_id, form, u.hlc, origin_device));
  ASSIGN_OR_RETURN(Statement * insert,
                   db_->Cached("INSERT INTO beneficiary_updates (id, beneficiary_id, post_id, "
                               "device_id, hlc, clock_ahead, server_seq) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(insert->Bind(1, u.id)
                      .Bind(2, u.beneficiary_id)
                      .Bind(3, u.post_id)
                      .Bind(4, u.device_id)
                      .Bind(5, static_cast<int64_t>(u.hlc.Pack()))
                      .Bind(6, int64_t{clock_ahead})
                      .Bind(7, seq)
                      .Run());
  // Posts whose registration of the family was merged into this beneficiary serve it too.
  ASSIGN_OR_RETURN(std::vector<std::string> also, PostsMergedInto(u.beneficiary_id, u.post_id));
  for (const std::string& post_id : also) {
    RETURN_IF_ERROR(AppendFeed(post_id, form, u.hlc, origin_device).status());
  }
  return core::ApplyCorrectionToRow(*db_, u);
}

Result<std::string> SqliteServerStore::CorrectCentrally(const CentralCorrectionInput& in,
                                                         Situations& touched) {
  RETURN_IF_ERROR(core::ValidateId("beneficiary ID", in.beneficiary_id));
  ASSIGN_OR_RETURN(Statement * row,
                   db_->Cached("SELECT post_id, max(hlc, name_version, phone_version, "
                               "household_version) FROM beneficiaries WHERE id = ?"));
  ASSIGN_OR_RETURN(bool found, row->Bind(1, in.beneficiary_id).Step());
  if (!found) return Status::NotFound("no beneficiary " + in.beneficiary_id);
  core::BeneficiaryUpdate u;
  u.post_id = row->Text(0);
  u.base_hlc = core::Hlc::Unpack(static_cast<uint64_t>(row->Int(1)));
  row->Reset();
  ASSIGN_OR_RETURN(std::optional<std::string> kept, KeptIdOf(in.beneficiary_id));
  if (kept) {
    return Status::FailedPrecondition("beneficiary " + in.beneficiary_id + " was merged into " +
                                      *kept + "; correct " + *kept + " instead");
  }
  u.id = core::NewUuidV7();
  u.beneficiary_id = in.beneficiary_id;
  u.full_name = in.full_name;
  u.phone = in.phone;
  u.household_size = in.household_size;
  ASSIGN_OR_RETURN(u.officer_id, IdByCode("officers", "officer", in.officer_code));
  u.device_id = server_device_id_;
  // After every version held, even one stamped by a clock far ahead that the server's own clock
  // did not absorb: the centre's decision must stand on every replica.
  const core::Hlc after_base = u.base_hlc.logical == core::Hlc::kMaxLogical
                                   ? core::Hlc{u.base_hlc.physical_ms + 1, 0}
                                   : core::Hlc{u.base_hlc.physical_ms, u.base_hlc.logical + 1};
  u.hlc = std::max(NextHlc(in.now_ms), after_base);
  u.wall_ms = in.now_ms;
  RETURN_IF_ERROR(core::ValidateBeneficiaryUpdateRecord(u));
  ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(u));
  RETURN_IF_ERROR(InsertCorrection(u, form, /*clock_ahead=*/false, server_device_id_));
  touched.insert(CorrectionSituation{u.beneficiary_id});
  return u.id;
}

Result<std::string> SqliteServerStore::CorrectBeneficiary(const CentralCorrectionInput& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto prior, PriorOutcome(in.request, "correction"));
  if (prior) {
    if (prior->size() != 1) return Status::Internal("a remembered correction has no single ID");
    return prior->front();
  }
  ASSIGN_OR_RETURN(const int64_t first_new_seq, FirstNewSeq());
  Situations touched;
  ASSIGN_OR_RETURN(std::string id, CorrectCentrally(in, touched));
  RETURN_IF_ERROR(RememberOutcome(in.request, "correction", {id}, in.now_ms));
  RETURN_IF_ERROR(RefreshConflicts(touched, in.now_ms, first_new_seq));
  std::string detail = "correction=" + id;
  if (in.full_name) detail += " name=" + *in.full_name;
  if (in.phone) detail += " phone=" + *in.phone;
  if (in.household_size) detail += " household=" + N(*in.household_size);
  RETURN_IF_ERROR(AppendAudit(in.now_ms, in.actor, "correct-beneficiary", in.beneficiary_id, detail));
  RETURN_IF_ERROR(SaveHlc());
  RETURN_IF_ERROR(tx->Commit());
  return id;
}

Result<std::optional<DetectedConflict>> SqliteServerStore::DetectSituation(
    const Situation& situation, bool recount) {
  if (auto* doc_hash = std::get_if<DuplicateSituation>(&situation)) {
    return DetectDuplicate(doc_hash->doc_hash);
  }
  if (auto* e = std::get_if<EntitlementSituation>(&situation)) return DetectEntitlement(*e);
  if (auto* c = std::get_if<CorrectionSituation>(&situation)) {
    return DetectCorrections(c->beneficiary_id);
  }
  if (auto* m = std::get_if<MergedSituation>(&situation)) {
    return DetectMergedCorrections(m->beneficiary_id);
  }
  const auto& stock = std::get<StockSituation>(situation);
  ASSIGN_OR_RETURN(core::StockTotals totals, Totals(stock.post_id, stock.kit_type_id, recount));
  return core::DetectStockDeficit(stock.post_id, stock.kit_type_id, totals);
}

std::string SqliteServerStore::SituationKey(const Situation& situation) {
  // The same keys core's detectors give, so a situation that holds nothing can still be found.
  if (auto* d = std::get_if<DuplicateSituation>(&situation)) {
    return "duplicate-beneficiary/" + d->doc_hash;
  }
  if (auto* e = std::get_if<EntitlementSituation>(&situation)) {
    return "entitlement-exceeded/" + e->doc_hash + "/" + e->round_id + "/" + e->kit_type_id;
  }
  if (auto* c = std::get_if<CorrectionSituation>(&situation)) {
    return "concurrent-update/" + c->beneficiary_id;
  }
  if (auto* m = std::get_if<MergedSituation>(&situation)) {
    return "update-vs-void/" + m->beneficiary_id;
  }
  const auto& s = std::get<StockSituation>(situation);
  return "stock-deficit/" + s.post_id + "/" + s.kit_type_id;
}

// --- keeping the stored conflicts up to date

Result<int64_t> SqliteServerStore::FirstNewSeq() {
  ASSIGN_OR_RETURN(int64_t head, db_->QueryInt("SELECT coalesce(max(server_seq), 0) FROM feed"));
  return head + 1;
}

Status SqliteServerStore::RefreshConflicts(const Situations& touched, int64_t now_ms,
                                           int64_t first_new_seq, bool summarise_all,
                                           FirstKits* first_kits) {
  EntitlementRules rules;
  // The first kits' situations are known whole without a read.
  auto first_kits_of = [&](const EntitlementSituation& e) -> Gathered* {
    if (!first_kits) return nullptr;
    auto it = first_kits->find(&e);
    return it == first_kits->end() ? nullptr : &it->second;
  };
  // The other families' handovers in one read, for as many situations as a push batch can
  // touch; beyond that (every situation, after an upgrade) one read per situation.
  constexpr size_t kMaxGatheredAtOnce = 2000;
  std::vector<const EntitlementSituation*> entitlements;
  for (const Situation& situation : touched) {
    auto* e = std::get_if<EntitlementSituation>(&situation);
    if (e && !first_kits_of(*e)) entitlements.push_back(e);
  }
  GatheredBySituation gathered;
  if (entitlements.size() > 1 && entitlements.size() <= kMaxGatheredAtOnce) {
    ASSIGN_OR_RETURN(gathered, GatherServedAll(entitlements));
  }
  std::vector<ServedSeqs> seqs;
  ServedOutbox outbox;
  for (const Situation& situation : touched) {
    // A family's totals per post changed where its entitlement situation was touched: tablets
    // everywhere hear of it, conflict or not.
    std::optional<DetectedConflict> detected;
    if (auto* e = std::get_if<EntitlementSituation>(&situation)) {
      std::vector<core::ServedHandover> served;
      auto found = gathered.find({e->doc_hash, e->round_id, e->kit_type_id});
      if (Gathered* first = first_kits_of(*e)) {
        served = std::move(first->served);
        seqs = std::move(first->seqs);
      } else if (found != gathered.end()) {
        served = std::move(found->second.served);
        seqs = std::move(found->second.seqs);
      } else {
        ASSIGN_OR_RETURN(served, GatherServed(*e, &seqs));
      }
      RETURN_IF_ERROR(RefreshServedSummaries(*e, served, seqs,
                                             summarise_all ? 0 : first_new_seq, outbox));
      ASSIGN_OR_RETURN(detected, DetectEntitlement(*e, std::move(served), &rules));
      // Handovers are never deleted, and a conflict is stored only for a situation whose
      // handovers were looked at: when every handover of the situation is this transaction's
      // own (a family's first kit, the usual case), none is stored for it. With none detected
      // now there is nothing to read or write.
      const bool first_look =
          std::all_of(seqs.begin(), seqs.end(),
                      [&](const ServedSeqs& s) { return s.handover >= first_new_seq; });
      if (!detected && first_look) continue;
    } else {
      ASSIGN_OR_RETURN(detected, DetectSituation(situation));
    }
    const std::string key = SituationKey(situation);
    if (detected && detected->key != key) {
      return Status::Internal("conflict key mismatch: " + detected->key + " vs " + key);
    }
    ASSIGN_OR_RETURN(
        Statement * find,
        db_->Cached("SELECT id, situation, kind, severity, status, summary, provisional, sides, "
                    "post_ids, clock_ahead, detected_ms, updated_ms, resolution, resolved_by, "
                    "resolved_ms, note, fingerprint FROM conflicts WHERE situation = ?"));
    ASSIGN_OR_RETURN(bool held, find->BindView(1, key).Step());
    std::optional<core::StoredConflictState> stored;
    if (held) {
      // Read whole only while open and unchanged in its sides: then whether it still reads the
      // same decides whether it is rewritten.
      const auto status = core::ParseConflictStatus(find->Text(4)).value_or(ConflictStatus::kOpen);
      stored = core::StoredConflictState{status, find->Text(16), std::nullopt};
      if (status == ConflictStatus::kOpen && detected &&
          detected->Fingerprint() == stored->fingerprint) {
        ConflictRecord row = ReadConflictRow(*find);
        row.conflict.key = key;
        stored->written = std::move(row.conflict);
      }
    }
    find->Reset();
    switch (core::NextConflictUpdate(stored, detected)) {
      case core::ConflictUpdate::kNone:
        break;
      case core::ConflictUpdate::kInsert: {
        ASSIGN_OR_RETURN(Statement * insert,
                         db_->Cached("INSERT INTO conflicts (id, situation, kind, severity, status, "
                                     "summary, provisional, sides, fingerprint, post_ids, "
                                     "clock_ahead, detected_ms, updated_ms) "
                                     "VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)"));
        RETURN_IF_ERROR(insert->Bind(1, core::NewUuidV7())
                            .Bind(2, key)
                            .Bind(3, core::ToString(detected->kind))
                            .Bind(4, core::ToString(detected->severity))
                            .Bind(5, detected->summary)
                            .Bind(6, detected->provisional)
                            .Bind(7, SidesToJson(detected->sides).dump())
                            .Bind(8, detected->Fingerprint())
                            .Bind(9, PostIdsJson(*detected))
                            .Bind(10, int64_t{detected->clock_ahead})
                            .Bind(11, now_ms)
                            .Bind(12, now_ms)
                            .Run());
        break;
      }
      case core::ConflictUpdate::kRefresh:
      case core::ConflictUpdate::kReopen: {
        ASSIGN_OR_RETURN(Statement * update,
                         db_->Cached("UPDATE conflicts SET status = 'open', severity = ?, "
                                     "summary = ?, provisional = ?, sides = ?, fingerprint = ?, "
                                     "post_ids = ?, clock_ahead = ?, updated_ms = ? "
                                     "WHERE situation = ?"));
        RETURN_IF_ERROR(update->Bind(1, core::ToString(detected->severity))
                            .Bind(2, detected->summary)
                            .Bind(3, detected->provisional)
                            .Bind(4, SidesToJson(detected->sides).dump())
                            .Bind(5, detected->Fingerprint())
                            .Bind(6, PostIdsJson(*detected))
                            .Bind(7, int64_t{detected->clock_ahead})
                            .Bind(8, now_ms)
                            .Bind(9, key)
                            .Run());
        break;
      }
      case core::ConflictUpdate::kClear: {
        ASSIGN_OR_RETURN(Statement * clear,
                         db_->Cached("UPDATE conflicts SET status = 'cleared', updated_ms = ? "
                                     "WHERE situation = ?"));
        RETURN_IF_ERROR(clear->Bind(1, now_ms).Bind(2, key).Run());
        break;
      }
    }
  }
  return SendServedSummaries(outbox, now_ms);
}

Status SqliteServerStore::TouchHandover(const std::string& handover_id, Situations& touched) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT b.doc_hash, h.round_id, h.kit_type_id, h.post_id "
                               "FROM handovers h JOIN beneficiaries b ON b.id = h.beneficiary_id "
                               "WHERE h.id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, handover_id).Step());
  if (row) {
    touched.insert(EntitlementSituation{stmt->Text(0), stmt->Text(1), stmt->Text(2)});
    touched.insert(StockSituation{stmt->Text(3), stmt->Text(2)});
  }
  stmt->Reset();
  return Status::Ok();
}

Status SqliteServerStore::AppendAudit(int64_t now_ms, const std::string& actor,
                                      const std::string& action, const std::string& target,
                                      const std::string& detail) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("INSERT INTO audit_log (at_ms, actor, action, target, detail) "
                               "VALUES (?, ?, ?, ?, ?)"));
  return stmt->Bind(1, now_ms).Bind(2, actor).Bind(3, action).Bind(4, target).Bind(5, detail).Run();
}

// --- the admin's view

Result<std::vector<ConflictRecord>> SqliteServerStore::ListConflicts(const ConflictFilter& filter) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT id, situation, kind, severity, status, summary, provisional, sides, "
                  "post_ids, clock_ahead, detected_ms, updated_ms, resolution, resolved_by, "
                  "resolved_ms, note FROM conflicts "
                  "WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR status = ?2) "
                  "ORDER BY updated_ms DESC, id DESC"));
  if (filter.kind) {
    stmt->Bind(1, core::ToString(*filter.kind));
  } else {
    stmt->BindNull(1);
  }
  if (filter.status) {
    stmt->Bind(2, core::ToString(*filter.status));
  } else {
    stmt->BindNull(2);
  }
  std::vector<ConflictRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ConflictRecord r = ReadConflictRow(*stmt);
    if (!filter.post_id.empty() &&
        std::find(r.post_ids.begin(), r.post_ids.end(), filter.post_id) == r.post_ids.end()) {
      continue;
    }
    out.push_back(std::move(r));
  }
  stmt->Reset();
  return out;
}

Result<ConflictRecord> SqliteServerStore::ReadConflict(const std::string& id) {
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT id, situation, kind, severity, status, summary, provisional, sides, "
                  "post_ids, clock_ahead, detected_ms, updated_ms, resolution, resolved_by, "
                  "resolved_ms, note FROM conflicts WHERE id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
  if (!row) return Status::NotFound("no conflict " + id);
  ConflictRecord r = ReadConflictRow(*stmt);
  stmt->Reset();
  return r;
}

Result<ConflictRecord> SqliteServerStore::GetConflict(const std::string& id) {
  std::lock_guard lock(mu_);
  return ReadConflict(id);
}

Result<Situations> SqliteServerStore::AllSituations() {
  Situations all;
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT DISTINCT doc_hash FROM beneficiaries"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.insert(DuplicateSituation{s->Text(0)});
    }
  }
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT DISTINCT b.doc_hash, h.round_id, h.kit_type_id "
                                          "FROM handovers h JOIN beneficiaries b "
                                          "ON b.id = h.beneficiary_id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.insert(EntitlementSituation{s->Text(0), s->Text(1), s->Text(2)});
    }
  }
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT post_id, kit_type_id FROM handovers UNION "
                                          "SELECT post_id, kit_type_id FROM stock_movements"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.insert(StockSituation{s->Text(0), s->Text(1)});
    }
  }
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT DISTINCT beneficiary_id FROM beneficiary_updates"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.insert(CorrectionSituation{s->Text(0)});
    }
  }
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT DISTINCT retired_id FROM beneficiary_merges"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.insert(MergedSituation{s->Text(0)});
    }
  }
  return all;
}

Result<std::vector<DetectedConflict>> SqliteServerStore::RecomputeConflicts() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(Situations all, AllSituations());
  std::vector<DetectedConflict> out;
  for (const Situation& situation : all) {
    // From the facts alone: stock from the handovers, not the running sum the pushes keep, so
    // that comparing this with the stored conflicts also checks that sum.
    ASSIGN_OR_RETURN(std::optional<DetectedConflict> c,
                     DetectSituation(situation, /*recount=*/true));
    if (c) out.push_back(std::move(*c));
  }
  std::sort(out.begin(), out.end(),
            [](const DetectedConflict& a, const DetectedConflict& b) { return a.key < b.key; });
  return out;  // read only: the transaction rolls back
}

Status SqliteServerStore::RefreshAllSituations(int64_t now_ms, bool summaries_sent) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(const int64_t first_new_seq, FirstNewSeq());
  ASSIGN_OR_RETURN(Situations all, AllSituations());
  // Without summaries sent, each post's total for each family goes out.
  RETURN_IF_ERROR(RefreshConflicts(all, now_ms, first_new_seq, /*summarise_all=*/!summaries_sent));
  RETURN_IF_ERROR(SaveHlc());
  return tx->Commit();
}

Result<std::vector<AuditEntry>> SqliteServerStore::ListAudit(int64_t after_seq, int64_t limit) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT seq, at_ms, actor, action, target, detail FROM audit_log "
                               "WHERE seq > ? ORDER BY seq LIMIT ?"));
  stmt->Bind(1, after_seq).Bind(2, limit);
  std::vector<AuditEntry> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back({stmt->Int(0), stmt->Int(1), stmt->Text(2), stmt->Text(3), stmt->Text(4),
                   stmt->Text(5)});
  }
  stmt->Reset();
  return out;
}

// --- decisions

Result<ResolveOutcome> SqliteServerStore::ResolveConflict(const ResolveInput& in) {
  RETURN_IF_ERROR(core::ValidateText("who decides (--by)", in.actor, core::kMaxNameLength, true));
  RETURN_IF_ERROR(core::ValidateText("note", in.note, core::kMaxReasonLength, false));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(auto prior, PriorOutcome(in.request, "resolve-conflict"));
  if (prior) {
    // The decision was taken: the conflict as it stands now, and what the decision wrote.
    ResolveOutcome again;
    ASSIGN_OR_RETURN(again.conflict, ReadConflict(in.conflict_id));
    again.record_ids = std::move(*prior);
    return again;
  }
  ASSIGN_OR_RETURN(const int64_t first_new_seq, FirstNewSeq());
  ASSIGN_OR_RETURN(ConflictRecord current, ReadConflict(in.conflict_id));
  const ConflictKind kind = current.conflict.kind;
  if (!ActionFits(kind, in.action)) {
    return Status::InvalidArgument("'" + in.action + "' does not resolve a " +
                                   std::string(core::ToString(kind)) + " conflict; use one of: " +
                                   ActionsFor(kind));
  }
  if (current.status != ConflictStatus::kOpen) {
    return Status::FailedPrecondition(
        "conflict " + in.conflict_id + " is " + std::string(core::ToString(current.status)) +
        (current.resolved_by.empty() ? "" : " (by " + current.resolved_by + ")") +
        "; only an open conflict is resolved");
  }

  ResolveOutcome out;
  Situations touched;
  std::string detail = "action=" + in.action;
  if (in.action == "justify" || in.action == "keep-both" || in.action == "confirm") {
    if (in.note.empty()) {
      return Status::InvalidArgument("say why in a note: the decision is kept for audit");
    }
  } else if (in.action == "merge") {
    if (in.note.empty()) {
      return Status::InvalidArgument("say why in a note: the decision is kept for audit");
    }
    ASSIGN_OR_RETURN(out.record_ids, MergeBeneficiaries(current, in, touched));
    detail += " keep=" + in.keep_beneficiary_id + " merges=";
    for (size_t i = 0; i < out.record_ids.size(); ++i) {
      detail += (i ? "," : "") + out.record_ids[i];
    }
  } else if (in.action == "restore") {
    // The correction (one of the sides) whose values the kept beneficiary takes.
    std::vector<std::string> corrections;
    for (const core::ConflictSide& s : current.conflict.sides) {
      if (s.entity == "correction") corrections.push_back(s.entity_id);
    }
    std::string chosen = in.correction_id;
    if (chosen.empty() && corrections.size() == 1) chosen = corrections.front();
    if (chosen.empty()) {
      return Status::InvalidArgument("this conflict holds several corrections; say which one to "
                                     "restore (--correction)");
    }
    if (std::find(corrections.begin(), corrections.end(), chosen) == corrections.end()) {
      return Status::InvalidArgument("correction '" + chosen +
                                     "' is not one of this conflict's corrections");
    }
    ASSIGN_OR_RETURN(auto payload,
                     QueryText("SELECT f.payload FROM beneficiary_updates u JOIN feed f "
                               "ON f.server_seq = u.server_seq WHERE u.id = ?",
                               chosen));
    if (!payload) return Status::Internal("a conflict names a correction the server lost");
    ASSIGN_OR_RETURN(core::BeneficiaryUpdate restored, core::DecodeBeneficiaryUpdate(*payload));
    ASSIGN_OR_RETURN(std::optional<std::string> kept, KeptIdOf(restored.beneficiary_id));
    if (!kept) return Status::Internal("an update-vs-void conflict names no standing merge");
    CentralCorrectionInput c;
    c.beneficiary_id = *kept;
    c.full_name = restored.full_name;
    c.phone = restored.phone;
    c.household_size = restored.household_size;
    c.officer_code = in.officer_code;
    c.actor = in.actor;
    c.now_ms = in.now_ms;
    ASSIGN_OR_RETURN(std::string id, CorrectCentrally(c, touched));
    out.record_ids.push_back(id);
    detail += " restored=" + chosen + " onto=" + *kept + " correction=" + id;
  } else if (in.action == "void") {
    const auto& sides = current.conflict.sides;
    auto side = std::find_if(sides.begin(), sides.end(), [&](const core::ConflictSide& s) {
      return s.entity == "handover" && s.entity_id == in.handover_id;
    });
    if (side == sides.end()) {
      return Status::InvalidArgument("handover '" + in.handover_id +
                                     "' is not one of this conflict's handovers");
    }
    if (in.note.empty()) return Status::InvalidArgument("a void needs a reason (--note)");
    core::HandoverVoid v;
    v.handover_id = in.handover_id;
    v.reason = in.note;
    ASSIGN_OR_RETURN(v.officer_id, IdByCode("officers", "officer", in.officer_code));
    v.device_id = server_device_id_;
    v.hlc = NextHlc(in.now_ms);
    v.wall_ms = in.now_ms;
    RETURN_IF_ERROR(core::ValidateVoidRecord(v));
    ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(v));
    ASSIGN_OR_RETURN(int64_t seq, AppendFeed(side->post_id, form, v.hlc, server_device_id_));
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO handover_voids (handover_id, device_id, post_id, "
                                 "reason, officer_id, hlc, wall_ms, clock_ahead, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"));
    RETURN_IF_ERROR(stmt->Bind(1, v.handover_id)
                        .Bind(2, v.device_id)
                        .Bind(3, side->post_id)
                        .Bind(4, v.reason)
                        .Bind(5, v.officer_id)
                        .Bind(6, static_cast<int64_t>(v.hlc.Pack()))
                        .Bind(7, v.wall_ms)
                        .Bind(8, seq)
                        .Run());
    RETURN_IF_ERROR(TouchHandover(v.handover_id, touched));
    out.record_ids.push_back(v.handover_id);
    detail += " handover=" + v.handover_id;
  } else if (in.action == "pick" || in.action == "set") {
    // The beneficiary is the first side (its base version).
    CentralCorrectionInput c;
    c.beneficiary_id = current.conflict.sides.at(0).entity_id;
    c.officer_code = in.officer_code;
    c.actor = in.actor;
    c.now_ms = in.now_ms;
    if (in.action == "pick") {
      const auto& sides = current.conflict.sides;
      auto side = std::find_if(sides.begin(), sides.end(), [&](const core::ConflictSide& s) {
        return s.entity == "correction" && s.entity_id == in.correction_id;
      });
      if (side == sides.end()) {
        return Status::InvalidArgument("correction '" + in.correction_id +
                                       "' is not one of this conflict's corrections");
      }
      ASSIGN_OR_RETURN(auto payload,
                       QueryText("SELECT f.payload FROM beneficiary_updates u JOIN feed f "
                                 "ON f.server_seq = u.server_seq WHERE u.id = ?",
                                 in.correction_id));
      if (!payload) return Status::Internal("a conflict names a correction the server lost");
      ASSIGN_OR_RETURN(core::BeneficiaryUpdate picked, core::DecodeBeneficiaryUpdate(*payload));
      c.full_name = picked.full_name;
      c.phone = picked.phone;
      c.household_size = picked.household_size;
      detail += " picked=" + in.correction_id;
    } else {
      if (!in.full_name && !in.phone && !in.household_size) {
        return Status::InvalidArgument("'set' needs the values to keep: a name, phone or "
                                       "household size");
      }
      c.full_name = in.full_name;
      c.phone = in.phone;
      c.household_size = in.household_size;
    }
    ASSIGN_OR_RETURN(std::string id, CorrectCentrally(c, touched));
    out.record_ids.push_back(id);
    detail += " correction=" + id;
  } else {  // receipt or adjustment at the post that ran short
    const core::ConflictSide& stock = current.conflict.sides.at(0);
    const std::string kit_type_id = stock.entity_id.substr(stock.entity_id.find('/') + 1);
    ASSIGN_OR_RETURN(auto post_code, QueryText("SELECT code FROM posts WHERE id = ?", stock.post_id));
    ASSIGN_OR_RETURN(auto kit_code, QueryText("SELECT code FROM kit_types WHERE id = ?", kit_type_id));
    if (!post_code || !kit_code) return Status::Internal("conflict names unknown post or kit type");
    CentralMovementInput m;
    m.kind = in.action == "receipt" ? core::MovementKind::kReceipt : core::MovementKind::kAdjustment;
    m.kit_type_code = *kit_code;
    m.post_code = *post_code;
    m.quantity = in.quantity;
    m.reference = in.reference;
    m.reason = in.note;
    m.officer_code = in.officer_code;
    m.now_ms = in.now_ms;
    ASSIGN_OR_RETURN(out.record_ids, RecordCentralMovementLocked(m, touched));
    detail += " quantity=" + N(in.quantity) + " movement=" + out.record_ids.front();
  }

  ASSIGN_OR_RETURN(Statement * resolve,
                   db_->Cached("UPDATE conflicts SET status = 'resolved', resolution = ?, "
                               "resolved_by = ?, resolved_ms = ?, note = ?, updated_ms = ? "
                               "WHERE id = ?"));
  RETURN_IF_ERROR(resolve->Bind(1, in.action)
                      .Bind(2, in.actor)
                      .Bind(3, in.now_ms)
                      .Bind(4, in.note)
                      .Bind(5, in.now_ms)
                      .Bind(6, in.conflict_id)
                      .Run());
  // What the decision wrote may settle the situation or, short of it, reopen it with new figures.
  RETURN_IF_ERROR(RefreshConflicts(touched, in.now_ms, first_new_seq));
  // The decision itself, to the tablets of every post it concerns.
  core::ConflictResolution decision;
  decision.conflict_id = in.conflict_id;
  decision.kind = std::string(core::ToString(kind));
  decision.action = in.action;
  for (const core::ConflictSide& side : current.conflict.sides) {
    if (side.entity != "stock") decision.subject_ids.push_back(side.entity_id);
  }
  decision.note = in.note;
  decision.decided_by = in.actor;
  decision.hlc = NextHlc(in.now_ms);
  decision.wall_ms = in.now_ms;
  for (const std::string& post_id : current.post_ids) {
    decision.post_id = post_id;
    RETURN_IF_ERROR(core::ValidateResolution(decision));
    ASSIGN_OR_RETURN(core::LoggedForm form, FeedForm(decision));
    RETURN_IF_ERROR(AppendFeed(post_id, form, decision.hlc, server_device_id_).status());
  }
  if (!in.note.empty()) detail += " note=" + in.note;
  RETURN_IF_ERROR(AppendAudit(in.now_ms, in.actor, "resolve-conflict", in.conflict_id, detail));
  RETURN_IF_ERROR(RememberOutcome(in.request, "resolve-conflict", out.record_ids, in.now_ms));
  RETURN_IF_ERROR(SaveHlc());
  ASSIGN_OR_RETURN(out.conflict, ReadConflict(in.conflict_id));
  RETURN_IF_ERROR(tx->Commit());
  return out;
}

}  // namespace kitsync::sync

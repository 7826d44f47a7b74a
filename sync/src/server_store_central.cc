// What the centre writes itself: master data, and stock it receives, dispatches or adjusts. Such
// records carry the server's device ID and an HLC from the server's clock, and reach tablets
// through the feed like any other change.
#include <set>

#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "server_master_codec.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using core::sqlite::Statement;
using core::sqlite::Transaction;

// A UNIQUE violation on a code: the centre sent a record claiming another record's code.
Status ExplainCodeClash(Status s, const std::string& noun, const std::string& code) {
  if (s.code() == core::Code::kAlreadyExists) {
    return Status::AlreadyExists(noun + " code " + code + " already belongs to another " + noun);
  }
  return s;
}

}  // namespace

Result<int64_t> SqliteServerStore::LoadMasterData(const core::MasterData& data, int64_t now_ms) {
  RETURN_IF_ERROR(core::ValidateMasterData(data));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  int64_t changed = 0;
  // Appends the record's new version to the master channel unless it is the version held.
  auto changed_version = [&](const core::Record& record, const char* held_sql,
                             int64_t* seq) -> Result<bool> {
    ASSIGN_OR_RETURN(core::LoggedForm form, FeedForm(record));
    ASSIGN_OR_RETURN(auto held, QueryText(held_sql, form.entity_id));
    if (held && *held == form.payload) return false;
    ASSIGN_OR_RETURN(*seq, AppendFeed(kMasterChannel, form, NextHlc(now_ms), server_device_id_));
    ++changed;
    return true;
  };

  for (const core::KitType& k : data.kit_types) {
    int64_t seq = 0;
    ASSIGN_OR_RETURN(bool write, changed_version(k,
                                                 "SELECT f.payload FROM kit_types t JOIN feed f "
                                                 "ON f.server_seq = t.server_seq WHERE t.id = ?",
                                                 &seq));
    if (!write) continue;
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO kit_types (id, code, name, unit, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                 "code = excluded.code, name = excluded.name, "
                                 "unit = excluded.unit, server_seq = excluded.server_seq"));
    RETURN_IF_ERROR(ExplainCodeClash(
        stmt->Bind(1, k.id).Bind(2, k.code).Bind(3, k.name).Bind(4, k.unit).Bind(5, seq).Run(),
        "kit type", k.code));
  }
  for (const core::Post& p : data.posts) {
    int64_t seq = 0;
    ASSIGN_OR_RETURN(bool write, changed_version(p,
                                                 "SELECT f.payload FROM posts t JOIN feed f "
                                                 "ON f.server_seq = t.server_seq WHERE t.id = ?",
                                                 &seq));
    if (!write) continue;
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO posts (id, code, name, server_seq) "
                                 "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                 "code = excluded.code, name = excluded.name, "
                                 "server_seq = excluded.server_seq"));
    RETURN_IF_ERROR(ExplainCodeClash(
        stmt->Bind(1, p.id).Bind(2, p.code).Bind(3, p.name).Bind(4, seq).Run(), "post", p.code));
  }
  for (const core::Officer& o : data.officers) {
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM posts WHERE id = ?", o.post_id, "officer " + o.code + "'s post"));
    int64_t seq = 0;
    ASSIGN_OR_RETURN(bool write, changed_version(o,
                                                 "SELECT f.payload FROM officers t JOIN feed f "
                                                 "ON f.server_seq = t.server_seq WHERE t.id = ?",
                                                 &seq));
    if (!write) continue;
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO officers (id, code, name, post_id, role, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                 "code = excluded.code, name = excluded.name, "
                                 "post_id = excluded.post_id, role = excluded.role, "
                                 "server_seq = excluded.server_seq"));
    RETURN_IF_ERROR(ExplainCodeClash(stmt->Bind(1, o.id)
                                         .Bind(2, o.code)
                                         .Bind(3, o.name)
                                         .Bind(4, o.post_id)
                                         .Bind(5, core::ToString(o.role))
                                         .Bind(6, seq)
                                         .Run(),
                                     "officer", o.code));
  }
  for (const core::Round& r : data.rounds) {
    std::set<std::string> entitled;
    for (const core::Entitlement& e : r.entitlements) {
      RETURN_IF_ERROR(RequireRef("SELECT 1 FROM kit_types WHERE id = ?", e.kit_type_id,
                                 "round " + r.code + "'s kit type"));
      if (!entitled.insert(e.kit_type_id).second) {
        return Status::InvalidArgument("round " + r.code + " names kit type " + e.kit_type_id +
                                       " twice");
      }
    }
    int64_t seq = 0;
    ASSIGN_OR_RETURN(bool write, changed_version(r,
                                                 "SELECT f.payload FROM rounds t JOIN feed f "
                                                 "ON f.server_seq = t.server_seq WHERE t.id = ?",
                                                 &seq));
    if (!write) continue;
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO rounds (id, code, name, requires_proof, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                 "code = excluded.code, name = excluded.name, "
                                 "requires_proof = excluded.requires_proof, "
                                 "server_seq = excluded.server_seq"));
    RETURN_IF_ERROR(ExplainCodeClash(stmt->Bind(1, r.id)
                                         .Bind(2, r.code)
                                         .Bind(3, r.name)
                                         .Bind(4, int64_t{r.requires_proof})
                                         .Bind(5, seq)
                                         .Run(),
                                     "round", r.code));
    // The centre's list is the truth: a round's entitlements are replaced whole.
    ASSIGN_OR_RETURN(Statement * clear,
                     db_->Cached("DELETE FROM round_entitlements WHERE round_id = ?"));
    RETURN_IF_ERROR(clear->Bind(1, r.id).Run());
    for (const core::Entitlement& e : r.entitlements) {
      ASSIGN_OR_RETURN(Statement * add,
                       db_->Cached("INSERT INTO round_entitlements (round_id, kit_type_id, "
                                   "max_per_beneficiary) VALUES (?, ?, ?)"));
      RETURN_IF_ERROR(
          add->Bind(1, r.id).Bind(2, e.kit_type_id).Bind(3, e.max_per_beneficiary).Run());
    }
  }
  RETURN_IF_ERROR(SaveHlc());
  if (changed > 0) {
    RETURN_IF_ERROR(AppendAudit(now_ms, "admin", "load-master-data", "master",
                                "changed=" + std::to_string(changed)));
  }
  RETURN_IF_ERROR(tx->Commit());
  return changed;
}

Result<core::MasterData> SqliteServerStore::GetMasterData() {
  std::lock_guard lock(mu_);
  core::MasterData out;
  ASSIGN_OR_RETURN(Statement * kits,
                   db_->Cached("SELECT id, code, name, unit FROM kit_types ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, kits->Step());
    if (!row) break;
    out.kit_types.push_back({kits->Text(0), kits->Text(1), kits->Text(2), kits->Text(3)});
  }
  kits->Reset();
  ASSIGN_OR_RETURN(Statement * posts,
                   db_->Cached("SELECT id, code, name FROM posts ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, posts->Step());
    if (!row) break;
    out.posts.push_back({posts->Text(0), posts->Text(1), posts->Text(2)});
  }
  posts->Reset();
  ASSIGN_OR_RETURN(Statement * officers,
                   db_->Cached("SELECT id, code, name, post_id, role FROM officers ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, officers->Step());
    if (!row) break;
    auto role = core::ParseOfficerRole(officers->Text(4));
    if (!role) return Status::DataLoss("officer " + officers->Text(1) + " has an unknown role");
    out.officers.push_back(
        {officers->Text(0), officers->Text(1), officers->Text(2), officers->Text(3), *role});
  }
  officers->Reset();
  ASSIGN_OR_RETURN(Statement * rounds,
                   db_->Cached("SELECT id, code, name, requires_proof FROM rounds ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, rounds->Step());
    if (!row) break;
    out.rounds.push_back(
        {rounds->Text(0), rounds->Text(1), rounds->Text(2), rounds->Int(3) != 0, {}});
  }
  rounds->Reset();
  ASSIGN_OR_RETURN(Statement * ents,
                   db_->Cached("SELECT kit_type_id, max_per_beneficiary FROM round_entitlements "
                               "WHERE round_id = ? ORDER BY kit_type_id"));
  for (core::Round& r : out.rounds) {
    ents->Reset();
    ents->Bind(1, r.id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, ents->Step());
      if (!row) break;
      r.entitlements.push_back({ents->Text(0), ents->Int(1)});
    }
  }
  ents->Reset();
  return out;
}

Result<int64_t> SqliteServerStore::Balance(const std::string& post_id,
                                           const std::string& kit_type_id) {
  // The same figures the stock situations read: handed out from the running sum the pushes
  // keep (handover_totals), less what was voided.
  ASSIGN_OR_RETURN(core::StockTotals totals, Totals(post_id, kit_type_id));
  return totals.balance();
}

Result<std::vector<std::string>> SqliteServerStore::RecordCentralMovement(
    const CentralMovementInput& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  // Read in place, not moved out of the Result: g++ 12 then sees the optional's vector as
  // possibly uninitialised (-Wmaybe-uninitialized), which it is not.
  const auto prior = PriorOutcome(in.request, "central-movement");
  if (!prior.ok()) return prior.status();
  if (prior->has_value()) return **prior;
  ASSIGN_OR_RETURN(const int64_t first_new_seq, FirstNewSeq());
  Situations touched;
  ASSIGN_OR_RETURN(std::vector<std::string> ids, RecordCentralMovementLocked(in, touched));
  RETURN_IF_ERROR(RememberOutcome(in.request, "central-movement", ids, in.now_ms));
  RETURN_IF_ERROR(RefreshConflicts(touched, in.now_ms, first_new_seq));
  RETURN_IF_ERROR(AppendAudit(in.now_ms, "admin", "stock-" + std::string(core::ToString(in.kind)),
                              in.post_code,
                              in.kit_type_code + " quantity=" + std::to_string(in.quantity) +
                                  (in.counterpart_post_code.empty()
                                       ? ""
                                       : " to=" + in.counterpart_post_code)));
  RETURN_IF_ERROR(SaveHlc());
  RETURN_IF_ERROR(tx->Commit());
  return ids;
}

Result<std::vector<std::string>> SqliteServerStore::RecordCentralMovementLocked(
    const CentralMovementInput& in, Situations& touched) {
  using core::MovementKind;
  if (in.kind != MovementKind::kReceipt && in.kind != MovementKind::kTransferOut &&
      in.kind != MovementKind::kAdjustment) {
    return Status::InvalidArgument(
        "the centre records receipts, dispatches (transfer out) and "
        "adjustments; a " +
        std::string(core::ToString(in.kind)) + " is recorded at a post");
  }
  const bool dispatch = in.kind == MovementKind::kTransferOut;
  if (dispatch == in.counterpart_post_code.empty()) {
    return Status::InvalidArgument(dispatch ? "a dispatch needs the receiving post"
                                            : "only a dispatch names another post");
  }
  core::StockMovement m;
  ASSIGN_OR_RETURN(m.kit_type_id, IdByCode("kit_types", "kit type", in.kit_type_code));
  ASSIGN_OR_RETURN(m.post_id, IdByCode("posts", "post", in.post_code));
  ASSIGN_OR_RETURN(m.officer_id, IdByCode("officers", "officer", in.officer_code));
  if (dispatch) {
    ASSIGN_OR_RETURN(m.counterpart_post_id, IdByCode("posts", "post", in.counterpart_post_code));
  }
  m.id = core::NewUuidV7();
  m.kind = in.kind;
  m.quantity = in.quantity;
  m.reference = in.reference;
  m.reason = in.reason;
  m.device_id = server_device_id_;
  m.hlc = NextHlc(in.now_ms);
  m.wall_ms = in.now_ms;
  RETURN_IF_ERROR(core::ValidateMovementRecord(m));
  if (dispatch) {
    ASSIGN_OR_RETURN(int64_t balance, Balance(m.post_id, m.kit_type_id));
    if (in.quantity > balance) {
      return Status::FailedPrecondition("cannot dispatch " + std::to_string(in.quantity) + " " +
                                        in.kit_type_code + " from " + in.post_code + ": it holds " +
                                        std::to_string(balance));
    }
  }

  std::vector<core::StockMovement> movements = {m};
  if (dispatch) {
    core::StockMovement arrival = m;
    arrival.id = core::NewUuidV7();
    arrival.kind = MovementKind::kTransferIn;
    arrival.post_id = m.counterpart_post_id;
    arrival.counterpart_post_id = m.post_id;
    arrival.hlc = NextHlc(in.now_ms);
    RETURN_IF_ERROR(core::ValidateMovementRecord(arrival));
    movements.push_back(std::move(arrival));
  }
  std::vector<std::string> ids;
  for (const core::StockMovement& each : movements) {
    ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(each));
    ASSIGN_OR_RETURN(int64_t seq, AppendFeed(each.post_id, form, each.hlc, server_device_id_));
    RETURN_IF_ERROR(InsertMovement(each, /*clock_ahead=*/false, seq));
    touched.insert(StockSituation{each.post_id, each.kit_type_id});
    ids.push_back(each.id);
  }
  return ids;
}

}  // namespace kitsync::sync

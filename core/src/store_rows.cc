// Inserting facts. A fact is keyed by its ID and never changes, so inserting one already held
// (this tablet's own change coming back from the server, a batch delivered twice) does nothing.
#include "store_impl.h"

#include "kitsync/core/canonical.h"
#include "kitsync/core/conflicts.h"
#include "kitsync/core/handover_row.h"
#include "kitsync/core/merges.h"

namespace kitsync::core {

Status Store::Impl::InsertBeneficiary(const Beneficiary& b) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("INSERT INTO beneficiaries (id, doc_hash, full_name, "
                                         "phone, household_size, post_id, device_id, hlc) "
                                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
  return stmt->Bind(1, b.id)
                      .Bind(2, b.doc_hash)
                      .Bind(3, b.full_name)
                      .Bind(4, b.phone)
                      .Bind(5, b.household_size)
                      .Bind(6, b.post_id)
                      .Bind(7, b.device_id)
                      .Bind(8, static_cast<int64_t>(b.hlc.Pack()))
                      .Run();
}

Status Store::Impl::InsertBeneficiaryUpdate(const BeneficiaryUpdate& u) {
  ASSIGN_OR_RETURN(auto* insert, db_->Cached("INSERT INTO beneficiary_updates (id, beneficiary_id, "
                                             "hlc, payload) VALUES (?, ?, ?, ?) "
                                             "ON CONFLICT DO NOTHING"));
  RETURN_IF_ERROR(insert->Bind(1, u.id)
                      .Bind(2, u.beneficiary_id)
                      .Bind(3, static_cast<int64_t>(u.hlc.Pack()))
                      .BindBlob(4, EncodeBeneficiaryUpdate(u))
                      .Run());
  if (sqlite3_changes(db_->handle()) == 0) return Status::Ok();  // held already
  RETURN_IF_ERROR(ApplyCorrectionToRow(*db_, u));
  if (sqlite3_changes(db_->handle()) == 0) {
    return Status::FailedPrecondition("correction " + u.id + " names beneficiary " +
                                      u.beneficiary_id + ", which this tablet does not hold");
  }
  return Status::Ok();
}

Status Store::Impl::UpsertServedSummary(const ServedSummary& s) {
  ASSIGN_OR_RETURN(auto* stmt,
                   db_->Cached("INSERT INTO served_elsewhere (doc_hash, round_id, kit_type_id, "
                               "post_id, quantity) VALUES (?, ?, ?, ?, ?) "
                               "ON CONFLICT DO UPDATE SET quantity = excluded.quantity"));
  return stmt->Bind(1, s.doc_hash)
      .Bind(2, s.round_id)
      .Bind(3, s.kit_type_id)
      .Bind(4, s.post_id)
      .Bind(5, s.quantity)
      .Run();
}

Status Store::Impl::InsertResolution(const ConflictResolution& r) {
  std::string subjects;
  for (const std::string& id : r.subject_ids) subjects += (subjects.empty() ? "" : " ") + id;
  ASSIGN_OR_RETURN(auto* stmt,
                   db_->Cached("INSERT INTO resolutions (conflict_id, hlc, kind, action, "
                               "subject_ids, note, decided_by, wall_ms) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
  return stmt->Bind(1, r.conflict_id)
      .Bind(2, static_cast<int64_t>(r.hlc.Pack()))
      .Bind(3, r.kind)
      .Bind(4, r.action)
      .Bind(5, subjects)
      .Bind(6, r.note)
      .Bind(7, r.decided_by)
      .Bind(8, r.wall_ms)
      .Run();
}

Status Store::Impl::InsertMerge(const BeneficiaryMerge& m) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached(kKeepStandingMergeSql));
  return stmt->Bind(1, m.retired_id)
      .Bind(2, m.kept_id)
      .Bind(3, m.id)
      .Bind(4, static_cast<int64_t>(m.hlc.Pack()))
      .BindBlob(5, EncodeBeneficiaryMerge(m))
      .Run();
}

Result<std::optional<std::string>> Store::Impl::KeptIdOf(const std::string& beneficiary_id) {
  ASSIGN_OR_RETURN(auto* stmt,
                   db_->Cached("SELECT kept_id FROM beneficiary_merges WHERE retired_id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, beneficiary_id).Step());
  std::optional<std::string> kept;
  if (row) kept = stmt->Text(0);
  stmt->Reset();
  return kept;
}

Status Store::Impl::InsertHandover(const Handover& h) {
  ASSIGN_OR_RETURN(auto* stmt,
                   db_->Cached("INSERT INTO handovers (id, round_id, beneficiary_id, kit_type_id, "
                               "quantity, post_id, officer_id, device_id, hlc, wall_ms, "
                               "proof_kind, proof_ref, collected_by, proxy_relation, consent, "
                               "override_reason, overridden_warnings) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                               "ON CONFLICT DO NOTHING"));
  // One chain ending in Run(), so every bound view outlives the step (BindView).
  const std::string warnings = JoinWarnings(h.overridden_warnings);
  return BindHandoverFields(*stmt, h).BindView(17, warnings).Run();
}

Status Store::Impl::InsertVoid(const HandoverVoid& v) {
  ASSIGN_OR_RETURN(auto* insert, db_->Cached("INSERT INTO handover_voids (handover_id, reason, "
                                           "officer_id, device_id, hlc, wall_ms) "
                                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
  return insert->Bind(1, v.handover_id)
                      .Bind(2, v.reason)
                      .Bind(3, v.officer_id)
                      .Bind(4, v.device_id)
                      .Bind(5, static_cast<int64_t>(v.hlc.Pack()))
                      .Bind(6, v.wall_ms)
                      .Run();
}

Status Store::Impl::InsertMovement(const StockMovement& m) {
  ASSIGN_OR_RETURN(auto* stmt,
                   db_->Cached("INSERT INTO stock_movements (id, post_id, kit_type_id, kind, "
                             "quantity, counterpart_post_id, reference, reason, officer_id, "
                             "device_id, hlc, wall_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                               "ON CONFLICT DO NOTHING"));
  return stmt->Bind(1, m.id)
                      .Bind(2, m.post_id)
                      .Bind(3, m.kit_type_id)
                      .Bind(4, ToString(m.kind))
                      .Bind(5, m.quantity)
                      .Bind(6, m.counterpart_post_id)
                      .Bind(7, m.reference)
                      .Bind(8, m.reason)
                      .Bind(9, m.officer_id)
                      .Bind(10, m.device_id)
                      .Bind(11, static_cast<int64_t>(m.hlc.Pack()))
                      .Bind(12, m.wall_ms)
                      .Run();
}

}  // namespace kitsync::core

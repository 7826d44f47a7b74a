// Merges of beneficiaries: the office's "merge" decision on a duplicate registration, what the
// posts concerned receive so their tablets serve the kept registration, and the facts an
// update-vs-void conflict is judged on.
#include <algorithm>
#include <set>

#include "kitsync/core/canonical.h"
#include "kitsync/core/conflicts.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using core::sqlite::Statement;

// The first HLC after `hlc`.
core::Hlc After(core::Hlc hlc) {
  return hlc.logical == core::Hlc::kMaxLogical ? core::Hlc{hlc.physical_ms + 1, 0}
                                               : core::Hlc{hlc.physical_ms, hlc.logical + 1};
}

}  // namespace

Result<std::optional<std::string>> SqliteServerStore::KeptIdOf(const std::string& beneficiary_id) {
  // The merge that stands: the latest by (HLC, ID), as core::SupersedesMerge orders them.
  return QueryText("SELECT kept_id FROM beneficiary_merges WHERE retired_id = ? "
                   "ORDER BY hlc DESC, id DESC LIMIT 1",
                   beneficiary_id);
}

Result<std::vector<std::string>> SqliteServerStore::PostsMergedInto(
    const std::string& kept_id, const std::string& except_post_id) {
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT DISTINCT b.post_id FROM beneficiary_merges m "
                  "JOIN beneficiaries b ON b.id = m.retired_id "
                  "WHERE m.kept_id = ?1 AND b.post_id != ?2 AND NOT EXISTS "
                  "(SELECT 1 FROM beneficiary_merges n WHERE n.retired_id = m.retired_id "
                  "AND (n.hlc, n.id) > (m.hlc, m.id)) ORDER BY b.post_id"));
  stmt->Bind(1, kept_id).Bind(2, except_post_id);
  std::vector<std::string> posts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    posts.push_back(stmt->Text(0));
  }
  stmt->Reset();
  return posts;
}

Status SqliteServerStore::CopyKeptTo(const std::string& kept_id, const std::string& post_id) {
  // The registration first, then its corrections in the order the server took them: a tablet
  // applies a correction only to a beneficiary it holds. Each copy keeps its origin device, so
  // the device that made it is still not sent its own change.
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("SELECT f.entity, f.entity_id, f.payload, f.hlc, f.origin_device FROM feed f "
                  "WHERE f.server_seq = (SELECT server_seq FROM beneficiaries WHERE id = ?1) "
                  "OR f.server_seq IN (SELECT server_seq FROM beneficiary_updates "
                  "WHERE beneficiary_id = ?1) ORDER BY f.server_seq"));
  stmt->Bind(1, kept_id);
  struct Copy {
    core::LoggedForm form;
    core::Hlc hlc;
    std::string origin;
  };
  std::vector<Copy> copies;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    copies.push_back({{stmt->Text(0), stmt->Text(1), stmt->Text(2)},
                      core::Hlc::Unpack(static_cast<uint64_t>(stmt->Int(3))), stmt->Text(4)});
  }
  stmt->Reset();
  if (copies.empty()) return Status::Internal("the kept beneficiary " + kept_id + " is not held");
  for (const Copy& c : copies) {
    RETURN_IF_ERROR(AppendFeed(post_id, c.form, c.hlc, c.origin).status());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> SqliteServerStore::MergeBeneficiaries(
    const ConflictRecord& current, const ResolveInput& in, Situations& touched) {
  const std::string& keep = in.keep_beneficiary_id;
  const auto& sides = current.conflict.sides;
  const bool is_side = std::any_of(sides.begin(), sides.end(), [&](const core::ConflictSide& s) {
    return s.entity == "beneficiary" && s.entity_id == keep;
  });
  if (!is_side) {
    return Status::InvalidArgument("beneficiary '" + keep +
                                   "' is not one of this conflict's registrations (--keep)");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> keep_retired, KeptIdOf(keep));
  if (keep_retired) {
    return Status::FailedPrecondition("beneficiary " + keep + " was already merged into " +
                                      *keep_retired + "; keep " + *keep_retired +
                                      " or another registration that still stands");
  }
  ASSIGN_OR_RETURN(auto keep_post,
                   QueryText("SELECT post_id FROM beneficiaries WHERE id = ?", keep));
  if (!keep_post) return Status::Internal("a conflict names a beneficiary the server lost");

  // Every other registration of the family, including one merged earlier into a registration
  // now retired too, so that no standing merge points at a retired beneficiary.
  std::vector<const core::ConflictSide*> retire;
  for (const core::ConflictSide& s : sides) {
    if (s.entity != "beneficiary" || s.entity_id == keep) continue;
    ASSIGN_OR_RETURN(std::optional<std::string> kept, KeptIdOf(s.entity_id));
    if (kept == keep) continue;  // merged into it already
    retire.push_back(&s);
  }
  if (retire.empty()) {
    return Status::FailedPrecondition("every other registration is already merged into " + keep);
  }

  // Posts that held only a retired registration now need the kept one to serve the family.
  std::set<std::string> needs_kept;
  for (const core::ConflictSide* s : retire) {
    if (s->post_id != *keep_post) needs_kept.insert(s->post_id);
  }
  for (const std::string& post_id : needs_kept) RETURN_IF_ERROR(CopyKeptTo(keep, post_id));

  std::vector<std::string> ids;
  for (const core::ConflictSide* s : retire) {
    core::BeneficiaryMerge m;
    m.id = core::NewUuidV7();
    m.retired_id = s->entity_id;
    m.kept_id = keep;
    ASSIGN_OR_RETURN(Statement * seen, db_->Cached(core::kSeenVersionSql));
    ASSIGN_OR_RETURN(bool row, seen->Bind(1, m.retired_id).Step());
    if (!row) return Status::Internal("a conflict names a beneficiary the server lost");
    m.base_hlc = core::Hlc::Unpack(static_cast<uint64_t>(seen->Int(0)));
    seen->Reset();
    m.conflict_id = current.id;
    m.decided_by = in.actor;
    m.device_id = server_device_id_;
    // After every version of the retired record held, even one stamped by a clock far ahead.
    m.hlc = std::max(NextHlc(in.now_ms), After(m.base_hlc));
    m.wall_ms = in.now_ms;
    RETURN_IF_ERROR(core::ValidateMergeRecord(m));
    ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(m));
    std::optional<int64_t> first_seq;
    for (const std::string& post_id : current.post_ids) {
      ASSIGN_OR_RETURN(int64_t seq, AppendFeed(post_id, form, m.hlc, server_device_id_));
      if (!first_seq) first_seq = seq;
    }
    if (!first_seq) return Status::Internal("a duplicate-beneficiary conflict names no post");
    ASSIGN_OR_RETURN(Statement * insert,
                     db_->Cached("INSERT INTO beneficiary_merges (id, retired_id, kept_id, "
                                 "base_hlc, hlc, conflict_id, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(insert->Bind(1, m.id)
                        .Bind(2, m.retired_id)
                        .Bind(3, m.kept_id)
                        .Bind(4, static_cast<int64_t>(m.base_hlc.Pack()))
                        .Bind(5, static_cast<int64_t>(m.hlc.Pack()))
                        .Bind(6, m.conflict_id)
                        .Bind(7, *first_seq)
                        .Run());
    touched.insert(MergedSituation{m.retired_id});
    ids.push_back(m.id);
  }
  return ids;
}

Result<std::optional<core::DetectedConflict>> SqliteServerStore::DetectMergedCorrections(
    const std::string& beneficiary_id) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT f.payload FROM beneficiary_merges m JOIN feed f "
                               "ON f.server_seq = m.server_seq WHERE m.retired_id = ?"));
  stmt->Bind(1, beneficiary_id);
  std::vector<core::BeneficiaryMerge> merges;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    auto m = core::DecodeBeneficiaryMerge(stmt->Text(0));
    if (!m.ok()) {
      stmt->Reset();
      return m.status();
    }
    merges.push_back(std::move(*m));
  }
  stmt->Reset();
  if (merges.empty()) return std::optional<core::DetectedConflict>();
  ASSIGN_OR_RETURN(auto post_id,
                   QueryText("SELECT post_id FROM beneficiaries WHERE id = ?", beneficiary_id));
  std::vector<core::BeneficiaryUpdate> updates;
  std::vector<std::string> ahead;
  RETURN_IF_ERROR(GatherCorrections(beneficiary_id, updates, ahead));
  return core::DetectUpdateVsVoid(beneficiary_id, post_id.value_or(""), merges,
                                  std::move(updates), ahead);
}

}  // namespace kitsync::sync

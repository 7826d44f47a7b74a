// Corrections of beneficiaries' details at the post: a fact of their own in the change log,
// applied to the beneficiary's row field by field.
#include "kitsync/core/canonical.h"
#include "kitsync/core/conflicts.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "store_impl.h"

namespace kitsync::core {

Result<Beneficiary> Store::GetBeneficiary(const std::string& id) {
  RETURN_IF_ERROR(ValidateId("beneficiary ID", id));
  ASSIGN_OR_RETURN(auto* stmt,
                   impl_->db().Cached("SELECT id, doc_hash, full_name, phone, household_size, "
                                      "post_id, device_id, hlc FROM beneficiaries WHERE id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
  if (!row) return Status::NotFound("no beneficiary " + id + " on this tablet");
  Beneficiary b{stmt->Text(0), stmt->Text(1), stmt->Text(2), stmt->Text(3), stmt->Int(4),
                stmt->Text(5), stmt->Text(6), Hlc::Unpack(static_cast<uint64_t>(stmt->Int(7)))};
  stmt->Reset();
  return b;
}

Result<BeneficiaryUpdate> Store::UpdateBeneficiary(const BeneficiaryUpdateInput& in) {
  if (!in.full_name && !in.phone && !in.household_size) {
    return Status::InvalidArgument("say what to correct: a new name, phone or household size");
  }
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(Beneficiary current, GetBeneficiary(in.beneficiary_id));
  ASSIGN_OR_RETURN(std::optional<std::string> kept, impl_->KeptIdOf(in.beneficiary_id));
  if (kept) {
    return Status::FailedPrecondition("beneficiary " + in.beneficiary_id + " was merged into " +
                                      *kept + " by the central office; correct " + *kept +
                                      " instead");
  }
  ASSIGN_OR_RETURN(std::string post_id, impl_->OwnPostId());
  if (current.post_id != post_id) {
    return Status::PermissionDenied("beneficiary " + in.beneficiary_id +
                                    " was registered at another post; only that post or the "
                                    "centre corrects it");
  }
  ASSIGN_OR_RETURN(OfficerInfo officer, impl_->Officer(in.officer_code));
  if (officer.post_id != post_id) {
    return Status::PermissionDenied("officer " + in.officer_code + " is not posted here");
  }
  BeneficiaryUpdate u;
  // Only what differs is a correction; a field given with its current value is left out.
  if (in.full_name && *in.full_name != current.full_name) u.full_name = in.full_name;
  if (in.phone && *in.phone != current.phone) u.phone = in.phone;
  if (in.household_size && *in.household_size != current.household_size) {
    u.household_size = in.household_size;
  }
  if (!u.full_name && !u.phone && !u.household_size) {
    return Status::FailedPrecondition("beneficiary " + in.beneficiary_id +
                                      " already has these details; nothing to correct");
  }
  ASSIGN_OR_RETURN(auto* seen, db.Cached(kSeenVersionSql));
  ASSIGN_OR_RETURN(bool row, seen->Bind(1, in.beneficiary_id).Step());
  if (!row) return Status::Internal("beneficiary vanished inside a transaction");
  u.base_hlc = Hlc::Unpack(static_cast<uint64_t>(seen->Int(0)));
  seen->Reset();
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  u.id = NewUuidV7();
  u.beneficiary_id = in.beneficiary_id;
  u.post_id = post_id;
  u.officer_id = officer.id;
  u.device_id = impl_->identity().device_id;
  u.hlc = impl_->NextHlc(tip);
  u.wall_ms = impl_->clock().WallMs();
  // The clock absorbed every version this tablet pulled, except one stamped by a clock beyond the
  // allowed skew; a correction here could never win against that one.
  if (u.hlc <= u.base_hlc) {
    return Status::FailedPrecondition(
        "beneficiary " + in.beneficiary_id + " was last corrected with a clock far ahead (" +
        u.base_hlc.ToString() + "); ask the centre to correct it");
  }
  RETURN_IF_ERROR(ValidateBeneficiaryUpdateRecord(u));
  RETURN_IF_ERROR(impl_->InsertBeneficiaryUpdate(u));
  RETURN_IF_ERROR(impl_->Append(tip, u.hlc, "beneficiary_update", u.id, EncodeBeneficiaryUpdate(u),
                                /*store_payload=*/true));
  RETURN_IF_ERROR(tx->Commit());
  return u;
}

}  // namespace kitsync::core

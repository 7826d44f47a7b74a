// The correction rule of conflicts.h, as one UPDATE on a `beneficiaries` row.
#include "kitsync/core/conflicts.h"

namespace kitsync::core {
namespace {

// Parameters: 1 beneficiary ID, 2 name, 3 phone, 4 household size (NULL: not corrected), 5 packed
// HLC, 6 device ID. Every SET expression sees the row as it was, so each field is judged alone.
constexpr char kApplyCorrectionSql[] =
    "UPDATE beneficiaries SET "
    "full_name = CASE WHEN ?2 IS NOT NULL AND (?5, ?6) > (name_version, name_device) "
    "THEN ?2 ELSE full_name END, "
    "name_device = CASE WHEN ?2 IS NOT NULL AND (?5, ?6) > (name_version, name_device) "
    "THEN ?6 ELSE name_device END, "
    "name_version = CASE WHEN ?2 IS NOT NULL AND (?5, ?6) > (name_version, name_device) "
    "THEN ?5 ELSE name_version END, "
    "phone = CASE WHEN ?3 IS NOT NULL AND (?5, ?6) > (phone_version, phone_device) "
    "THEN ?3 ELSE phone END, "
    "phone_device = CASE WHEN ?3 IS NOT NULL AND (?5, ?6) > (phone_version, phone_device) "
    "THEN ?6 ELSE phone_device END, "
    "phone_version = CASE WHEN ?3 IS NOT NULL AND (?5, ?6) > (phone_version, phone_device) "
    "THEN ?5 ELSE phone_version END, "
    "household_size = CASE WHEN ?4 IS NOT NULL AND (?5, ?6) > (household_version, "
    "household_device) THEN ?4 ELSE household_size END, "
    "household_device = CASE WHEN ?4 IS NOT NULL AND (?5, ?6) > (household_version, "
    "household_device) THEN ?6 ELSE household_device END, "
    "household_version = CASE WHEN ?4 IS NOT NULL AND (?5, ?6) > (household_version, "
    "household_device) THEN ?5 ELSE household_version END "
    "WHERE id = ?1";

}  // namespace

Status ApplyCorrectionToRow(sqlite::Db& db, const BeneficiaryUpdate& u) {
  ASSIGN_OR_RETURN(sqlite::Statement * apply, db.Cached(kApplyCorrectionSql));
  apply->Bind(1, u.beneficiary_id);
  if (u.full_name) apply->Bind(2, *u.full_name); else apply->BindNull(2);
  if (u.phone) apply->Bind(3, *u.phone); else apply->BindNull(3);
  if (u.household_size) apply->Bind(4, *u.household_size); else apply->BindNull(4);
  return apply->Bind(5, static_cast<int64_t>(u.hlc.Pack())).Bind(6, u.device_id).Run();
}

}  // namespace kitsync::core

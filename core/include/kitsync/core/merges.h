// Merges of beneficiaries: which merge stands for a retired beneficiary, and whose a record of
// any beneficiary is once merges are applied. Pure functions, the same on the tablet and the
// server, so every replica resolves a handover to the same family whatever order merges came in.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kitsync/core/domain.h"

namespace kitsync::core {

// Whether merge `a` displaces merge `b` of the same retired beneficiary: the greater (HLC, ID).
bool SupersedesMerge(const BeneficiaryMerge& a, const BeneficiaryMerge& b);

// Retired beneficiary ID -> the merge that stands for it. Duplicates change nothing.
std::map<std::string, BeneficiaryMerge> StandingMerges(
    const std::vector<BeneficiaryMerge>& merges);

// The beneficiary a record of `beneficiary_id` now belongs to: the kept one of the merge standing
// for it, or itself when it was never retired. One step: the server never leaves a standing merge
// pointing at a beneficiary that is itself retired.
std::string KeptBeneficiary(const std::map<std::string, BeneficiaryMerge>& standing,
                            const std::string& beneficiary_id);

// A correction of a retired beneficiary and a merge that retired it were made without seeing each
// other: the merge's base version is older than the correction (the office had not seen it) and
// the correction's base is older than the merge (the editor had not heard of it). The same test
// DetectConcurrentUpdate applies to two corrections.
bool CorrectionMissedMerge(const BeneficiaryUpdate& correction, const BeneficiaryMerge& merge);

// SQL for a tablet's `beneficiary_merges` table (retired_id primary key, one row per retired
// beneficiary): keeps the merge that SupersedesMerge says stands. Parameters: 1 retired ID,
// 2 kept ID, 3 merge ID, 4 packed HLC, 5 canonical payload.
inline constexpr char kKeepStandingMergeSql[] =
    "INSERT INTO beneficiary_merges (retired_id, kept_id, merge_id, hlc, payload) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (retired_id) DO UPDATE SET "
    "kept_id = excluded.kept_id, merge_id = excluded.merge_id, hlc = excluded.hlc, "
    "payload = excluded.payload WHERE (excluded.hlc, excluded.merge_id) > (hlc, merge_id)";

}  // namespace kitsync::core

#include "kitsync/core/merges.h"

#include <tuple>

namespace kitsync::core {

bool SupersedesMerge(const BeneficiaryMerge& a, const BeneficiaryMerge& b) {
  return std::tie(a.hlc, a.id) > std::tie(b.hlc, b.id);
}

std::map<std::string, BeneficiaryMerge> StandingMerges(
    const std::vector<BeneficiaryMerge>& merges) {
  std::map<std::string, BeneficiaryMerge> standing;
  for (const BeneficiaryMerge& m : merges) {
    auto [it, added] = standing.emplace(m.retired_id, m);
    if (!added && SupersedesMerge(m, it->second)) it->second = m;
  }
  return standing;
}

std::string KeptBeneficiary(const std::map<std::string, BeneficiaryMerge>& standing,
                            const std::string& beneficiary_id) {
  auto it = standing.find(beneficiary_id);
  return it == standing.end() ? beneficiary_id : it->second.kept_id;
}

bool CorrectionMissedMerge(const BeneficiaryUpdate& correction, const BeneficiaryMerge& merge) {
  return correction.beneficiary_id == merge.retired_id && merge.base_hlc < correction.hlc &&
         correction.base_hlc < merge.hlc;
}

}  // namespace kitsync::core

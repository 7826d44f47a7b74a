#include "kitsync/core/domain.h"

#include <array>
#include <utility>

namespace kitsync::core {
namespace {

// One table per enum keeps the spelling of each value in a single place for both directions.
template <typename E, size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<OfficerRole, 3> kRoles{{{OfficerRole::kOfficer, "officer"},
                                        {OfficerRole::kSupervisor, "supervisor"},
                                        {OfficerRole::kAdmin, "admin"}}};
constexpr Names<ProofKind, 4> kProofs{{{ProofKind::kNone, "none"},
                                       {ProofKind::kSignature, "signature"},
                                       {ProofKind::kPhoto, "photo"},
                                       {ProofKind::kVoucher, "voucher"}}};
constexpr Names<Collector, 2> kCollectors{{{Collector::kSelf, "self"},
                                           {Collector::kProxy, "proxy"}}};
constexpr Names<MovementKind, 5> kMovements{{{MovementKind::kReceipt, "receipt"},
                                             {MovementKind::kTransferOut, "transfer_out"},
                                             {MovementKind::kTransferIn, "transfer_in"},
                                             {MovementKind::kAdjustment, "adjustment"},
                                             {MovementKind::kCount, "count"}}};

template <typename E, size_t N>
std::string_view NameOf(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const Names<E, N>& names, std::string_view s) {
  for (const auto& [v, name] : names) {
    if (name == s) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view ToString(OfficerRole role) { return NameOf(kRoles, role); }
std::string_view ToString(ProofKind kind) { return NameOf(kProofs, kind); }
std::string_view ToString(Collector collector) { return NameOf(kCollectors, collector); }
std::string_view ToString(MovementKind kind) { return NameOf(kMovements, kind); }
std::optional<OfficerRole> ParseOfficerRole(std::string_view s) { return ValueOf(kRoles, s); }
std::optional<ProofKind> ParseProofKind(std::string_view s) { return ValueOf(kProofs, s); }
std::optional<Collector> ParseCollector(std::string_view s) { return ValueOf(kCollectors, s); }
std::optional<MovementKind> ParseMovementKind(std::string_view s) {
  return ValueOf(kMovements, s);
}

}  // namespace kitsync::core

#include "server_served_filter.h"

#include <algorithm>
#include <functional>

namespace kitsync::sync {
namespace {

// 10 bits and 7 probes a situation: about 0.8 % wrong "maybe"s when full.
constexpr uint64_t kBitsPerSituation = 10;
constexpr int kProbes = 7;
// 1.25 MiB: room for a million situations before the first rebuild.
constexpr size_t kMinCapacity = size_t{1} << 20;

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

ServedSituationFilter::Probe ServedSituationFilter::ProbeOf(std::string_view doc_hash,
                                                            std::string_view round_id,
                                                            std::string_view kit_type_id) const {
  const std::hash<std::string_view> hash;
  const uint64_t h = Mix(hash(doc_hash) ^ Mix(hash(round_id) ^ Mix(hash(kit_type_id))));
  return {h, Mix(h) | 1};
}

bool ServedSituationFilter::MayHold(std::string_view doc_hash, std::string_view round_id,
                                    std::string_view kit_type_id) const {
  if (bit_count_ == 0) return true;  // never built: nothing is known
  Probe p = ProbeOf(doc_hash, round_id, kit_type_id);
  for (int i = 0; i < kProbes; ++i, p.start += p.step) {
    const uint64_t bit = p.start % bit_count_;
    if ((bits_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

void ServedSituationFilter::Add(std::string_view doc_hash, std::string_view round_id,
                                std::string_view kit_type_id) {
  if (bit_count_ == 0) return;
  Probe p = ProbeOf(doc_hash, round_id, kit_type_id);
  for (int i = 0; i < kProbes; ++i, p.start += p.step) {
    const uint64_t bit = p.start % bit_count_;
    bits_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  ++added_;
}

void ServedSituationFilter::Size(size_t capacity) {
  capacity_ = std::max(capacity, kMinCapacity);
  bit_count_ = capacity_ * kBitsPerSituation;
  bits_.assign((bit_count_ + 63) / 64, 0);
  added_ = 0;
}

core::Status ServedSituationFilter::Rebuild(core::sqlite::Db& db) {
  *this = ServedSituationFilter();  // knows nothing until the scan is through
  ServedSituationFilter built;
  ASSIGN_OR_RETURN(int64_t handovers, db.QueryInt("SELECT count(*) FROM handovers"));
  built.Size(2 * static_cast<size_t>(handovers));
  ASSIGN_OR_RETURN(auto rows, db.Prepare("SELECT b.doc_hash, h.round_id, h.kit_type_id "
                                         "FROM handovers h "
                                         "JOIN beneficiaries b ON b.id = h.beneficiary_id"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, rows->Step());
    if (!row) break;
    built.Add(rows->TextView(0), rows->TextView(1), rows->TextView(2));
  }
  *this = std::move(built);
  return core::Status::Ok();
}

}  // namespace kitsync::sync

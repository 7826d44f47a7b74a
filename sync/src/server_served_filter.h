// Which entitlement situations (a family by document hash, a round, a kit type) may already hold
// a handover on the server: a Bloom filter over every handover the database holds, kept by the
// store that writes them. Its "no" is certain, so a push whose handovers are a family's first of
// their round and kit type (the usual handover) works out the family's conflict and served
// summaries from those handovers alone, without reading the family back. A "maybe" that is
// wrong (under 1 in 100 at the sizes kept) costs only that read.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kitsync/core/sqlite.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

class ServedSituationFilter {
 public:
  bool MayHold(std::string_view doc_hash, std::string_view round_id,
               std::string_view kit_type_id) const;
  void Add(std::string_view doc_hash, std::string_view round_id, std::string_view kit_type_id);
  // Every handover `db` holds, in a filter sized for twice as many situations as it finds.
  core::Status Rebuild(core::sqlite::Db& db);
  // More situations were added than the filter was sized for: its wrong "maybe"s grow.
  bool Crowded() const { return added_ > capacity_; }
  size_t added() const { return added_; }

 private:
  struct Probe {
    uint64_t start;
    uint64_t step;
  };
  Probe ProbeOf(std::string_view doc_hash, std::string_view round_id,
                std::string_view kit_type_id) const;
  void Size(size_t capacity);

  std::vector<uint64_t> bits_;
  uint64_t bit_count_ = 0;
  size_t capacity_ = 0;
  size_t added_ = 0;
};

}  // namespace kitsync::sync

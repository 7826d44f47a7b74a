// The device's change log: one entry per local mutation, numbered by a gap-free device sequence
// and chained by SHA-256, so the centre can see a missing or altered entry.
//
//   hash(n) = SHA-256("kitsync.v1" | seq | hlc | entity | entity_id | op | payload | hash(n-1))
//   hash(0) = SHA-256("kitsync.v1.genesis" | device_id)
//
// Integers are 8-byte big-endian, strings length-prefixed, so no two entries encode alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kitsync/core/hlc.h"

namespace kitsync::core {

struct ChangeEntry {
  int64_t seq = 0;
  Hlc hlc;
  std::string entity;     // "beneficiary", "handover", "handover_void", "stock_movement"
  std::string entity_id;  // the record's ID (for a void: the voided handover's ID)
  std::string op;         // "create"
  std::string payload;    // canonical encoding of the record (see canonical.h)
  std::string prev_hash;  // 32 raw bytes
  std::string hash;       // 32 raw bytes
};

struct ChainReport {
  bool ok = true;
  int64_t entries = 0;
  int64_t first_bad_seq = 0;  // 0 when ok
  std::string problem;        // what is wrong at first_bad_seq
};

std::string GenesisHash(const std::string& device_id);
std::string ChainHash(const ChangeEntry& entry, const std::string& prev_hash);
// The same hash from an entry's parts, for a caller that holds them elsewhere (the server
// checking a pushed batch) and would otherwise copy each payload into a ChangeEntry.
std::string ChainHash(int64_t seq, Hlc hlc, std::string_view entity, std::string_view entity_id,
                      std::string_view op, std::string_view payload, std::string_view prev_hash);

}  // namespace kitsync::core

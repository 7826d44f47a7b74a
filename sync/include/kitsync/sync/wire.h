// Records on the wire: core records <-> kitsync.v1.RecordBatch. This is the only place that
// knows both shapes. Reading validates everything protobuf parsing lets through (wrong wire
// types read as 0, unknown enum values, out-of-range numbers), so what comes out is well formed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kitsync/core/change_log.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"
#include "kitsync/v1/records.pb.h"

namespace kitsync::sync {

// 16 raw bytes of a canonical UUID string. REQUIRES: core::IsValidUuid(uuid).
std::string UuidToBytes(std::string_view uuid);
// INVALID_ARGUMENT unless `bytes` is 16 bytes long.
core::Result<std::string> UuidFromBytes(std::string_view bytes);

// One change as it travels: when, and what.
struct WireChange {
  core::Hlc hlc;
  core::Record record;
};

// What a peer reads beyond the first protocol, named in StatusResponse.wire_features and
// PullRequest.wire_features. Everything this build writes under a feature it also reads.
inline constexpr char kProofDigestFeature[] = "proof-digest";  // Handover.proof_digest
inline constexpr char kZstdRecordsFeature[] = "zstd-records";  // PushBatch/PullBatch.records_zstd

// The features of a peer, from the names it sent; names this build does not know are ignored.
struct WireFeatures {
  bool proof_digest = false;
  bool zstd_records = false;
};
template <typename Names>
WireFeatures ReadWireFeatures(const Names& names) {
  WireFeatures f;
  for (const auto& name : names) {
    f.proof_digest |= name == kProofDigestFeature;
    f.zstd_records |= name == kZstdRecordsFeature;
  }
  return f;
}
// Every feature this build reads, for its own StatusResponse or PullRequest.
template <typename Message>
void AddWireFeatures(Message& message) {
  message.add_wire_features(kProofDigestFeature);
  message.add_wire_features(kZstdRecordsFeature);
}

// Appends changes to a RecordBatch, sending each ID once in the dictionary and each timestamp as
// a delta from the one before. `reader` is what the receiving peer reads.
class RecordBatchWriter {
 public:
  explicit RecordBatchWriter(v1::RecordBatch* batch, WireFeatures reader = {})
      : batch_(batch), reader_(reader) {}
  void Add(const core::Hlc& hlc, const core::Record& record);

 private:
  uint32_t Ref(const std::string& uuid);
  v1::RecordBatch* batch_;
  WireFeatures reader_;
  std::unordered_map<std::string, uint32_t> refs_;
  uint64_t last_hlc_ = 0;
  bool first_ = true;
};

// Every change of `batch`, or INVALID_ARGUMENT naming the first malformed one. Records are
// checked field by field with the core's validators.
core::Result<std::vector<WireChange>> ReadRecordBatch(const v1::RecordBatch& batch);

// A device's change-log entries as they will be re-hashed by the receiver: `first_seq` numbers
// the first, the rest follow.
core::Result<std::vector<core::ChangeEntry>> ToChangeEntries(const std::vector<WireChange>& changes,
                                                             int64_t first_seq);

}  // namespace kitsync::sync

// Record batches as one zstd frame on the wire (PushBatch.records_zstd, PullBatch.records_zstd),
// for peers that name kZstdRecordsFeature. A batch of handovers is mostly fresh IDs and small
// numbers; zstd's fast level shrinks it as far as gRPC's gzip does for about a tenth of the
// CPU (docs/benchmarks.md), which is battery on a tablet and the push's pace on the server.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "kitsync/core/status.h"
#include "kitsync/v1/records.pb.h"

namespace kitsync::sync {

// The most a batch's records may take once inflated. A batch holds at most a few thousand
// changes (a push's 2,000, a pull's page), far below this; the bound is what a crafted frame can
// make the receiver allocate.
inline constexpr size_t kMaxInflatedRecordsBytes = 16 << 20;

// `records` serialized and compressed as one zstd frame that states its size.
std::string CompressRecords(const v1::RecordBatch& records);

// The batch in `frame`. INVALID_ARGUMENT for anything CompressRecords does not make: not zstd,
// more than one frame, no stated size or one beyond kMaxInflatedRecordsBytes, a frame that does
// not inflate to its stated size, or bytes that are not a RecordBatch.
core::Status InflateRecords(std::string_view frame, v1::RecordBatch* out);

// Moves a batch's records into its records_zstd field (PushBatch, PullBatch), as a sender does
// for a peer that reads them. An empty batch is left as it is.
template <typename Batch>
void PackRecords(Batch& batch) {
  if (batch.records().changes_size() == 0) return;
  batch.set_records_zstd(CompressRecords(batch.records()));
  batch.clear_records();
}

// The reverse, as a receiver does before anything else: records_zstd, when sent, into records.
// INVALID_ARGUMENT when both are sent (nothing says which one holds the batch), or as
// InflateRecords.
template <typename Batch>
core::Status UnpackRecords(Batch& batch) {
  if (batch.records_zstd().empty()) return core::Status::Ok();
  if (batch.has_records()) {
    return core::Status::InvalidArgument("a batch holds both records and records_zstd");
  }
  core::Status inflated = InflateRecords(batch.records_zstd(), batch.mutable_records());
  batch.clear_records_zstd();
  return inflated;
}

}  // namespace kitsync::sync

#include "kitsync/sync/wire_zstd.h"

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <new>

namespace kitsync::sync {
namespace {

using core::Status;

// The level favours speed: on batches of handovers, level 1 and gzip's level 6 give the same
// size within 3 %, level 1 at about a tenth of the time.
constexpr int kLevel = 1;
// A frame made by CompressRecords needs a window no larger than what it inflates to.
constexpr int kMaxWindowLog = 24;
static_assert((size_t{1} << kMaxWindowLog) >= kMaxInflatedRecordsBytes);
// Frame_Header_Descriptor's Content_Checksum_flag (RFC 8878, 3.1.1.1.1).
constexpr uint32_t kChecksumFlag = 0x04;

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One context per thread, kept: making one allocates its tables, which costs more than
// compressing a batch.
ZSTD_CCtx* Compressor() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx = [] {
    std::unique_ptr<ZSTD_CCtx, CCtxFree> c(ZSTD_createCCtx());
    if (c) {
      ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, kLevel);
      // Four bytes a batch, so that damage is found as gzip's CRC finds it, not parsed.
      ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
    }
    return c;
  }();
  return ctx.get();
}

ZSTD_DCtx* Decompressor() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx = [] {
    std::unique_ptr<ZSTD_DCtx, DCtxFree> d(ZSTD_createDCtx());
    if (d) ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, kMaxWindowLog);
    return d;
  }();
  return ctx.get();
}

}  // namespace

std::string CompressRecords(const v1::RecordBatch& records) {
  const std::string plain = records.SerializeAsString();
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  ZSTD_CCtx* ctx = Compressor();
  // As for the strings around it, only memory running out stops this: the output buffer is
  // ZSTD_compressBound, and a single-pass frame always states its size.
  if (!ctx) throw std::bad_alloc();
  const size_t n = ZSTD_compress2(ctx, frame.data(), frame.size(), plain.data(), plain.size());
  if (ZSTD_isError(n)) throw std::bad_alloc();
  frame.resize(n);
  return frame;
}

Status InflateRecords(std::string_view frame, v1::RecordBatch* out) {
  const size_t frame_bytes = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_bytes)) {
    return Status::InvalidArgument(std::string("records_zstd is not a zstd frame: ") +
                                   ZSTD_getErrorName(frame_bytes));
  }
  if (frame_bytes != frame.size()) {
    return Status::InvalidArgument("records_zstd holds more than one zstd frame");
  }
  // A whole frame is at least its magic number and header descriptor (RFC 8878, 3.1.1); a
  // skippable frame has another magic number and holds nothing.
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(frame[i])); };
  if ((byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24) != ZSTD_MAGICNUMBER) {
    return Status::InvalidArgument("records_zstd is not a zstd frame");
  }
  if ((byte(4) & kChecksumFlag) == 0) {
    return Status::InvalidArgument("records_zstd carries no checksum");
  }
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) {
    return Status::InvalidArgument("records_zstd does not state the size it inflates to");
  }
  if (size > kMaxInflatedRecordsBytes) {
    return Status::InvalidArgument("records_zstd inflates to " + std::to_string(size) +
                                   " bytes; a batch may take at most " +
                                   std::to_string(kMaxInflatedRecordsBytes));
  }
  std::string plain(static_cast<size_t>(size), '\0');
  ZSTD_DCtx* ctx = Decompressor();
  if (!ctx) return Status(core::Code::kResourceExhausted, "no memory to inflate records_zstd");
  const size_t n = ZSTD_decompressDCtx(ctx, plain.data(), plain.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) {
    return Status::InvalidArgument(std::string("records_zstd is damaged: ") +
                                   ZSTD_getErrorName(n));
  }
  if (n != plain.size()) {
    return Status::InvalidArgument("records_zstd inflates to " + std::to_string(n) +
                                   " bytes, not the " + std::to_string(size) + " it states");
  }
  if (!out->ParseFromString(plain)) {
    return Status::InvalidArgument("records_zstd does not hold a record batch");
  }
  return Status::Ok();
}

}  // namespace kitsync::sync

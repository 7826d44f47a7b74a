// Record batches as zstd frames (wire_zstd.h): what a sender packs comes back whole, and every
// frame the sender would not make is refused with INVALID_ARGUMENT before it is parsed.
#include "kitsync/sync/wire_zstd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

std::string Frame(std::string_view plain, bool state_size = true, bool checksum = true) {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_contentSizeFlag, state_size ? 1 : 0);
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, checksum ? 1 : 0);
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress2(ctx, frame.data(), frame.size(), plain.data(), plain.size());
  ZSTD_freeCCtx(ctx);
  EXPECT_FALSE(ZSTD_isError(n));
  frame.resize(n);
  return frame;
}

class WireZstdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.LoadMasterData();
    tablet_ = server_.EnrolTablet("ENT", "ENT tablet");
    for (int i = 0; i < 20; ++i) RecordHandover(tablet_, "A20000" + std::to_string(10 + i));
    batch_ = NextPushBatch(*tablet_.store, 100, server_.clock().now());
  }

  // What the receiver makes of `frame` sent as a batch's records.
  core::Status Receive(const std::string& frame) {
    v1::PushBatch b = batch_;
    b.clear_records();
    b.set_records_zstd(frame);
    return sync::UnpackRecords(b);
  }

  TestServer server_;
  Tablet tablet_;
  v1::PushBatch batch_;
};

TEST_F(WireZstdTest, APackedBatchUnpacksToTheSameRecordsInFewerBytes) {
  v1::PushBatch sent = batch_;
  sync::PackRecords(sent);
  EXPECT_FALSE(sent.has_records());
  ASSERT_FALSE(sent.records_zstd().empty());
  EXPECT_LT(sent.records_zstd().size(), batch_.records().ByteSizeLong() * 3 / 4);
  ASSERT_TRUE(sync::UnpackRecords(sent).ok());
  EXPECT_TRUE(sent.records_zstd().empty());
  EXPECT_EQ(sent.records().changes_size(), 1 + 40);  // the stock receipt, then 20 families served
  EXPECT_EQ(sent.SerializeAsString(), batch_.SerializeAsString());
}

TEST_F(WireZstdTest, AnEmptyBatchAndAPlainOneAreLeftAsTheyAre) {
  v1::PushBatch empty;
  empty.set_first_seq(7);
  sync::PackRecords(empty);
  EXPECT_TRUE(empty.records_zstd().empty());
  v1::PushBatch plain = batch_;
  ASSERT_TRUE(sync::UnpackRecords(plain).ok());
  EXPECT_EQ(plain.SerializeAsString(), batch_.SerializeAsString());
}

TEST_F(WireZstdTest, FramesASenderWouldNotMakeAreRefused) {
  const std::string plain = batch_.records().SerializeAsString();
  const std::string good = Frame(plain);
  ASSERT_TRUE(Receive(good).ok());

  struct Bad {
    std::string frame;
    std::string says;
  };
  // Made from the good frame with one byte of its compressed content changed, so that its
  // header (and stated size) still holds.
  std::string altered = good;
  altered[altered.size() / 2] = static_cast<char>(altered[altered.size() / 2] ^ 0x5a);
  const std::vector<Bad> bad = {
      {plain, "not a zstd frame"},
      {good.substr(0, good.size() - 1), "not a zstd frame"},
      {good + good, "more than one zstd frame"},
      {Frame(plain, /*state_size=*/false), "does not state the size"},
      {Frame(plain, true, /*checksum=*/false), "carries no checksum"},
      {altered, "is damaged"},
      {Frame(std::string(sync::kMaxInflatedRecordsBytes + 1, '\0')), "at most 16777216"},
      {Frame("\xff\xff\xff\xff"), "does not hold a record batch"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const core::Status s = Receive(bad[i].frame);
    EXPECT_EQ(s.code(), core::Code::kInvalidArgument) << i << ": " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(bad[i].says)) << i;
  }

  v1::PushBatch both = batch_;
  both.set_records_zstd(good);
  const core::Status twice = sync::UnpackRecords(both);
  EXPECT_EQ(twice.code(), core::Code::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("both records and records_zstd"));
}

}  // namespace
}  // namespace kitsync::synctest

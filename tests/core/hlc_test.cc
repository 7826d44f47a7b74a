#include "kitsync/core/hlc.h"

#include <gtest/gtest.h>

#include "kitsync/core/status.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::ManualClock;

TEST(HlcTest, PackedValuesOrderLikeThePair) {
  Hlc a{1000, 5}, b{1000, 6}, c{1001, 0};
  EXPECT_LT(a.Pack(), b.Pack());
  EXPECT_LT(b.Pack(), c.Pack());
  EXPECT_EQ(Hlc::Unpack(b.Pack()), b);
}

TEST(HlcTest, FollowsTheWallClockWhenItMovesForward) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc first = clock.Now();
  EXPECT_EQ(first.physical_ms, *wall.now_ms);
  EXPECT_EQ(first.logical, 0u);
  wall.Advance(5);
  Hlc second = clock.Now();
  EXPECT_EQ(second.physical_ms, *wall.now_ms);
  EXPECT_EQ(second.logical, 0u);
}

TEST(HlcTest, CountsLogicallyWithinOneMillisecond) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc a = clock.Now(), b = clock.Now(), c = clock.Now();
  EXPECT_EQ(a.physical_ms, c.physical_ms);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(HlcTest, NeverGoesBackWhenTheWallClockJumpsBack) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc before = clock.Now();
  wall.Advance(-3'600'000);  // an officer "fixes" the clock by an hour
  Hlc after = clock.Now();
  EXPECT_GT(after, before);
  EXPECT_EQ(after.physical_ms, before.physical_ms);
  // When the wall clock catches up again, the HLC follows it.
  wall.Advance(3'600'000 + 10);
  EXPECT_EQ(clock.Now().physical_ms, *wall.now_ms);
}

TEST(HlcTest, StaysMonotonicAfterTheWallClockJumpsFarAheadAndBack) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  const int64_t start = *wall.now_ms;
  wall.Advance(int64_t{365} * 24 * 3'600'000);  // a dead RTC battery: one year ahead
  Hlc far = clock.Now();
  wall.Set(start + 1);
  Hlc back = clock.Now();
  EXPECT_GT(back, far);
  EXPECT_EQ(back.physical_ms, far.physical_ms);
}

TEST(HlcTest, BorrowsAMillisecondInsteadOfWrappingTheCounter) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock(), Hlc{*wall.now_ms, Hlc::kMaxLogical});
  Hlc next = clock.Now();
  EXPECT_EQ(next.physical_ms, *wall.now_ms + 1);
  EXPECT_EQ(next.logical, 0u);
}

TEST(HlcTest, ObservedRemoteTimestampOrdersLaterLocalEvents) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc remote{*wall.now_ms + 2'000, 7};  // another tablet, 2 s ahead
  ASSERT_TRUE(clock.Observe(remote, 60'000).ok());
  EXPECT_GT(clock.Now(), remote);
}

TEST(HlcTest, RefusesRemoteClockBeyondTheAllowedSkew) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc before = clock.Now();
  Status s = clock.Observe(Hlc{*wall.now_ms + 3'600'000, 0}, 60'000);
  EXPECT_EQ(s.code(), Code::kOutOfRange);
  EXPECT_NE(s.message().find("ahead"), std::string::npos);
  // Not absorbed: the next local event stays near this wall clock.
  EXPECT_LT(clock.Now().physical_ms, before.physical_ms + 60'000);
}

TEST(HlcTest, RaiseToOrdersAfterAnotherWritersTimestamp) {
  ManualClock wall;
  HlcClock clock(wall.AsWallClock());
  Hlc other{*wall.now_ms + 50, 3};
  clock.RaiseTo(other);
  EXPECT_GT(clock.Now(), other);
}

TEST(HlcTest, FormatsAsUtcWithCounter) {
  EXPECT_EQ((Hlc{0, 3}).ToString(), "1970-01-01T00:00:00.000Z+3");
}

}  // namespace
}  // namespace kitsync::core

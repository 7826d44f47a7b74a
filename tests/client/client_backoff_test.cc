// The retry policy, without a clock.
#include "kitsync/sync/client_backoff.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <limits>

namespace kitsync::sync {
namespace {

using std::chrono::milliseconds;

BackoffPolicy Policy(Jitter jitter) {
  BackoffPolicy p;
  p.initial = milliseconds(1000);
  p.multiplier = 2.0;
  p.max = milliseconds(300'000);
  p.jitter = jitter;
  return p;
}

TEST(BackoffTest, WithoutJitterDoublesFromInitialUpToMax) {
  const BackoffPolicy p = Policy(Jitter::kNone);
  EXPECT_EQ(BackoffDelay(p, 0, 0.5), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 1, 0.5), milliseconds(2000));
  EXPECT_EQ(BackoffDelay(p, 4, 0.5), milliseconds(16'000));
  EXPECT_EQ(BackoffDelay(p, 8, 0.5), milliseconds(256'000));
  EXPECT_EQ(BackoffDelay(p, 9, 0.5), milliseconds(300'000));
  EXPECT_EQ(BackoffDelay(p, 50, 0.5), milliseconds(300'000));
}

TEST(BackoffTest, CeilingNeverFallsAsAttemptsGrow) {
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kDecorrelated}) {
    const BackoffPolicy p = Policy(j);
    milliseconds previous(0);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const milliseconds ceiling = BackoffCeiling(p, attempt);
      EXPECT_GE(ceiling, previous) << "attempt " << attempt;
      EXPECT_LE(ceiling, p.max);
      previous = ceiling;
    }
  }
}

TEST(BackoffTest, AttemptZeroWithTheLowestDrawIsTheInitialDelay) {
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kDecorrelated}) {
    EXPECT_EQ(BackoffDelay(Policy(j), 0, 0.0), milliseconds(1000));
  }
}

TEST(BackoffTest, FullJitterStaysBetweenInitialAndTheCeiling) {
  const BackoffPolicy p = Policy(Jitter::kFull);
  for (int attempt = 0; attempt < 40; ++attempt) {
    for (double unit : {0.0, 0.1, 0.5, 0.9, 0.999999}) {
      const milliseconds d = BackoffDelay(p, attempt, unit);
      EXPECT_GE(d, p.initial) << attempt << " " << unit;
      EXPECT_LE(d, BackoffCeiling(p, attempt)) << attempt << " " << unit;
    }
  }
  // The draw spreads delays across the whole window.
  EXPECT_EQ(BackoffDelay(p, 3, 0.0), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 3, 0.5), milliseconds(4500));
  EXPECT_GT(BackoffDelay(p, 3, 0.999), milliseconds(7900));
}

TEST(BackoffTest, DecorrelatedJitterStaysBetweenInitialAndThreeTimesThePreviousCeiling) {
  const BackoffPolicy p = Policy(Jitter::kDecorrelated);
  for (int attempt = 0; attempt < 40; ++attempt) {
    const milliseconds upper =
        std::min(p.max, 3 * BackoffCeiling(p, attempt == 0 ? 0 : attempt - 1));
    for (double unit : {0.0, 0.25, 0.75, 0.999999}) {
      const milliseconds d = BackoffDelay(p, attempt, unit);
      EXPECT_GE(d, p.initial);
      EXPECT_LE(d, upper) << attempt << " " << unit;
    }
  }
}

TEST(BackoffTest, HugeAttemptsAndMultipliersSaturateAtMax) {
  for (Jitter j : {Jitter::kNone, Jitter::kFull, Jitter::kDecorrelated}) {
    BackoffPolicy p = Policy(j);
    EXPECT_LE(BackoffDelay(p, INT_MAX, 0.999), p.max);
    EXPECT_GE(BackoffDelay(p, INT_MAX, 0.0), p.initial);
    p.multiplier = 1e300;
    EXPECT_LE(BackoffDelay(p, 1000, 0.999), p.max);
    p.multiplier = std::numeric_limits<double>::infinity();
    EXPECT_LE(BackoffDelay(p, 3, 0.999), p.max);
  }
  EXPECT_EQ(BackoffDelay(Policy(Jitter::kNone), INT_MAX, 0), milliseconds(300'000));
}

TEST(BackoffTest, NegativeAttemptIsTheFirst) {
  EXPECT_EQ(BackoffDelay(Policy(Jitter::kNone), -5, 0.5), milliseconds(1000));
}

TEST(BackoffTest, DrawsOutsideTheUnitIntervalAreClamped) {
  const BackoffPolicy p = Policy(Jitter::kFull);
  EXPECT_EQ(BackoffDelay(p, 5, -3.0), p.initial);
  EXPECT_EQ(BackoffDelay(p, 5, std::nan("")), p.initial);
  EXPECT_LE(BackoffDelay(p, 5, 1.0), BackoffCeiling(p, 5));
  EXPECT_LE(BackoffDelay(p, 5, 42.0), BackoffCeiling(p, 5));
  EXPECT_GE(BackoffDelay(p, 5, 42.0), BackoffCeiling(p, 5) - milliseconds(1));
}

TEST(BackoffTest, ShrinkingOrOddPoliciesStillGiveSaneDelays) {
  BackoffPolicy p = Policy(Jitter::kNone);
  p.multiplier = 0.5;  // taken as 1: never shrinks
  EXPECT_EQ(BackoffDelay(p, 10, 0), milliseconds(1000));
  p.multiplier = 2;
  p.max = milliseconds(10);  // below initial: initial wins
  EXPECT_EQ(BackoffDelay(p, 10, 0), milliseconds(1000));
  p.initial = milliseconds(-5);
  p.max = milliseconds(-5);
  EXPECT_EQ(BackoffDelay(p, 3, 0.5), milliseconds(0));
}

}  // namespace
}  // namespace kitsync::sync

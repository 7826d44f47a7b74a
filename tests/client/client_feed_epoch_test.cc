// Where a tablet's pull cursor goes when the server's feed is of another epoch than the one the
// cursor belongs to: back to where the two feeds are known to agree, and never forward.
#include "kitsync/sync/client_feed_epoch.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace kitsync::testing {
namespace {

using sync::PullCursorForEpoch;

// A status naming the epochs (ID, start), oldest first; the last is the current one.
v1::StatusResponse Epochs(const std::vector<std::pair<std::string, uint64_t>>& epochs) {
  v1::StatusResponse s;
  for (size_t i = 0; i + 1 < epochs.size(); ++i) {
    v1::FeedEpoch* e = s.add_earlier_feed_epochs();
    e->set_id(epochs[i].first);
    e->set_start_seq(epochs[i].second);
  }
  s.set_feed_epoch(epochs.back().first);
  s.set_feed_epoch_start_seq(epochs.back().second);
  return s;
}

TEST(PullCursorForEpochTest, TheSameEpochKeepsTheCursor) {
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}}), "e1", 500), 500);
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}, {"e2", 100}}), "e2", 500), 500);
}

TEST(PullCursorForEpochTest, ACursorFromBeforeTheRestoreGoesBackToTheCopysHead) {
  const v1::StatusResponse restored = Epochs({{"e1", 0}, {"e2", 100}});
  EXPECT_EQ(PullCursorForEpoch(restored, "e1", 130), 100);  // pulled past the copy
  EXPECT_EQ(PullCursorForEpoch(restored, "e1", 100), 100);
  EXPECT_EQ(PullCursorForEpoch(restored, "e1", 40), 40);  // everything it holds is shared
}

TEST(PullCursorForEpochTest, ATabletThatNeverPulledStaysAtTheStart) {
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}, {"e2", 100}}), "", 0), 0);
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}, {"e2", 100}}), "e1", 0), 0);
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}}), "", 0), 0);
}

// A cursor recorded by a tablet from before epochs belongs to the server's first epoch.
TEST(PullCursorForEpochTest, NoRecordedEpochMeansTheFirst) {
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}}), "", 300), 300);
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}, {"e2", 100}}), "", 300), 100);
}

// Restored twice while the tablet was away: its entries after the first restore's start are
// the first epoch's, which the second epoch never held, even below the second restore's start.
TEST(PullCursorForEpochTest, TwoRestoresGoBackToWhereTheTabletsEpochEnded) {
  const v1::StatusResponse twice = Epochs({{"e1", 0}, {"e2", 150}, {"e3", 180}});
  EXPECT_EQ(PullCursorForEpoch(twice, "e1", 170), 150);
  EXPECT_EQ(PullCursorForEpoch(twice, "e2", 170), 170);
  EXPECT_EQ(PullCursorForEpoch(twice, "e2", 200), 180);
  // The same copy restored twice: two epochs beginning at one point.
  const v1::StatusResponse same_point = Epochs({{"e1", 0}, {"e2", 150}, {"e3", 150}});
  EXPECT_EQ(PullCursorForEpoch(same_point, "e2", 170), 150);
}

// An epoch this server does not descend from (another restore of an older copy, a server of
// another programme): nothing is known to be shared, so the whole feed comes again.
TEST(PullCursorForEpochTest, AnUnknownEpochStartsOver) {
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}, {"e2", 100}}), "x9", 130), 0);
  EXPECT_EQ(PullCursorForEpoch(Epochs({{"e1", 0}}), "x9", 30), 0);
}

}  // namespace
}  // namespace kitsync::testing

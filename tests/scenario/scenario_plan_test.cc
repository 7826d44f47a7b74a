// The scenario's plan: the same seed gives the same day, and the day is the one the run's checks
// assume (the stock warning exactly where planned, the counts the options ask for).
#include "plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

namespace kitsync::scenario {
namespace {

std::string Flatten(const Plan& plan) {
  std::string out;
  for (const TabletPlan& t : plan.tablets) {
    for (const DayLine& line : t.day) {
      for (const std::string& a : line.args) out += a + " ";
      out += "\n";
    }
  }
  for (int p : plan.reconnect_order) out += std::to_string(p);
  return out;
}

Plan Make(PlanOptions options) {
  std::string error;
  Plan plan = MakePlan(options, error);
  EXPECT_TRUE(error.empty()) << error;
  return plan;
}

TEST(ScenarioPlanTest, SameSeedSameDayAndAnotherSeedAnotherDay) {
  PlanOptions options;
  options.handovers = 400;
  const std::string first = Flatten(Make(options));
  EXPECT_EQ(Flatten(Make(options)), first);
  options.seed += 1;
  EXPECT_NE(Flatten(Make(options)), first);
}

TEST(ScenarioPlanTest, DayHoldsTheRequestedHandoversAndEveryPlannedEvent) {
  for (int posts = 2; posts <= 5; ++posts) {
    PlanOptions options;
    options.posts = posts;
    options.tablets_per_post = posts % 2 == 0 ? 2 : 3;
    options.handovers = 120 * posts * options.tablets_per_post + 7;
    const Plan plan = Make(options);
    ASSERT_EQ(plan.posts.size(), static_cast<size_t>(posts));
    int planned = 0;
    int overrides = 0;
    int mistaken = 0;
    std::map<std::string, int> registrations;  // document -> tablets registering it
    for (const TabletPlan& t : plan.tablets) {
      planned += t.planned_handovers;
      int in_day = 0;
      for (const DayLine& line : t.day) {
        in_day += line.is_handover;
        overrides += line.expect == DayLine::Expect::kNeedsOverride;
        mistaken += line.mistaken;
        if (line.args[0] == "register") ++registrations[line.args[2]];
      }
      // Only the afternoon's handover to the right family is outside the day's lines.
      const bool has_mistake =
          std::any_of(t.day.begin(), t.day.end(), [](const DayLine& l) { return l.mistaken; });
      EXPECT_EQ(t.planned_handovers, in_day + (has_mistake ? 1 : 0)) << t.name;
    }
    EXPECT_EQ(planned, options.handovers) << posts << " posts";
    EXPECT_EQ(overrides, plan.overrides);
    EXPECT_EQ(mistaken, 1);
    EXPECT_EQ(registrations[plan.duplicate_doc], 2);
    for (const std::string& doc : plan.two_post_docs) EXPECT_EQ(registrations[doc], 2) << doc;
    int twice = 0;
    for (const auto& [doc, count] : registrations) twice += count > 1;
    EXPECT_EQ(twice, options.two_post_families + 1) << "no other family registered twice";
  }
}

TEST(ScenarioPlanTest, OnlyTheShortPostsFirstTabletHandsOutBeyondItsDispatch) {
  PlanOptions options;
  options.handovers = 1003;
  const Plan plan = Make(options);
  int64_t dispatched = 0;
  for (const PostPlan& post : plan.posts) {
    dispatched += post.dispatched;
    for (const TabletPlan& t : plan.tablets) {
      if (t.post_code != post.code) continue;
      const bool first_of_short = post.runs_short && t.number == 1;
      if (first_of_short) {
        EXPECT_EQ(t.planned_handovers, post.dispatched + plan.overrides) << t.name;
      } else {
        EXPECT_LT(t.planned_handovers, post.dispatched) << t.name;
      }
    }
  }
  EXPECT_LE(dispatched, options.kits);
}

TEST(ScenarioPlanTest, IncoherentOptionsAreRefusedWithAReason) {
  const auto refused = [](PlanOptions options) {
    std::string error;
    const Plan plan = MakePlan(options, error);
    EXPECT_TRUE(plan.posts.empty());
    return error;
  };
  PlanOptions one_post;
  one_post.posts = 1;
  EXPECT_NE(refused(one_post).find("--posts"), std::string::npos);
  PlanOptions one_tablet;
  one_tablet.tablets_per_post = 1;
  EXPECT_NE(refused(one_tablet).find("--tablets"), std::string::npos);
  PlanOptions too_few;
  too_few.handovers = 10;
  EXPECT_NE(refused(too_few).find("--handovers"), std::string::npos);
  PlanOptions too_few_kits;
  too_few_kits.kits = 500;
  EXPECT_NE(refused(too_few_kits).find("--kits"), std::string::npos);
}

}  // namespace
}  // namespace kitsync::scenario

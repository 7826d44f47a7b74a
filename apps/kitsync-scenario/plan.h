// What the border distribution will be, decided before anything runs: the master data, what the
// centre dispatches, and each tablet's offline day, line by line. A pure function of the options
// and the seed, so a run is replayed exactly with the same `--seed`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kitsync::scenario {

struct PlanOptions {
  uint64_t seed = 20261128;
  int posts = 5;              // 2..5: Entikong, Nunukan, Atambua, Tanjung Pinang, Dumai
  int tablets_per_post = 2;   // 2..4
  int handovers = 3000;       // the day's handovers at all posts together
  int kits = 10000;           // hygiene kits the centre receives
  int two_post_families = 4;  // families registered and served at two posts
};

inline constexpr char kRound[] = "HYG-2026-11";
inline constexpr char kHygieneKit[] = "HYG-KIT";
inline constexpr char kCentralPost[] = "HQ";
inline constexpr char kCentralOfficer[] = "HQ-OF-01";

// One command of a tablet's day, as `kitsync batch` takes it.
struct DayLine {
  enum class Expect {
    kDone,           // exit 0
    kNeedsOverride,  // exit 3: the officer is warned; the next line records it with a reason
  };
  std::vector<std::string> args;
  Expect expect = Expect::kDone;
  bool is_handover = false;  // a `record` expected to write a handover
  bool mistaken = false;     // voided in the afternoon and recorded again for `meant_for`
  std::string meant_for;     // document number of the family the kit really went to
};

struct TabletPlan {
  std::string post_code;
  int number = 1;          // 1-based within the post
  std::string name;        // "ENT tablet 1"
  std::string file;        // database file name, e.g. "ent-1.db"
  std::string officer;     // who records on it
  std::vector<DayLine> day;
  int planned_handovers = 0;  // handovers the day's lines write (overrides included)
};

struct PostPlan {
  std::string code;
  std::string name;
  int64_t dispatched = 0;  // hygiene kits sent from HQ before the day
  bool runs_short = false;
};

// A beneficiary registered while the link is up, then corrected offline at the post while the
// centre corrects the same field.
struct CorrectionPlan {
  std::string post_code;
  int tablet_index = 0;  // into Plan::tablets
  std::string doc_number;
  std::string name;
  std::string phone_at_post;
  std::string phone_at_centre;
};

struct Plan {
  PlanOptions options;
  std::vector<PostPlan> posts;
  std::vector<TabletPlan> tablets;
  std::string master_json;
  CorrectionPlan correction;
  std::string short_post;         // the post that runs out of stock
  int overrides = 0;              // handovers recorded past the stock warning there
  std::string duplicate_doc;      // registered on two tablets of posts[0]
  std::vector<std::string> two_post_docs;
  std::vector<int> reconnect_order;  // post indexes, the order links come back
  int kill_tablet = 0;               // the tablet killed in the middle of its sync
};

// The plan, or an empty `posts` with `error` set when the options cannot make a coherent day
// (e.g. more handovers than kits).
Plan MakePlan(const PlanOptions& options, std::string& error);

}  // namespace kitsync::scenario

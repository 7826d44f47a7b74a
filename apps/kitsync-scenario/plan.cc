#include "plan.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

namespace kitsync::scenario {
namespace {

struct PostName {
  const char* code;
  const char* name;
};
constexpr PostName kPosts[] = {{"ENT", "Entikong"},
                               {"NUN", "Nunukan"},
                               {"ATA", "Atambua"},
                               {"TPI", "Tanjung Pinang"},
                               {"DUM", "Dumai"}};

constexpr const char* kFirstNames[] = {
    "Siti", "Rudi", "Dewi", "Agus", "Nur", "Yohanes", "Sri", "Budi", "Wati", "Maria",
    "Andi", "Fitri", "Joko", "Rina", "Hasan", "Lina", "Dedi", "Ratna", "Eko", "Yuni",
    "Fransiskus", "Ani", "Slamet", "Tuti", "Bambang", "Imelda", "Kornelis", "Halimah"};
constexpr const char* kLastNames[] = {"Aminah", "Hartono", "Sartika", "Salim", "Halimah",
                                      "Nahak",  "Wahyuni", "Santoso", "Susanti", "Bere",
                                      "Lake",   "Siregar", "Nainggolan", "Manek", "Rahman"};
constexpr const char* kProxies[] = {"mother", "husband", "wife", "brother", "daughter"};

// Handovers past the stock warning at the post that runs short.
constexpr int kOverrides = 3;

class Day {
 public:
  explicit Day(uint64_t seed) : rng_(seed) {}

  std::string NextDoc() {
    char buf[16];
    std::snprintf(buf, sizeof buf, "P%07d", 4000000 + ++docs_);
    return buf;
  }
  std::string Name() {
    return std::string(Pick(kFirstNames)) + " " + Pick(kLastNames);
  }
  std::string Phone() {
    char buf[24];
    std::snprintf(buf, sizeof buf, "+62 81%d %04d %04d", Int(1, 9), Int(0, 9999), Int(0, 9999));
    return buf;
  }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <size_t N>
  const char* Pick(const char* const (&list)[N]) {
    return list[Int(0, static_cast<int>(N) - 1)];
  }
  std::mt19937_64& rng() { return rng_; }

  DayLine Register(const std::string& doc, const std::string& name) {
    DayLine line;
    line.args = {"register", "--doc-number", doc, "--name", name, "--household-size",
                 std::to_string(Int(1, 7))};
    if (Chance(0.3)) line.args.insert(line.args.end(), {"--phone", Phone()});
    return line;
  }

  DayLine Record(const std::string& doc, const std::string& officer) {
    DayLine line;
    line.args = {"record",  "--round",   kRound,  "--doc-number",        doc,
                 "--kit",   kHygieneKit, "--officer", officer, "--proof", "signature:sig-" + doc,
                 "--consent"};
    if (Chance(0.05)) line.args.insert(line.args.end(), {"--proxy", Pick(kProxies)});
    line.is_handover = true;
    return line;
  }

 private:
  std::mt19937_64 rng_;
  int docs_ = 0;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string MasterJson(const std::vector<PostPlan>& posts, int tablets_per_post) {
  using nlohmann::json;
  json post_list = json::array({{{"code", kCentralPost}, {"name", "Central warehouse"}}});
  json officers = json::array(
      {{{"code", kCentralOfficer}, {"name", "Dewi Anggraini"}, {"post", kCentralPost},
        {"role", "admin"}}});
  for (const PostPlan& p : posts) {
    post_list.push_back({{"code", p.code}, {"name", p.name}});
    for (int t = 1; t <= tablets_per_post; ++t) {
      officers.push_back({{"code", p.code + "-OF-0" + std::to_string(t)},
                          {"name", std::string("Officer ") + std::to_string(t) + " of " + p.name},
                          {"post", p.code},
                          {"role", "officer"}});
    }
    officers.push_back({{"code", p.code + "-SV-01"},
                        {"name", "Supervisor of " + p.name},
                        {"post", p.code},
                        {"role", "supervisor"}});
  }
  const json master = {
      {"kit_types",
       json::array({{{"code", kHygieneKit}, {"name", "Hygiene kit"}, {"unit", "kit"}},
                    {{"code", "PPE-SET"}, {"name", "Protective-equipment set"}, {"unit", "set"}}})},
      {"posts", post_list},
      {"officers", officers},
      {"rounds",
       json::array({{{"code", kRound},
                     {"name", "Hygiene kits for returning workers, November 2026"},
                     {"requires_proof", true},
                     {"entitlements",
                      json::array({{{"kit_type", kHygieneKit}, {"max_per_beneficiary", 1}}})}}})},
  };
  return master.dump(2);
}

}  // namespace

Plan MakePlan(const PlanOptions& options, std::string& error) {
  Plan plan;
  plan.options = options;
  const int P = options.posts;
  const int T = options.tablets_per_post;
  if (P < 2 || P > 5) {
    error = "--posts must be 2 to 5: families served at two posts need two posts";
    return {};
  }
  if (T < 2 || T > 4) {
    error = "--tablets must be 2 to 4: a duplicate registration needs two tablets at a post";
    return {};
  }
  if (options.two_post_families < 1 || options.two_post_families > 50) {
    error = "--two-post-families must be 1 to 50";
    return {};
  }
  const int per_tablet_min = 2 * options.two_post_families + 12;
  if (options.handovers < P * T * per_tablet_min || options.handovers > 200000) {
    error = "--handovers must be " + std::to_string(P * T * per_tablet_min) +
            " to 200000 for " + std::to_string(P) + " posts of " + std::to_string(T) + " tablets";
    return {};
  }
  Day day(options.seed);

  for (int p = 0; p < P; ++p) plan.posts.push_back({kPosts[p].code, kPosts[p].name, 0, false});
  const int short_index = P - 1;
  plan.posts[short_index].runs_short = true;
  plan.short_post = plan.posts[short_index].code;
  plan.overrides = kOverrides;

  // How many handovers each tablet writes: an even share, the rest on the first tablets. The
  // short post's first tablet serves kOverrides more than its dispatch; its other tablets stay
  // within it (taking theirs to the first post), so only that one tablet sees the warning.
  std::vector<int> share(P * T, options.handovers / (P * T));
  for (int i = 0; i < options.handovers % (P * T); ++i) ++share[i];
  const int short_first = short_index * T;
  for (int t = 1; t < T; ++t) {
    const int cap = share[short_first] - kOverrides - 1;
    if (share[short_first + t] > cap) {
      share[0] += share[short_first + t] - cap;
      share[short_first + t] = cap;
    }
  }
  for (int p = 0; p < P; ++p) {
    for (int t = 0; t < T; ++t) {
      TabletPlan tablet;
      tablet.post_code = plan.posts[p].code;
      tablet.number = t + 1;
      tablet.name = tablet.post_code + " tablet " + std::to_string(t + 1);
      tablet.file = Lower(tablet.post_code) + "-" + std::to_string(t + 1) + ".db";
      tablet.officer = tablet.post_code + "-OF-0" + std::to_string(t + 1);
      plan.tablets.push_back(std::move(tablet));
    }
  }
  auto tablet_of = [&](int post, int t) -> TabletPlan& { return plan.tablets[post * T + t]; };
  auto serve = [&](TabletPlan& tablet, const std::string& doc) {
    tablet.day.push_back(day.Record(doc, tablet.officer));
    ++tablet.planned_handovers;
  };

  // Families who cross back at one post and are served again at the next.
  for (int f = 0; f < options.two_post_families; ++f) {
    const std::string doc = day.NextDoc();
    const std::string name = day.Name();
    plan.two_post_docs.push_back(doc);
    for (int side = 0; side < 2; ++side) {
      TabletPlan& tablet = tablet_of((f + side) % P, (f + side) % T);
      tablet.day.push_back(day.Register(doc, name));
      serve(tablet, doc);
    }
  }
  // One family registered at both counters of the first post on a busy morning; served once.
  plan.duplicate_doc = day.NextDoc();
  {
    const std::string name = day.Name();
    tablet_of(0, 0).day.push_back(day.Register(plan.duplicate_doc, name));
    serve(tablet_of(0, 0), plan.duplicate_doc);
    tablet_of(0, 1).day.push_back(day.Register(plan.duplicate_doc, name));
  }
  // The beneficiary corrected at the second post while the centre corrects the same field. The
  // driver registers them while the link is up; the day corrects and serves them.
  {
    CorrectionPlan& c = plan.correction;
    c.post_code = plan.posts[1].code;
    c.tablet_index = 1 * T;
    c.doc_number = day.NextDoc();
    c.name = day.Name();
    c.phone_at_post = day.Phone();
    c.phone_at_centre = day.Phone();
    TabletPlan& tablet = plan.tablets[c.tablet_index];
    DayLine correct;
    correct.args = {"correct", "{correction-beneficiary}", "--phone", c.phone_at_post,
                    "--officer", tablet.officer};
    tablet.day.push_back(correct);
    serve(tablet, c.doc_number);
  }
  // A kit recorded under the wrong family at the third post's last tablet: voided in the
  // afternoon and recorded for the right one.
  {
    TabletPlan& tablet = tablet_of(2 % P, T - 1);
    const std::string wrong = day.NextDoc();
    const std::string right = day.NextDoc();
    tablet.day.push_back(day.Register(wrong, day.Name()));
    tablet.day.push_back(day.Register(right, day.Name()));
    serve(tablet, wrong);
    tablet.day.back().mistaken = true;
    tablet.day.back().meant_for = right;
    ++tablet.planned_handovers;  // the afternoon's handover to the right family
  }
  // Everybody else: a new family, registered and served.
  for (int i = 0; i < P * T; ++i) {
    TabletPlan& tablet = plan.tablets[i];
    const bool overriding = i == short_first;
    while (tablet.planned_handovers < share[i]) {
      const std::string doc = day.NextDoc();
      tablet.day.push_back(day.Register(doc, day.Name()));
      if (overriding && share[i] - tablet.planned_handovers <= kOverrides) {
        DayLine warned = day.Record(doc, tablet.officer);
        warned.is_handover = false;
        warned.expect = DayLine::Expect::kNeedsOverride;
        DayLine overridden = warned;
        overridden.expect = DayLine::Expect::kDone;
        overridden.is_handover = true;
        overridden.args.insert(overridden.args.end(),
                               {"--override-reason",
                                "kits from a carton that arrived without a waybill"});
        overridden.args[8] = plan.posts[short_index].code + "-SV-01";  // --officer
        tablet.day.push_back(std::move(warned));
        tablet.day.push_back(std::move(overridden));
        ++tablet.planned_handovers;
      } else {
        serve(tablet, doc);
      }
    }
  }

  // Dispatches: the short post gets kOverrides fewer kits than its first tablet hands out; the
  // others get their day's need with a margin, rounded up to a pallet of 50.
  int64_t dispatched = 0;
  for (int p = 0; p < P; ++p) {
    int64_t need = 0;
    for (int t = 0; t < T; ++t) need += tablet_of(p, t).planned_handovers;
    if (p == short_index) {
      plan.posts[p].dispatched = tablet_of(p, 0).planned_handovers - kOverrides;
    } else {
      plan.posts[p].dispatched = (need * 5 / 4 + 49) / 50 * 50;
    }
    dispatched += plan.posts[p].dispatched;
  }
  if (dispatched > options.kits) {
    error = "--kits " + std::to_string(options.kits) + " is too few: the posts need " +
            std::to_string(dispatched) + " for " + std::to_string(options.handovers) +
            " handovers";
    return {};
  }

  for (int p = 0; p < P; ++p) plan.reconnect_order.push_back(p);
  std::shuffle(plan.reconnect_order.begin(), plan.reconnect_order.end(), day.rng());
  plan.kill_tablet = plan.reconnect_order.front() * T;
  plan.master_json = MasterJson(plan.posts, T);
  return plan;
}

}  // namespace kitsync::scenario

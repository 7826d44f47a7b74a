// kitsync-scenario: a border distribution, end to end, with the real programs. The README's
// first command runs it; `--help` lists the sizes, the seed and the link it can be given.
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "plan.h"
#include "scenario.h"

namespace {

// The build puts the programs side by side: <apps>/kitsync/kitsync, <apps>/kitsync-scenario/...
std::string DefaultBinDir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "build/apps";
  return self.parent_path().parent_path().string();
}

std::string NewWorkDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/kitsync-scenario.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kitsync::scenario;
  using std::chrono::milliseconds;
  CLI::App app{
      "kitsync-scenario: a day of relief-kit distribution at border posts, end to end. A central "
      "server starts, tablets are enrolled, the posts work offline, their links come back "
      "degraded, the office resolves the conflicts, and the stock must reconcile exactly."};
  PlanOptions plan_options;
  RunOptions run;
  int64_t latency_min_ms = 30;
  int64_t latency_max_ms = 150;
  int64_t kib_per_second = 64;
  double stall_percent = 2.0;
  double cut_percent = 0.2;
  int64_t gap_ms = 1500;
  app.add_option("--seed", plan_options.seed, "Seed of everything random; the same seed, the "
                                              "same day")
      ->capture_default_str();
  app.add_option("--posts", plan_options.posts, "Border posts (2-5)")
      ->check(CLI::Range(2, 5))
      ->capture_default_str();
  app.add_option("--tablets", plan_options.tablets_per_post, "Tablets per post (2-4)")
      ->check(CLI::Range(2, 4))
      ->capture_default_str();
  app.add_option("--handovers", plan_options.handovers, "Handovers in the day, all posts")
      ->capture_default_str();
  app.add_option("--kits", plan_options.kits, "Hygiene kits the centre receives")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--two-post-families", plan_options.two_post_families,
                 "Families served at two posts (1-50)")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  app.add_option("--work-dir", run.work_dir,
                 "Where the server's data, the tablets and the logs go, kept afterwards "
                 "(default: a new directory under $TMPDIR or /tmp, removed after a run where "
                 "everything held unless --keep)");
  bool keep = false;
  app.add_flag("--keep", keep, "Keep the default work directory after a run where everything held");
  app.add_option("--bin-dir", run.bin_dir,
                 "Directory holding kitsync/kitsync, kitsync-server/kitsync-server and "
                 "kitsync-admin/kitsync-admin (default: beside this program)");
  app.add_option("--latency-min-ms", latency_min_ms, "Least one-way delay on a degraded link")
      ->check(CLI::Range(0, 5000))
      ->capture_default_str();
  app.add_option("--latency-max-ms", latency_max_ms, "Most one-way delay on a degraded link")
      ->check(CLI::Range(0, 5000))
      ->capture_default_str();
  app.add_option("--bandwidth-kib", kib_per_second,
                 "KiB per second each way on a degraded link (0: unlimited)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--stall-percent", stall_percent,
                 "Chunks held up as by a lost segment's retransmission, in percent")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--cut-percent", cut_percent, "Chunks on which the connection is reset, in percent")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--reconnect-gap-ms", gap_ms, "Time between one post's link coming back and the next")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (latency_min_ms > latency_max_ms) {
    std::cerr << "Error: --latency-min-ms is above --latency-max-ms\n";
    return 2;
  }
  std::string error;
  const Plan plan = MakePlan(plan_options, error);
  if (plan.posts.empty()) {
    std::cerr << "Error: " << error << "\n";
    return 2;
  }
  if (run.bin_dir.empty()) run.bin_dir = DefaultBinDir();
  const bool own_work_dir = run.work_dir.empty();
  if (own_work_dir) run.work_dir = NewWorkDir();
  if (run.work_dir.empty()) {
    std::cerr << "Error: cannot create a work directory\n";
    return 2;
  }
  run.degraded.min_latency = milliseconds(latency_min_ms);
  run.degraded.max_latency = milliseconds(latency_max_ms);
  run.degraded.bytes_per_second = kib_per_second * 1024;
  run.degraded.stall_probability = stall_percent / 100.0;
  run.degraded.stall = milliseconds(400);
  run.degraded.cut_probability = cut_percent / 100.0;
  run.reconnect_gap = milliseconds(gap_ms);
  const int code = RunScenario(plan, run);
  if (code == 0 && own_work_dir && !keep) {
    std::error_code ec;
    std::filesystem::remove_all(run.work_dir, ec);
    std::cout << "(work dir removed; --keep or --work-dir keeps it)\n";
  }
  return code;
}

// The border distribution, run for real: a `kitsync-server` process on its SQLite default, a
// fault-injecting link per post, tablets driven through `kitsync`, and the office through
// `kitsync-admin`. Each step checks what it can; the end checks everything against the server.
#pragma once

#include <chrono>
#include <string>

#include "fault_proxy.h"
#include "plan.h"

namespace kitsync::scenario {

struct RunOptions {
  std::string bin_dir;   // holds kitsync/kitsync, kitsync-server/kitsync-server, ...
  std::string work_dir;  // created if missing; must not hold a previous run
  LinkProfile degraded;  // the links as they come back
  std::chrono::milliseconds reconnect_gap{1500};  // between one post's link and the next
  std::chrono::seconds step_timeout{240};         // the longest any one step may wait
};

// Runs the whole scenario, printing progress and the final report on stdout. Returns 0 when
// every invariant held, 1 when one broke (each broken one is named), 2 when it could not start.
int RunScenario(const Plan& plan, const RunOptions& options);

}  // namespace kitsync::scenario

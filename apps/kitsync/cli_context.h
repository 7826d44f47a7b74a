// What every subcommand shares: the global options, the exit-code contract, the way errors reach
// the officer, and opening the tablet database.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kitsync/core/status.h"
#include "kitsync/core/store.h"

namespace kitsync::cli {

// The exit codes are a contract with scripts that drive the CLI; keep them stable.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNeedsOverride = 3;
inline constexpr int kExitNotFound = 4;

struct GlobalOptions {
  std::string db_path = "kitsync.db";
  bool json = false;
};

// Subcommand callbacks only pick the work; it runs after parsing has finished, so options given
// after the subcommand (e.g. `record ... --json`) are already known.
using Action = std::function<int()>;

// The shared state the command groups register into.
struct Cli {
  GlobalOptions global;
  Action action;
};

int ExitCodeFor(const core::Status& status);

// Prints `what` ("Handover not recorded") and the core's explanation, on stderr and, with
// --json, as an error object on stdout. Returns the exit code for `status`.
int ReportError(const GlobalOptions& global, std::string_view what, const core::Status& status);

// Opens the tablet database at --db. Refuses a path without one instead of letting SQLite create
// an empty file there.
core::Result<std::unique_ptr<core::Store>> OpenStore(const GlobalOptions& global);

// Accepts only a whole number that fits in 64 bits. Without it an out-of-range number would be
// clamped silently before the core ever saw what the officer typed.
CLI::Validator WholeNumber();

// Reads a value an officer types or pipes in (document numbers stay out of shell history).
core::Result<std::string> ReadLineFromStdin(std::string_view what);

}  // namespace kitsync::cli

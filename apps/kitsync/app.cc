#include "app.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "cli_context.h"
#include "commands.h"

namespace kitsync::cli {

int RunKitsync(const std::vector<std::string>& args) {
  CLI::App app{"kitsync: records relief-kit handovers and stock at a border post, offline."};
  app.name("kitsync");
  app.require_subcommand(1);
  // Set before the subcommands are added, which inherit it: global options may then follow the
  // subcommand, as in `kitsync stock show --json`.
  app.fallthrough();
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    std::string message = std::string("Error: ") + e.what() + "\n";
    // A mistyped subcommand otherwise surfaces only as "A subcommand is required".
    if (dynamic_cast<const CLI::ExtrasError*>(&e) == nullptr && !failed->remaining().empty()) {
      message += "Not understood:";
      for (const std::string& arg : failed->remaining()) message += " '" + arg + "'";
      message += "\n";
    }
    return message + "Run with --help for more information.\n";
  });

  Cli cli;
  app.add_option("--db", cli.global.db_path, "Tablet database file")
      ->envname("KITSYNC_DB")
      ->capture_default_str();
  app.add_flag("--json", cli.global.json, "Print machine-readable JSON instead of tables");

  AddSetupCommands(app, cli);
  AddRecordCommands(app, cli);
  AddStockCommands(app, cli);
  AddQueryCommands(app, cli);
  AddSyncCommands(app, cli);
  AddBatchCommand(app, cli);
  AddBackupCommand(app, cli);

  // CLI11 takes a vector of arguments last first.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  if (!cli.action) return kExitBadInput;
  try {
    return cli.action();
  } catch (const std::exception& e) {
    std::cerr << "Error: unexpected failure: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace kitsync::cli

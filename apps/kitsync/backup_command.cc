// `kitsync backup`: a copy of the tablet's database that an officer can carry away (an SD card,
// a laptop), so that handovers not yet uploaded outlive a tablet that breaks, drowns or is lost
// before its link returns. The copy is itself a tablet database: `kitsync --db COPY status`.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_context.h"
#include "commands.h"
#include "output.h"
#include "views.h"

namespace kitsync::cli {
namespace {

int RunBackup(const GlobalOptions& global, const std::string& to) {
  constexpr char kWhat[] = "backup not written";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto copy = (*store)->WriteBackup(to);
  if (!copy.ok()) return ReportError(global, kWhat, copy.status());
  if (global.json) {
    nlohmann::json doc = StatusJson(*copy);
    doc["ok"] = true;
    doc["backup"] = to;
    PrintJson(doc);
  } else {
    std::cout << "Backup written to " << to << " (readable by you alone; it holds this tablet's "
              << "credential: keep it as safe as the tablet).\n";
    PrintStatus(std::cout, *copy);
  }
  if (!copy->chain.ok) {
    std::cerr << "Warning: the change log was already broken on this tablet; the copy is exact. "
                 "Do not sync this tablet; ask for support.\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddBackupCommand(CLI::App& app, Cli& cli) {
  auto to = std::make_shared<std::string>();
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy this tablet's database to a new file while it stays in use");
  backup->add_option("--to", *to, "The new file to write (never replaced if it exists)")
      ->required();
  backup->callback([&cli, to] { cli.action = [&cli, to] { return RunBackup(cli.global, *to); }; });
}

}  // namespace kitsync::cli

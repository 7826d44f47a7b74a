// Registration of the subcommand groups. Each group parses its options into a struct and sets
// Cli::action; main() runs that action once parsing is complete.
#pragma once

#include "cli_context.h"

namespace CLI {
class App;
}

namespace kitsync::cli {

void AddSetupCommands(CLI::App& app, Cli& cli);   // init, master import
void AddRecordCommands(CLI::App& app, Cli& cli);  // register, correct, record, void
void AddStockCommands(CLI::App& app, Cli& cli);   // stock receive|transfer|...|show
void AddQueryCommands(CLI::App& app, Cli& cli);   // handovers, status
void AddSyncCommands(CLI::App& app, Cli& cli);    // enroll, sync
void AddBatchCommand(CLI::App& app, Cli& cli);    // batch
void AddBackupCommand(CLI::App& app, Cli& cli);   // backup

}  // namespace kitsync::cli

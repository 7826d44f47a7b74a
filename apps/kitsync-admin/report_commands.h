// `kitsync-admin report ...`: the central reports (handouts, stock, beneficiaries, reconcile),
// printed as a table, CSV or JSON. Exports carry pseudonymous identifiers only: post, kit type
// and round codes and counts, never a name, a phone number or a document number.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "admin_client.h"

namespace kitsync::admin {

// `report reconcile`: some line does not balance (the report is printed all the same).
inline constexpr int kExitUnbalanced = 3;

struct ReportArgs {
  std::string format = "table";  // table, csv, json
  std::string round;
  std::string post;
  std::string kit;
  std::string since;  // YYYY-MM-DD, UTC
  std::string until;  // YYYY-MM-DD, UTC, included
};

int ReportHandouts(AdminClient& client, const ReportArgs& args);
int ReportStock(AdminClient& client, const ReportArgs& args);
int ReportBeneficiaries(AdminClient& client, const ReportArgs& args);
// Open conflicts counted by kind and severity (only --post filters).
int ReportConflicts(AdminClient& client, const ReportArgs& args);
// kExitOk when every line balances, kExitUnbalanced when one does not.
int ReportReconcile(AdminClient& client, const ReportArgs& args);

// Adds the `report` subcommand and its four reports to `app`; the chosen one is stored in
// `*action`. `args` must outlive the parse and the action.
void AddReportCommands(CLI::App& app, ReportArgs& args, std::function<int(AdminClient&)>* action);

}  // namespace kitsync::admin

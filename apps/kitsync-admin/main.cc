// kitsync-admin: the central office's command line against a kitsync server. Parses arguments
// and hands them to admin_commands.cc.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <string>

#include "admin_client.h"
#include "admin_commands.h"
#include "conflict_commands.h"
#include "report_commands.h"

int main(int argc, char** argv) {
  using namespace kitsync::admin;
  CLI::App app{
      "kitsync-admin: enrol tablets, load master data and move stock on a kitsync "
      "server."};
  app.require_subcommand(1);
  app.fallthrough();

  ConnectionOptions connection;
  if (const char* env = std::getenv("KITSYNC_ADMIN_TOKEN_FILE")) connection.token_file = env;
  app.add_option("--server", connection.server, "Server address, host:port")->capture_default_str();
  app.add_option("--token-file", connection.token_file,
                 "File holding the admin credential (default: $KITSYNC_ADMIN_TOKEN_FILE)");
  app.add_option("--ca", connection.ca_file,
                 "PEM file of the CA that signed the server's "
                 "certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--timeout", connection.timeout_seconds, "Seconds to wait for each call")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--request-id", connection.request_id,
                 "ID of this write (stock, resolve, correct), to repeat one whose outcome was "
                 "unknown without recording it twice; a new one when omitted");

  std::function<int(AdminClient&)> action;

  std::string post;
  uint32_t minutes = 0;
  CLI::App* enrol = app.add_subcommand("enrol-code", "Create a one-time enrolment code");
  enrol->add_option("--post", post, "Post code the tablet will belong to")->required();
  enrol->add_option("--valid-minutes", minutes, "Validity, 1..10080 (default 1440)")
      ->check(CLI::Range(1, 10080));
  enrol->callback([&] { action = [&](AdminClient& c) { return EnrolCode(c, post, minutes); }; });

  bool json = false;
  CLI::App* devices = app.add_subcommand("devices", "List enrolled devices");
  devices->add_flag("--json", json, "Print JSON");
  devices->callback([&] { action = [&](AdminClient& c) { return ListDevices(c, json); }; });

  std::string device_id, reason;
  CLI::App* revoke = app.add_subcommand("revoke", "Revoke a lost or retired device");
  revoke->add_option("DEVICE_ID", device_id, "Device ID, as 'devices' lists it")->required();
  revoke->add_option("--reason", reason, "Why, for the record")->required();
  revoke->callback([&] { action = [&](AdminClient& c) { return Revoke(c, device_id, reason); }; });

  std::string master_file;
  CLI::App* master = app.add_subcommand("master", "Master data");
  master->require_subcommand(1);
  CLI::App* load = master->add_subcommand("load",
                                          "Load a master-data JSON file (as 'kitsync "
                                          "master import' reads)");
  load->add_option("FILE", master_file, "JSON file")->required()->check(CLI::ExistingFile);
  load->callback([&] { action = [&](AdminClient& c) { return LoadMaster(c, master_file); }; });

  StockArgs stock_args;
  CLI::App* stock = app.add_subcommand("stock", "Stock moved by the centre");
  stock->require_subcommand(1);
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--kit", stock_args.kit, "Kit type code")->required();
    cmd->add_option("--officer", stock_args.officer, "Officer code")->required();
    cmd->add_option("--reference", stock_args.reference, "Waybill or shipment number");
  };
  CLI::App* receive = stock->add_subcommand("receive", "Stock received at a post");
  receive->add_option("--post", stock_args.post, "Post code, e.g. HQ")->required();
  receive->add_option("--quantity", stock_args.quantity, "Units")->required();
  common(receive);
  receive->callback([&] { action = [&](AdminClient& c) { return StockReceive(c, stock_args); }; });
  CLI::App* dispatch = stock->add_subcommand("dispatch", "Send stock from one post to another");
  dispatch->add_option("--from", stock_args.post, "Sending post code")->required();
  dispatch->add_option("--to", stock_args.to, "Receiving post code")->required();
  dispatch->add_option("--quantity", stock_args.quantity, "Units")->required();
  common(dispatch);
  dispatch->callback(
      [&] { action = [&](AdminClient& c) { return StockDispatch(c, stock_args); }; });
  CLI::App* adjust = stock->add_subcommand("adjust", "Correct stock: damaged, lost or found");
  adjust->add_option("--post", stock_args.post, "Post code")->required();
  adjust->add_option("--quantity", stock_args.quantity, "Signed change, e.g. -3")->required();
  adjust->add_option("--reason", stock_args.reason, "Why")->required();
  common(adjust);
  adjust->callback([&] { action = [&](AdminClient& c) { return StockAdjust(c, stock_args); }; });

  ConflictListArgs list_args;
  std::string conflict_id;
  ResolveArgs resolve_args;
  CLI::App* conflicts = app.add_subcommand("conflicts", "Conflicts that offline work produced");
  conflicts->require_subcommand(1);
  CLI::App* list = conflicts->add_subcommand("list", "List conflicts, most recently changed first");
  list->add_option("--kind", list_args.kind,
                   "entitlement-exceeded, duplicate-beneficiary, stock-deficit, "
                   "concurrent-update or update-vs-void");
  list->add_option("--status", list_args.status, "open, resolved or cleared");
  list->add_option("--post", list_args.post, "Post code");
  list->add_flag("--json", list_args.json, "Print JSON");
  list->callback([&] { action = [&](AdminClient& c) { return ListConflicts(c, list_args); }; });
  CLI::App* show = conflicts->add_subcommand("show", "Show one conflict with every side");
  show->add_option("ID", conflict_id, "Conflict ID, as 'conflicts list' shows it")->required();
  show->add_flag("--json", json, "Print JSON");
  show->callback([&] { action = [&](AdminClient& c) { return ShowConflict(c, conflict_id, json); }; });
  CLI::App* resolve = conflicts->add_subcommand(
      "resolve",
      "Decide a conflict. entitlement-exceeded: justify | void --handover ID; "
      "duplicate-beneficiary: keep-both | merge --keep ID; stock-deficit: receipt | adjustment "
      "--quantity N; concurrent-update: pick --correction ID | set --name/--phone/"
      "--household-size; update-vs-void: confirm | restore [--correction ID]");
  resolve->add_option("ID", resolve_args.id, "Conflict ID")->required();
  resolve->add_option("--action", resolve_args.action,
                      "justify, void, keep-both, merge, receipt, adjustment, pick, set, confirm "
                      "or restore")
      ->required();
  resolve->add_option("--by", resolve_args.by, "Who decides, for the audit log")->required();
  resolve->add_option("--note", resolve_args.note, "Why (required for justify, keep-both, merge, "
                                                   "confirm, void, adjustment)");
  resolve->add_option("--handover", resolve_args.handover, "void: the handover to void");
  resolve->add_option("--quantity", resolve_args.quantity,
                      "receipt: units received; adjustment: signed change");
  resolve->add_option("--reference", resolve_args.reference, "receipt: waybill number");
  resolve->add_option("--officer", resolve_args.officer,
                      "void, receipt, adjustment, pick, set, restore: officer code the record "
                      "is made by");
  resolve->add_option("--correction", resolve_args.correction,
                      "pick: the correction whose values stand; restore: the correction carried "
                      "onto the kept beneficiary");
  resolve->add_option("--keep", resolve_args.keep,
                      "merge: the beneficiary that stays; the family's other registrations are "
                      "merged into it");
  resolve->add_option("--name", resolve_args.name, "set: the name that stands");
  resolve->add_option("--phone", resolve_args.phone, "set: the phone that stands");
  resolve->add_option("--household-size", resolve_args.household,
                      "set: the household size that stands");
  resolve->add_flag("--json", resolve_args.json, "Print JSON");
  resolve->callback(
      [&] { action = [&](AdminClient& c) { return ResolveConflict(c, resolve_args); }; });

  CorrectArgs correct_args;
  CLI::App* beneficiary = app.add_subcommand("beneficiary", "Beneficiaries");
  beneficiary->require_subcommand(1);
  CLI::App* correct = beneficiary->add_subcommand(
      "correct", "Correct a beneficiary's details centrally; the post's tablets receive it");
  correct->add_option("ID", correct_args.beneficiary, "Beneficiary ID")->required();
  correct->add_option("--name", correct_args.name, "Corrected full name");
  correct->add_option("--phone", correct_args.phone, "Corrected phone (\"\" clears it)");
  correct->add_option("--household-size", correct_args.household, "Corrected household size");
  correct->add_option("--officer", correct_args.officer, "Officer code the correction is made by")
      ->required();
  correct->add_option("--by", correct_args.by, "Who decides, for the audit log")->required();
  correct->callback(
      [&] { action = [&](AdminClient& c) { return CorrectBeneficiary(c, correct_args); }; });

  uint64_t audit_after = 0;
  CLI::App* audit = app.add_subcommand("audit", "Who did what and when, oldest first");
  audit->add_option("--after", audit_after, "Only entries after this sequence number");
  audit->add_flag("--json", json, "Print JSON");
  audit->callback([&] { action = [&](AdminClient& c) { return ListAudit(c, audit_after, json); }; });
  ReportArgs report_args;
  AddReportCommands(app, report_args, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  auto client = AdminClient::Connect(connection);
  if (!client.ok()) return Fail(client.status());
  try {
    return action(**client);
  } catch (const std::exception& e) {
    std::cerr << "kitsync-admin: unexpected failure: " << e.what() << "\n";
    return kExitFailure;
  }
}

// handovers and status: read-only views of the tablet's ledger.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "cli_context.h"
#include "commands.h"
#include "output.h"
#include "views.h"

namespace kitsync::cli {
namespace {

using core::Status;

struct HandoversOptions {
  std::string round_code;
  std::string kit_type_code;
  std::string beneficiary_id;
  std::string since;
  std::string until;
  bool no_voided = false;
  int64_t limit = 1000;
};

core::Result<core::HandoverFilter> BuildFilter(const HandoversOptions& options) {
  core::HandoverFilter filter;
  filter.round_code = options.round_code;
  filter.kit_type_code = options.kit_type_code;
  filter.beneficiary_id = options.beneficiary_id;
  filter.include_voided = !options.no_voided;
  if (options.limit < 1) {
    return Status::InvalidArgument("--limit must be at least 1, got " +
                                   std::to_string(options.limit));
  }
  filter.limit = options.limit;
  if (!options.since.empty()) {
    const auto since = ParseDateUtc(options.since);
    if (!since) {
      return Status::InvalidArgument("--since '" + options.since +
                                     "' is not a date like 2026-11-27");
    }
    filter.since_wall_ms = *since;
  }
  if (!options.until.empty()) {
    const auto until = ParseDateUtc(options.until);
    if (!until) {
      return Status::InvalidArgument("--until '" + options.until +
                                     "' is not a date like 2026-11-27");
    }
    // --until names a whole day; the core's bound is exclusive, so it is the next midnight.
    filter.until_wall_ms = *until + kMsPerDay;
  }
  if (filter.since_wall_ms && filter.until_wall_ms &&
      *filter.since_wall_ms >= *filter.until_wall_ms) {
    return Status::InvalidArgument("--since " + options.since + " is after --until " +
                                   options.until);
  }
  return filter;
}

int RunHandovers(const GlobalOptions& global, const HandoversOptions& options) {
  constexpr char kWhat[] = "cannot list handovers";
  auto filter = BuildFilter(options);
  if (!filter.ok()) return ReportError(global, kWhat, filter.status());
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto views = (*store)->ListHandovers(*filter);
  if (!views.ok()) return ReportError(global, kWhat, views.status());
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& view : *views) list.push_back(HandoverViewJson(view));
    PrintJson({{"ok", true}, {"count", views->size()}, {"handovers", list}});
  } else {
    PrintHandoverTable(std::cout, *views);
  }
  return kExitOk;
}

int RunStatus(const GlobalOptions& global) {
  constexpr char kWhat[] = "cannot read tablet status";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto status = (*store)->GetStatus();
  if (!status.ok()) return ReportError(global, kWhat, status.status());
  if (global.json) {
    nlohmann::json doc = StatusJson(*status);
    doc["ok"] = true;
    doc["db"] = global.db_path;
    PrintJson(doc);
  } else {
    PrintStatus(std::cout, *status);
  }
  return kExitOk;
}

int RunResolutions(const GlobalOptions& global) {
  constexpr char kWhat[] = "cannot read the office's decisions";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto decisions = (*store)->ListResolutions();
  if (!decisions.ok()) return ReportError(global, kWhat, decisions.status());
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const core::ConflictResolution& r : *decisions) {
      list.push_back({{"conflict_id", r.conflict_id},
                      {"kind", r.kind},
                      {"action", r.action},
                      {"subjects", r.subject_ids},
                      {"note", r.note},
                      {"decided_by", r.decided_by},
                      {"wall_ms", r.wall_ms}});
    }
    PrintJson({{"ok", true}, {"resolutions", list}});
    return kExitOk;
  }
  if (decisions->empty()) {
    std::cout << "No decisions from the office yet (they arrive with 'kitsync sync').\n";
    return kExitOk;
  }
  for (const core::ConflictResolution& r : *decisions) {
    std::string subjects;
    for (const std::string& id : r.subject_ids) subjects += (subjects.empty() ? "" : ", ") + id;
    std::cout << r.kind << ": " << r.action << " by " << r.decided_by << "\n";
    PrintFields(std::cout, {{"Records", subjects.empty() ? "-" : subjects},
                            {"Note", r.note.empty() ? "-" : r.note}});
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddQueryCommands(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<HandoversOptions>();
  CLI::App* handovers = app.add_subcommand("handovers", "List handovers recorded on this tablet");
  handovers->add_option("--round", options->round_code, "Only this round");
  handovers->add_option("--kit", options->kit_type_code, "Only this kit type");
  handovers->add_option("--beneficiary", options->beneficiary_id, "Only this beneficiary ID");
  handovers->add_option("--since", options->since, "From this day on (YYYY-MM-DD, UTC)");
  handovers->add_option("--until", options->until,
                        "Up to and including this day (YYYY-MM-DD, UTC)");
  handovers->add_flag("--no-voided", options->no_voided, "Leave out voided handovers");
  handovers->add_option("--limit", options->limit, "Show at most this many")
      ->check(WholeNumber())
      ->capture_default_str();
  handovers->callback([&cli, options] {
    cli.action = [&cli, options] { return RunHandovers(cli.global, *options); };
  });

  CLI::App* status = app.add_subcommand(
      "status", "Device, post, changes waiting for upload and change-log integrity");
  status->callback([&cli] { cli.action = [&cli] { return RunStatus(cli.global); }; });

  CLI::App* resolutions = app.add_subcommand(
      "resolutions", "The central office's decisions on conflicts concerning this post");
  resolutions->callback([&cli] { cli.action = [&cli] { return RunResolutions(cli.global); }; });
}

}  // namespace kitsync::cli

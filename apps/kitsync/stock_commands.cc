// stock receive|transfer|transfer-in|adjust|count|show: the post's kit ledger.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli_context.h"
#include "commands.h"
#include "output.h"
#include "views.h"

namespace kitsync::cli {
namespace {

using core::MovementKind;

struct MovementOptions {
  std::string kit_type_code;
  int64_t quantity = 0;  // also the signed delta of an adjustment
  std::string counterpart_post_code;
  std::string reference;
  std::string reason;
  std::string officer_code;
};

std::optional<core::StockLine> LineFor(const std::vector<core::StockLine>& lines,
                                       const std::string& kit_type_code) {
  for (const auto& line : lines) {
    if (line.kit_type_code == kit_type_code) return line;
  }
  return std::nullopt;
}

std::string Describe(MovementKind kind, const MovementOptions& o) {
  const std::string amount = std::to_string(o.quantity) + " " + o.kit_type_code;
  switch (kind) {
    case MovementKind::kReceipt:
      return "Received " + amount + (o.reference.empty() ? "" : " (waybill " + o.reference + ")");
    case MovementKind::kTransferOut:
      return "Transferred " + amount + " to " + o.counterpart_post_code;
    case MovementKind::kTransferIn:
      return "Received " + amount + " from " + o.counterpart_post_code;
    case MovementKind::kAdjustment:
      return "Adjusted " + o.kit_type_code + " by " + (o.quantity > 0 ? "+" : "") +
             std::to_string(o.quantity) + " (" + o.reason + ")";
    case MovementKind::kCount:
      return "Counted " + amount + " on the shelf";
  }
  return "Recorded movement";
}

int RunMovement(const GlobalOptions& global, MovementKind kind, const MovementOptions& options) {
  constexpr char kWhat[] = "stock movement not recorded";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  core::MovementInput input;
  input.kind = kind;
  input.kit_type_code = options.kit_type_code;
  input.quantity = options.quantity;
  input.counterpart_post_code = options.counterpart_post_code;
  input.reference = options.reference;
  input.reason = options.reason;
  input.officer_code = options.officer_code;
  auto movement = (*store)->RecordMovement(input);
  if (!movement.ok()) return ReportError(global, kWhat, movement.status());

  // The movement is committed; failing to read the balance back must not look like a failure
  // to record it.
  auto stock = (*store)->Stock();
  std::optional<core::StockLine> line;
  if (stock.ok()) line = LineFor(*stock, options.kit_type_code);

  if (global.json) {
    PrintJson({{"ok", true},
               {"movement", MovementJson(*movement, options.kit_type_code)},
               {"stock", line ? StockLineJson(*line) : nlohmann::json(nullptr)}});
    return kExitOk;
  }
  std::cout << Describe(kind, options) << ". Recorded as " << movement->id << ".\n";
  if (line) {
    std::cout << "Balance of " << line->kit_type_code << " at this post: " << line->balance;
    if (kind == MovementKind::kCount && line->balance != options.quantity) {
      std::cout << " (the count differs from the balance by "
                << (options.quantity - line->balance > 0 ? "+" : "")
                << options.quantity - line->balance << ")";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

int RunShow(const GlobalOptions& global) {
  constexpr char kWhat[] = "cannot show stock";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto stock = (*store)->Stock();
  if (!stock.ok()) return ReportError(global, kWhat, stock.status());
  if (global.json) {
    nlohmann::json lines = nlohmann::json::array();
    for (const auto& line : *stock) lines.push_back(StockLineJson(line));
    PrintJson({{"ok", true}, {"post_code", (*store)->identity().post_code}, {"stock", lines}});
  } else {
    std::cout << "Stock at post " << (*store)->identity().post_code << "\n";
    PrintStockTable(std::cout, *stock);
  }
  return kExitOk;
}

// Adds one movement subcommand with the options its kind of movement needs.
CLI::App* AddMovement(CLI::App& stock, Cli& cli, const char* name, const char* description,
                      MovementKind kind) {
  auto options = std::make_shared<MovementOptions>();
  CLI::App* cmd = stock.add_subcommand(name, description);
  cmd->add_option("--kit", options->kit_type_code, "Kit type code, e.g. HYG-KIT")->required();
  switch (kind) {
    case MovementKind::kReceipt:
      cmd->add_option("--quantity", options->quantity, "Number of kits received")
          ->check(WholeNumber())
          ->required();
      cmd->add_option("--waybill", options->reference, "Waybill or shipment number");
      break;
    case MovementKind::kTransferOut:
      cmd->add_option("--to", options->counterpart_post_code, "Post the kits go to")->required();
      cmd->add_option("--quantity", options->quantity, "Number of kits sent")
          ->check(WholeNumber())
          ->required();
      cmd->add_option("--reference", options->reference, "Transfer or waybill reference");
      break;
    case MovementKind::kTransferIn:
      cmd->add_option("--from", options->counterpart_post_code, "Post the kits came from")
          ->required();
      cmd->add_option("--quantity", options->quantity, "Number of kits received")
          ->check(WholeNumber())
          ->required();
      cmd->add_option("--reference", options->reference, "Transfer or waybill reference");
      break;
    case MovementKind::kAdjustment:
      cmd->add_option("--delta", options->quantity,
                      "Change to the balance: negative for damaged or lost, positive for found")
          ->check(WholeNumber())
          ->required();
      cmd->add_option("--reason", options->reason, "Why the balance changes")->required();
      break;
    case MovementKind::kCount:
      cmd->add_option("--quantity", options->quantity, "Number of kits counted on the shelf")
          ->check(WholeNumber())
          ->required();
      break;
  }
  cmd->add_option("--officer", options->officer_code, "Code of the officer recording it")
      ->required();
  cmd->callback([&cli, kind, options] {
    cli.action = [&cli, kind, options] { return RunMovement(cli.global, kind, *options); };
  });
  return cmd;
}

}  // namespace

void AddStockCommands(CLI::App& app, Cli& cli) {
  CLI::App* stock = app.add_subcommand("stock", "Kit stock at this post");
  stock->require_subcommand(1);
  AddMovement(*stock, cli, "receive", "Record a shipment received at this post",
              MovementKind::kReceipt);
  AddMovement(*stock, cli, "transfer", "Record kits sent to another post",
              MovementKind::kTransferOut);
  AddMovement(*stock, cli, "transfer-in", "Record kits received from another post",
              MovementKind::kTransferIn);
  AddMovement(*stock, cli, "adjust", "Record damaged, lost or found kits",
              MovementKind::kAdjustment);
  AddMovement(*stock, cli, "count", "Record a physical count of the kits on the shelf",
              MovementKind::kCount);
  CLI::App* show = stock->add_subcommand("show", "Show the computed balance per kit type");
  show->callback([&cli] { cli.action = [&cli] { return RunShow(cli.global); }; });
}

}  // namespace kitsync::cli

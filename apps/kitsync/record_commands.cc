// register, correct, record and void: the officer's work at the counter.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli_context.h"
#include "commands.h"
#include "kitsync/core/validation.h"
#include "output.h"
#include "views.h"

namespace kitsync::cli {
namespace {

using core::Status;

struct RegisterOptions {
  std::string doc_number;
  bool doc_number_stdin = false;
  std::string full_name;
  std::string phone;
  int64_t household_size = 1;
};

struct RecordOptions {
  std::string round_code;
  std::string beneficiary_id;
  std::string doc_number;
  bool doc_number_stdin = false;
  std::string kit_type_code;
  int64_t quantity = 1;
  std::string officer_code;
  std::string proof;
  std::string proxy_relation;
  bool consent = false;
  std::string override_reason;
};

struct CorrectOptions {
  std::string beneficiary_id;
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
  std::string officer_code;
};

struct VoidOptions {
  std::string handover_id;
  std::string reason;
  std::string officer_code;
};

core::Result<std::string> DocumentNumber(const std::string& given, bool from_stdin) {
  if (from_stdin) return ReadLineFromStdin("identity document number");
  return given;
}

// "signature:REF" -> {kSignature, "REF"}.
core::Result<core::ProofInput> ParseProof(const std::string& text) {
  if (text.empty()) return core::ProofInput{};
  const size_t colon = text.find(':');
  const auto kind = core::ParseProofKind(text.substr(0, colon));
  if (colon == std::string::npos || !kind || *kind == core::ProofKind::kNone ||
      colon + 1 == text.size()) {
    return Status::InvalidArgument("proof '" + text +
                                   "' must look like signature:REF, photo:REF or voucher:REF");
  }
  return core::ProofInput{*kind, text.substr(colon + 1)};
}

int RunRegister(const GlobalOptions& global, const RegisterOptions& options) {
  constexpr char kWhat[] = "beneficiary not registered";
  if (options.doc_number.empty() && !options.doc_number_stdin) {
    return ReportError(global, kWhat,
                       Status::InvalidArgument("give the identity document number with "
                                               "--doc-number N or --doc-number-stdin"));
  }
  core::BeneficiaryInput input;
  auto doc_number = DocumentNumber(options.doc_number, options.doc_number_stdin);
  if (!doc_number.ok()) return ReportError(global, kWhat, doc_number.status());
  input.doc_number = *doc_number;
  input.full_name = options.full_name;
  input.phone = options.phone;
  input.household_size = options.household_size;

  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  auto beneficiary = (*store)->RegisterBeneficiary(input);
  if (!beneficiary.ok()) return ReportError(global, kWhat, beneficiary.status());
  if (global.json) {
    PrintJson({{"ok", true}, {"beneficiary", BeneficiaryJson(*beneficiary)}});
  } else {
    // The bare ID, so that a shell can capture it: ID=$(kitsync register ...).
    std::cout << beneficiary->id << "\n";
  }
  return kExitOk;
}

void PrintNeedsOverride(const GlobalOptions& global, const std::vector<core::Warning>& warnings) {
  std::cerr << "Handover NOT recorded. Please check:\n";
  for (const auto& warning : warnings) std::cerr << "  - " << warning.message << "\n";
  std::cerr << "If the handover is justified anyway, run the same command again with\n"
               "  --override-reason \"why it is justified\"\n"
               "The reason is recorded with the handover for the central office to review.\n";
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& warning : warnings) list.push_back(WarningJson(warning));
    PrintJson({{"ok", false},
               {"needs_override", true},
               {"exit_code", kExitNeedsOverride},
               {"warnings", list}});
  }
}

int RunRecord(const GlobalOptions& global, const RecordOptions& options) {
  constexpr char kWhat[] = "handover not recorded";
  const bool by_id = !options.beneficiary_id.empty();
  const bool by_doc = !options.doc_number.empty() || options.doc_number_stdin;
  if (by_id == by_doc) {
    return ReportError(global, kWhat,
                       Status::InvalidArgument("name the beneficiary with exactly one of "
                                               "--beneficiary ID, --doc-number N or "
                                               "--doc-number-stdin"));
  }
  if (by_id) {
    if (Status s = core::ValidateId("beneficiary ID", options.beneficiary_id); !s.ok()) {
      return ReportError(global, kWhat, s);
    }
  }
  auto proof = ParseProof(options.proof);
  if (!proof.ok()) return ReportError(global, kWhat, proof.status());
  std::string doc_number;
  if (by_doc) {
    auto read = DocumentNumber(options.doc_number, options.doc_number_stdin);
    if (!read.ok()) return ReportError(global, kWhat, read.status());
    doc_number = *read;
  }

  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());

  core::HandoverInput input;
  input.round_code = options.round_code;
  input.beneficiary_id = options.beneficiary_id;
  if (by_doc) {
    auto beneficiary = (*store)->FindBeneficiaryByDocument(doc_number);
    if (!beneficiary.ok()) return ReportError(global, kWhat, beneficiary.status());
    input.beneficiary_id = beneficiary->id;
  }
  input.kit_type_code = options.kit_type_code;
  input.quantity = options.quantity;
  input.officer_code = options.officer_code;
  input.proof = *proof;
  if (!options.proxy_relation.empty()) {
    input.collected_by = core::Collector::kProxy;
    input.proxy_relation = options.proxy_relation;
  }
  input.consent = options.consent;
  input.override_reason = options.override_reason;

  auto warnings = (*store)->CheckHandover(input);
  if (!warnings.ok()) return ReportError(global, kWhat, warnings.status());
  if (!warnings->empty() && input.override_reason.empty()) {
    PrintNeedsOverride(global, *warnings);
    return kExitNeedsOverride;
  }
  auto receipt = (*store)->RecordHandover(input);
  if (!receipt.ok()) {
    const int exit_code = ReportError(global, kWhat, receipt.status());
    // The check passed, so a precondition failing now means another process recorded in
    // between and a warning applies after all: the officer's next step is the override.
    if (receipt.status().code() == core::Code::kFailedPrecondition &&
        input.override_reason.empty()) {
      return kExitNeedsOverride;
    }
    return exit_code;
  }

  const core::Handover& h = receipt->handover;
  if (global.json) {
    nlohmann::json overridden = nlohmann::json::array();
    for (const auto& warning : receipt->overridden) overridden.push_back(WarningJson(warning));
    nlohmann::json handover = HandoverJson(h);
    handover["round_code"] = input.round_code;
    handover["kit_type_code"] = input.kit_type_code;
    handover["officer_code"] = input.officer_code;
    PrintJson({{"ok", true},
               {"handover", handover},
               {"overridden", overridden},
               {"merged_from", receipt->merged_from}});
    return kExitOk;
  }
  std::cout << "Handover recorded: " << h.id << "\n";
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Round", input.round_code},
      {"Kit", std::to_string(h.quantity) + " x " + input.kit_type_code},
      {"Beneficiary", h.beneficiary_id},
      {"Officer", input.officer_code},
      {"Proof", ProofText(h.proof_kind, h.proof_ref)},
      {"Collected by", h.collected_by == core::Collector::kProxy
                           ? "proxy (" + h.proxy_relation + ")"
                           : "beneficiary in person"},
  };
  if (!receipt->merged_from.empty()) {
    fields.emplace_back("Note", receipt->merged_from + " was merged into this beneficiary by the "
                                                       "central office");
  }
  if (!h.override_reason.empty()) fields.emplace_back("Override reason", h.override_reason);
  for (const auto& warning : receipt->overridden) {
    fields.emplace_back("Overridden", warning.message);
  }
  PrintFields(std::cout, fields);
  if (!input.override_reason.empty() && receipt->overridden.empty()) {
    std::cout << "Note: no warning applied, so the override reason was not needed and was not "
                 "recorded.\n";
  }
  return kExitOk;
}

int RunCorrect(const GlobalOptions& global, const CorrectOptions& options) {
  constexpr char kWhat[] = "beneficiary not corrected";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  core::BeneficiaryUpdateInput input{options.beneficiary_id, options.full_name, options.phone,
                                     options.household_size, options.officer_code};
  auto corrected = (*store)->UpdateBeneficiary(input);
  if (!corrected.ok()) return ReportError(global, kWhat, corrected.status());
  auto now = (*store)->GetBeneficiary(options.beneficiary_id);
  if (!now.ok()) return ReportError(global, kWhat, now.status());
  if (global.json) {
    PrintJson({{"ok", true}, {"correction_id", corrected->id}, {"beneficiary", BeneficiaryJson(*now)}});
  } else {
    std::cout << "Beneficiary " << now->id << " corrected (correction " << corrected->id << ").\n";
    PrintFields(std::cout, {{"Name", now->full_name},
                            {"Phone", now->phone.empty() ? "-" : now->phone},
                            {"Household", std::to_string(now->household_size)}});
  }
  return kExitOk;
}

int RunVoid(const GlobalOptions& global, const VoidOptions& options) {
  constexpr char kWhat[] = "handover not voided";
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, kWhat, store.status());
  core::VoidInput input{options.handover_id, options.reason, options.officer_code};
  auto voided = (*store)->VoidHandover(input);
  if (!voided.ok()) return ReportError(global, kWhat, voided.status());
  if (global.json) {
    PrintJson({{"ok", true}, {"void", VoidJson(*voided)}});
  } else {
    std::cout << "Handover " << voided->handover_id << " voided. It stays in the ledger, marked "
              << "void; record the correct handover with 'kitsync record'.\n";
  }
  return kExitOk;
}

}  // namespace

void AddRecordCommands(CLI::App& app, Cli& cli) {
  auto reg = std::make_shared<RegisterOptions>();
  CLI::App* register_cmd = app.add_subcommand("register", "Register a beneficiary");
  auto* reg_doc = register_cmd->add_option(
      "--doc-number", reg->doc_number, "Identity document number (stored only as a keyed hash)");
  auto* reg_stdin = register_cmd->add_flag("--doc-number-stdin", reg->doc_number_stdin,
                                           "Read the document number from standard input");
  reg_doc->excludes(reg_stdin);
  register_cmd->add_option("--name", reg->full_name, "Full name")->required();
  register_cmd->add_option("--phone", reg->phone, "Phone number (optional)");
  register_cmd->add_option("--household-size", reg->household_size, "People in the household")
      ->check(WholeNumber())
      ->capture_default_str();
  register_cmd->callback(
      [&cli, reg] { cli.action = [&cli, reg] { return RunRegister(cli.global, *reg); }; });

  auto fix = std::make_shared<CorrectOptions>();
  CLI::App* correct = app.add_subcommand(
      "correct", "Correct a beneficiary's name, phone or household size (registered at this post)");
  correct->add_option("BENEFICIARY_ID", fix->beneficiary_id, "Beneficiary ID")->required();
  correct->add_option("--name", fix->full_name, "Corrected full name");
  correct->add_option("--phone", fix->phone, "Corrected phone number (\"\" clears it)");
  correct->add_option("--household-size", fix->household_size, "Corrected household size")
      ->check(WholeNumber());
  correct->add_option("--officer", fix->officer_code, "Code of the officer correcting")
      ->required();
  correct->callback(
      [&cli, fix] { cli.action = [&cli, fix] { return RunCorrect(cli.global, *fix); }; });

  auto rec = std::make_shared<RecordOptions>();
  CLI::App* record = app.add_subcommand("record", "Record a handover of kits to a beneficiary");
  record->add_option("--round", rec->round_code, "Round code, e.g. HYG-2026-11")->required();
  auto* rec_id = record->add_option("--beneficiary", rec->beneficiary_id, "Beneficiary ID");
  auto* rec_doc = record->add_option("--doc-number", rec->doc_number,
                                     "Find the beneficiary by identity document number");
  auto* rec_stdin = record->add_flag("--doc-number-stdin", rec->doc_number_stdin,
                                     "Read the document number from standard input");
  rec_id->excludes(rec_doc)->excludes(rec_stdin);
  rec_doc->excludes(rec_stdin);
  record->add_option("--kit", rec->kit_type_code, "Kit type code, e.g. HYG-KIT")->required();
  record->add_option("--quantity", rec->quantity, "Number of kits")
      ->check(WholeNumber())
      ->capture_default_str();
  record->add_option("--officer", rec->officer_code, "Code of the officer handing over")
      ->required();
  record->add_option("--proof", rec->proof,
                     "Proof of receipt: signature:REF, photo:REF or voucher:REF");
  record->add_option("--proxy", rec->proxy_relation,
                     "Collected by a proxy; their relation to the beneficiary");
  record->add_flag("--consent", rec->consent,
                   "The beneficiary consented to this handover being recorded");
  record->add_option("--override-reason", rec->override_reason,
                     "Why the handover is justified despite a warning");
  record->callback(
      [&cli, rec] { cli.action = [&cli, rec] { return RunRecord(cli.global, *rec); }; });

  auto vo = std::make_shared<VoidOptions>();
  CLI::App* void_cmd =
      app.add_subcommand("void", "Void a mistaken handover (it stays in the ledger, marked void)");
  void_cmd->add_option("handover_id", vo->handover_id, "ID of the handover to void")->required();
  void_cmd->add_option("--reason", vo->reason, "Why the handover is void")->required();
  void_cmd->add_option("--officer", vo->officer_code, "Code of the officer voiding it")->required();
  void_cmd->callback([&cli, vo] { cli.action = [&cli, vo] { return RunVoid(cli.global, *vo); }; });
}

}  // namespace kitsync::cli

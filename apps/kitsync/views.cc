#include "views.h"

#include <string>

#include "output.h"

namespace kitsync::cli {
namespace {

using nlohmann::json;

json HlcJson(const core::Hlc& hlc) { return {{"packed", hlc.Pack()}, {"text", hlc.ToString()}}; }

std::string ChainText(const core::ChainReport& chain) {
  if (chain.ok) return "verified (" + std::to_string(chain.entries) + " entries)";
  return "BROKEN at entry " + std::to_string(chain.first_bad_seq) + ": " + chain.problem;
}

}  // namespace

std::string ProofText(core::ProofKind kind, const std::string& ref) {
  if (kind == core::ProofKind::kNone) return "none";
  return std::string(core::ToString(kind)) + ":" + ref;
}

json BeneficiaryJson(const core::Beneficiary& b) {
  // The document hash stays out: scripts have no use for it and it need not travel further.
  return {{"id", b.id},           {"full_name", b.full_name},
          {"phone", b.phone},     {"household_size", b.household_size},
          {"post_id", b.post_id}, {"device_id", b.device_id},
          {"hlc", HlcJson(b.hlc)}};
}

json HandoverJson(const core::Handover& h) {
  return {{"id", h.id},
          {"round_id", h.round_id},
          {"beneficiary_id", h.beneficiary_id},
          {"kit_type_id", h.kit_type_id},
          {"quantity", h.quantity},
          {"post_id", h.post_id},
          {"officer_id", h.officer_id},
          {"device_id", h.device_id},
          {"hlc", HlcJson(h.hlc)},
          {"wall_ms", h.wall_ms},
          {"recorded_at", FormatWallMs(h.wall_ms)},
          {"proof", {{"kind", std::string(core::ToString(h.proof_kind))}, {"ref", h.proof_ref}}},
          {"collected_by", std::string(core::ToString(h.collected_by))},
          {"proxy_relation", h.proxy_relation},
          {"consent", h.consent},
          {"override_reason", h.override_reason},
          {"overridden_warnings", h.overridden_warnings}};
}

json VoidJson(const core::HandoverVoid& v) {
  return {{"handover_id", v.handover_id},
          {"reason", v.reason},
          {"officer_id", v.officer_id},
          {"device_id", v.device_id},
          {"hlc", HlcJson(v.hlc)},
          {"wall_ms", v.wall_ms},
          {"voided_at", FormatWallMs(v.wall_ms)}};
}

json HandoverViewJson(const core::HandoverView& view) {
  json out = HandoverJson(view.handover);
  out["round_code"] = view.round_code;
  out["kit_type_code"] = view.kit_type_code;
  out["officer_code"] = view.officer_code;
  out["voided"] = view.void_record.has_value();
  out["void"] = view.void_record ? VoidJson(*view.void_record) : json(nullptr);
  // Whose the handover is now, when the office merged its beneficiary into another.
  out["merged_into"] = view.merged_into.empty() ? json(nullptr) : json(view.merged_into);
  return out;
}

json MovementJson(const core::StockMovement& m, const std::string& kit_type_code) {
  return {{"id", m.id},
          {"post_id", m.post_id},
          {"kit_type_id", m.kit_type_id},
          {"kit_type_code", kit_type_code},
          {"kind", std::string(core::ToString(m.kind))},
          {"quantity", m.quantity},
          {"counterpart_post_id", m.counterpart_post_id},
          {"reference", m.reference},
          {"reason", m.reason},
          {"officer_id", m.officer_id},
          {"device_id", m.device_id},
          {"hlc", HlcJson(m.hlc)},
          {"wall_ms", m.wall_ms}};
}

json StockLineJson(const core::StockLine& line) {
  return {{"kit_type_code", line.kit_type_code},
          {"received", line.received},
          {"transferred", line.transferred},
          {"adjusted", line.adjusted},
          {"handed_out", line.handed_out},
          {"balance", line.balance},
          {"last_count", line.last_count ? json(*line.last_count) : json(nullptr)}};
}

json WarningJson(const core::Warning& w) { return {{"code", w.code}, {"message", w.message}}; }

json StatusJson(const core::TabletStatus& status) {
  return {{"device_id", status.identity.device_id},
          {"device_name", status.identity.device_name},
          {"post_code", status.identity.post_code},
          {"last_seq", status.last_seq},
          {"acked_seq", status.acked_seq},
          {"pending", status.pending},
          {"last_hlc", HlcJson(status.last_hlc)},
          {"pull_cursor", status.pull_cursor},
          {"pull_epoch", status.pull_epoch},
          {"chain",
           {{"ok", status.chain.ok},
            {"entries", status.chain.entries},
            {"first_bad_seq", status.chain.first_bad_seq},
            {"problem", status.chain.problem}}}};
}

void PrintHandoverTable(std::ostream& out, const std::vector<core::HandoverView>& views) {
  if (views.empty()) {
    out << "No handovers match.\n";
    return;
  }
  Table table({{"RECORDED (UTC)"},
               {"HANDOVER ID"},
               {"ROUND"},
               {"KIT"},
               {"QTY", Align::kRight},
               {"BENEFICIARY"},
               {"OFFICER"},
               {"PROOF"},
               {"COLLECTED BY"},
               {"STATE"}});
  for (const auto& view : views) {
    const core::Handover& h = view.handover;
    std::string state = "valid";
    if (view.void_record) state = "VOIDED: " + view.void_record->reason;
    if (!h.override_reason.empty() && !view.void_record) {
      state = "override: " + h.override_reason;
    }
    std::string collector =
        h.collected_by == core::Collector::kProxy ? "proxy (" + h.proxy_relation + ")" : "self";
    std::string when = FormatWallMs(h.wall_ms);
    when.resize(when.size() - 4);  // the header already says UTC
    table.AddRow({when, h.id, view.round_code, view.kit_type_code, std::to_string(h.quantity),
                  view.merged_into.empty() ? h.beneficiary_id
                                           : h.beneficiary_id + " (merged into " +
                                                 view.merged_into + ")",
                  view.officer_code, ProofText(h.proof_kind, h.proof_ref),
                  collector, state});
  }
  table.Print(out);
  out << views.size() << (views.size() == 1 ? " handover\n" : " handovers\n");
}

void PrintStockTable(std::ostream& out, const std::vector<core::StockLine>& lines) {
  if (lines.empty()) {
    out << "No stock recorded at this post yet.\n";
    return;
  }
  Table table({{"KIT"},
               {"RECEIVED", Align::kRight},
               {"TRANSFERRED", Align::kRight},
               {"ADJUSTED", Align::kRight},
               {"HANDED OUT", Align::kRight},
               {"BALANCE", Align::kRight},
               {"LAST COUNT", Align::kRight}});
  for (const auto& line : lines) {
    std::string count = "-";
    if (line.last_count) {
      count = std::to_string(*line.last_count);
      if (*line.last_count != line.balance) count += " (differs from balance)";
    }
    table.AddRow({line.kit_type_code, std::to_string(line.received),
                  std::to_string(line.transferred), std::to_string(line.adjusted),
                  std::to_string(line.handed_out), std::to_string(line.balance), count});
  }
  table.Print(out);
  for (const auto& line : lines) {
    if (line.balance < 0) {
      out << "Note: " << line.kit_type_code << " balance is negative: more was handed out than "
          << "this post received. Record the missing receipt or an adjustment.\n";
    }
  }
}

namespace {

// Where this tablet's pulls stand, with the server's feed epoch: after a server restore the
// epoch changes, and the next sync lines the cursor up with it (docs/sync.md).
std::string PulledText(const core::TabletStatus& status) {
  if (status.pull_cursor == 0) return "nothing yet";
  std::string text = "server feed entry " + std::to_string(status.pull_cursor);
  if (!status.pull_epoch.empty()) text += " (feed epoch " + status.pull_epoch + ")";
  return text;
}

}  // namespace

void PrintStatus(std::ostream& out, const core::TabletStatus& status) {
  PrintFields(
      out, {
               {"Device", status.identity.device_name + " (" + status.identity.device_id + ")"},
               {"Post", status.identity.post_code},
               {"Changes recorded", std::to_string(status.last_seq)},
               {"Uploaded", std::to_string(status.acked_seq)},
               {"Pending upload", std::to_string(status.pending)},
               {"Last HLC", status.last_hlc.Pack() == 0 ? "none yet" : status.last_hlc.ToString()},
               {"Pulled up to", PulledText(status)},
               {"Change-log chain", ChainText(status.chain)},
           });
}

}  // namespace kitsync::cli

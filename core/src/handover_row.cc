#include "kitsync/core/handover_row.h"

namespace kitsync::core {

Handover ReadHandoverFields(const sqlite::Statement& row, int first) {
  const int c = first;
  Handover h;
  h.id = row.Text(c);
  h.round_id = row.Text(c + 1);
  h.beneficiary_id = row.Text(c + 2);
  h.kit_type_id = row.Text(c + 3);
  h.quantity = row.Int(c + 4);
  h.post_id = row.Text(c + 5);
  h.officer_id = row.Text(c + 6);
  h.device_id = row.Text(c + 7);
  h.hlc = Hlc::Unpack(static_cast<uint64_t>(row.Int(c + 8)));
  h.wall_ms = row.Int(c + 9);
  h.proof_kind = ParseProofKind(row.TextView(c + 10)).value_or(ProofKind::kNone);
  h.proof_ref = row.Text(c + 11);
  h.collected_by = ParseCollector(row.TextView(c + 12)).value_or(Collector::kSelf);
  h.proxy_relation = row.Text(c + 13);
  h.consent = row.Int(c + 14) != 0;
  h.override_reason = row.Text(c + 15);
  return h;
}

}  // namespace kitsync::core

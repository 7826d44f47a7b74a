#include "kitsync/core/handover_row.h"

namespace kitsync::core {

Handover ReadHandoverFields(const sqlite::Statement& row, int first) {
  Handover h;
  ReadHandoverFieldsInto(row, first, h);
  return h;
}

void ReadHandoverFieldsInto(const sqlite::Statement& row, int first, Handover& h) {
  const int c = first;
  h.id.assign(row.TextView(c));
  h.round_id.assign(row.TextView(c + 1));
  h.beneficiary_id.assign(row.TextView(c + 2));
  h.kit_type_id.assign(row.TextView(c + 3));
  h.quantity = row.Int(c + 4);
  h.post_id.assign(row.TextView(c + 5));
  h.officer_id.assign(row.TextView(c + 6));
  h.device_id.assign(row.TextView(c + 7));
  h.hlc = Hlc::Unpack(static_cast<uint64_t>(row.Int(c + 8)));
  h.wall_ms = row.Int(c + 9);
  h.proof_kind = ParseProofKind(row.TextView(c + 10)).value_or(ProofKind::kNone);
  h.proof_ref.assign(row.TextView(c + 11));
  h.collected_by = ParseCollector(row.TextView(c + 12)).value_or(Collector::kSelf);
  h.proxy_relation.assign(row.TextView(c + 13));
  h.consent = row.Int(c + 14) != 0;
  h.override_reason.assign(row.TextView(c + 15));
}

sqlite::Statement& BindHandoverFields(sqlite::Statement& stmt, const Handover& h) {
  return stmt.BindView(1, h.id)
      .BindView(2, h.round_id)
      .BindView(3, h.beneficiary_id)
      .BindView(4, h.kit_type_id)
      .Bind(5, h.quantity)
      .BindView(6, h.post_id)
      .BindView(7, h.officer_id)
      .BindView(8, h.device_id)
      .Bind(9, static_cast<int64_t>(h.hlc.Pack()))
      .Bind(10, h.wall_ms)
      .BindView(11, ToString(h.proof_kind))
      .BindView(12, h.proof_ref)
      .BindView(13, ToString(h.collected_by))
      .BindView(14, h.proxy_relation)
      .Bind(15, int64_t{h.consent})
      .BindView(16, h.override_reason);
}

}  // namespace kitsync::core

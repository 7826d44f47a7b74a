// Stock at the post. The balance is always computed from movements and handovers; no counter
// is stored, so there is nothing that can drift from the facts.
#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "store_impl.h"

namespace kitsync::core {
namespace {

// Movement sums for one post and kit type. Movements are few; the covering index answers this.
Status ReadMovementTotals(sqlite::Db& db, const std::string& post_id,
                          const std::string& kit_type_id, Totals& t) {
  ASSIGN_OR_RETURN(auto* moves, db.Cached("SELECT kind, sum(quantity) FROM stock_movements "
                                          "WHERE post_id = ? AND kit_type_id = ? GROUP BY kind"));
  moves->Bind(1, post_id).Bind(2, kit_type_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, moves->Step());
    if (!row) break;
    auto kind = ParseMovementKind(moves->Text(0));
    const int64_t sum = moves->Int(1);
    if (!kind) return Status::DataLoss("unknown stock movement kind '" + moves->Text(0) + "'");
    switch (*kind) {
      case MovementKind::kReceipt: t.receipts = sum; break;
      case MovementKind::kTransferIn: t.transfers_in = sum; break;
      case MovementKind::kTransferOut: t.transfers_out = sum; break;
      case MovementKind::kAdjustment: t.adjustments = sum; break;
      case MovementKind::kCount: break;  // a count observes the balance, it does not move it
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Totals> Store::Impl::ReadTotals(const std::string& post_id,
                                       const std::string& kit_type_id) {
  Totals t;
  RETURN_IF_ERROR(ReadMovementTotals(*db_, post_id, kit_type_id, t));
  ASSIGN_OR_RETURN(t.handed_out, HandedOut(post_id, kit_type_id));
  return t;
}

Result<int64_t> Store::Impl::Balance(const std::string& post_id, const std::string& kit_type_id) {
  ASSIGN_OR_RETURN(Totals t, ReadTotals(post_id, kit_type_id));
  return t.Balance();
}

// Summing every handover for every new one would make recording slower with each kit handed
// out. The sums are taken from the facts once, then moved by this connection's own commits; a
// commit by any other connection changes PRAGMA data_version and the sums are taken again.
// Nothing is stored: the figures are always what the facts add up to.
Result<int64_t> Store::Impl::HandedOut(const std::string& post_id,
                                       const std::string& kit_type_id) {
  ASSIGN_OR_RETURN(int64_t version, db_->QueryInt("PRAGMA data_version"));
  if (!handed_out_loaded_ || version != handed_out_version_) {
    handed_out_.clear();
    ASSIGN_OR_RETURN(auto* given, db_->Cached("SELECT post_id, kit_type_id, sum(quantity) "
                                              "FROM handovers GROUP BY post_id, kit_type_id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, given->Step());
      if (!row) break;
      handed_out_[{given->Text(0), given->Text(1)}] = given->Int(2);
    }
    // Driven from the voids, which are few, rather than from every handover.
    ASSIGN_OR_RETURN(auto* voided, db_->Cached("SELECT h.post_id, h.kit_type_id, sum(h.quantity) "
                                               "FROM (SELECT DISTINCT handover_id FROM "
                                               "handover_voids) v CROSS JOIN handovers h "
                                               "ON h.id = v.handover_id "
                                               "GROUP BY h.post_id, h.kit_type_id"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, voided->Step());
      if (!row) break;
      handed_out_[{voided->Text(0), voided->Text(1)}] -= voided->Int(2);
    }
    handed_out_loaded_ = true;
    handed_out_version_ = version;
  }
  auto it = handed_out_.find({post_id, kit_type_id});
  return it == handed_out_.end() ? 0 : it->second;
}

void Store::Impl::CommittedHandedOut(const std::string& post_id, const std::string& kit_type_id,
                                     int64_t delta) {
  if (handed_out_loaded_) handed_out_[{post_id, kit_type_id}] += delta;
}

Result<StockMovement> Store::RecordMovement(const MovementInput& in) {
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  StockMovement m;
  ASSIGN_OR_RETURN(m.kit_type_id, impl_->KitTypeId(in.kit_type_code));
  ASSIGN_OR_RETURN(OfficerInfo officer, impl_->Officer(in.officer_code));
  ASSIGN_OR_RETURN(m.post_id, impl_->OwnPostId());
  if (officer.post_id != m.post_id) {
    return Status::PermissionDenied("officer " + in.officer_code + " is not posted at " +
                                    impl_->identity().post_code);
  }
  if (!in.counterpart_post_code.empty()) {
    ASSIGN_OR_RETURN(m.counterpart_post_id, impl_->PostId(in.counterpart_post_code));
  }
  ASSIGN_OR_RETURN(LogTip tip, impl_->ReadTip());
  m.id = NewUuidV7();
  m.kind = in.kind;
  m.quantity = in.quantity;
  m.reference = in.reference;
  m.reason = in.reason;
  m.officer_id = officer.id;
  m.device_id = impl_->identity().device_id;
  m.hlc = impl_->NextHlc(tip);
  m.wall_ms = impl_->clock().WallMs();
  RETURN_IF_ERROR(ValidateMovementRecord(m));
  if (in.kind == MovementKind::kTransferOut) {
    ASSIGN_OR_RETURN(int64_t balance, impl_->Balance(m.post_id, m.kit_type_id));
    if (in.quantity > balance) {
      return Status::FailedPrecondition("cannot send " + std::to_string(in.quantity) + " " +
                                        in.kit_type_code + ": the post holds " +
                                        std::to_string(balance));
    }
  }
  RETURN_IF_ERROR(impl_->InsertMovement(m));
  RETURN_IF_ERROR(impl_->Append(tip, m.hlc, "stock_movement", m.id, EncodeMovement(m),
                                /*store_payload=*/false));
  RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<std::vector<StockLine>> Store::Stock() {
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(std::string post_id, impl_->OwnPostId());
  ASSIGN_OR_RETURN(auto kits, db.Prepare("SELECT id, code FROM kit_types ORDER BY code"));
  ASSIGN_OR_RETURN(auto count, db.Prepare("SELECT quantity FROM stock_movements WHERE post_id = ? "
                                          "AND kit_type_id = ? AND kind = 'count' "
                                          "ORDER BY hlc DESC LIMIT 1"));
  std::vector<StockLine> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, kits->Step());
    if (!row) break;
    const std::string kit_type_id = kits->Text(0);
    ASSIGN_OR_RETURN(Totals t, impl_->ReadTotals(post_id, kit_type_id));
    StockLine line;
    line.kit_type_code = kits->Text(1);
    line.received = t.receipts + t.transfers_in;
    line.transferred = t.transfers_out;
    line.adjusted = t.adjustments;
    line.handed_out = t.handed_out;
    line.balance = t.Balance();
    count->Reset();
    ASSIGN_OR_RETURN(bool counted, count->Bind(1, post_id).Bind(2, kit_type_id).Step());
    if (counted) line.last_count = count->Int(0);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace kitsync::core

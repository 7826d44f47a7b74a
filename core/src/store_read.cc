// Reading facts back from their rows, exactly as they were recorded: the change log rebuilds
// their canonical payloads from here, so every field must survive the round trip.
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "kitsync/core/canonical.h"
#include "kitsync/core/handover_row.h"
#include "kitsync/core/ids.h"
#include "store_impl.h"

namespace kitsync::core {
namespace {

std::vector<std::string> SplitWarnings(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    out.push_back(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Hlc HlcColumn(const sqlite::Statement& row, int column) {
  return Hlc::Unpack(static_cast<uint64_t>(row.Int(column)));
}

}  // namespace

std::string JoinWarnings(const std::vector<std::string>& codes) {
  std::string out;
  for (const std::string& code : codes) {
    if (!out.empty()) out.push_back(',');
    out += code;
  }
  return out;
}

Handover ReadHandoverColumns(const sqlite::Statement& row, int first) {
  Handover h;
  ReadHandoverColumnsInto(row, first, h);
  return h;
}

void ReadHandoverColumnsInto(const sqlite::Statement& row, int first, Handover& h) {
  ReadHandoverFieldsInto(row, first, h);
  h.overridden_warnings = SplitWarnings(row.Text(first + 16));
}

Result<Record> Store::Impl::ReadStoredFact(const std::string& entity, const std::string& id) {
  // Handovers make up most of a backlog; the rarer kinds go through their payload.
  if (entity == "handover") {
    ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT " KITSYNC_HANDOVER_COLUMNS
                                             " FROM handovers h WHERE h.id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
    if (!row) {
      return Status::DataLoss("the " + entity + " " + id + " of a change-log entry is missing");
    }
    Record record = ReadHandoverColumns(*stmt, 0);
    stmt->Reset();
    return record;
  }
  ASSIGN_OR_RETURN(std::string payload, EncodeStoredFact(entity, id));
  return DecodeLogged(entity, payload);
}

Result<std::string> Store::Impl::EncodeStoredFact(const std::string& entity,
                                                  const std::string& id,
                                                  const std::string& device_id) {
  auto missing = [&] {
    return Status::DataLoss("the " + entity + " " + id + " of a change-log entry is missing");
  };
  if (entity == "handover") {
    ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT " KITSYNC_HANDOVER_COLUMNS
                                             " FROM handovers h WHERE h.id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
    if (!row) return missing();
    std::string payload = EncodeHandover(ReadHandoverColumns(*stmt, 0));
    stmt->Reset();
    return payload;
  }
  if (entity == "handover_void") {
    ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT handover_id, reason, officer_id, device_id, "
                                             "hlc, wall_ms FROM handover_voids "
                                             "WHERE handover_id = ? AND device_id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Bind(2, device_id.empty() ? identity_.device_id
                                                                          : device_id)
                                   .Step());
    if (!row) return missing();
    std::string payload = EncodeHandoverVoid({stmt->Text(0), stmt->Text(1), stmt->Text(2),
                                              stmt->Text(3), HlcColumn(*stmt, 4), stmt->Int(5)});
    stmt->Reset();
    return payload;
  }
  if (entity == "stock_movement") {
    ASSIGN_OR_RETURN(auto* stmt,
                     db_->Cached("SELECT id, post_id, kit_type_id, kind, quantity, "
                                 "counterpart_post_id, reference, reason, officer_id, device_id, "
                                 "hlc, wall_ms FROM stock_movements WHERE id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
    if (!row) return missing();
    auto kind = ParseMovementKind(stmt->Text(3));
    if (!kind) return Status::DataLoss("stock movement " + id + " has an unknown kind");
    std::string payload = EncodeMovement({stmt->Text(0), stmt->Text(1), stmt->Text(2), *kind,
                                          stmt->Int(4), stmt->Text(5), stmt->Text(6),
                                          stmt->Text(7), stmt->Text(8), stmt->Text(9),
                                          HlcColumn(*stmt, 10), stmt->Int(11)});
    stmt->Reset();
    return payload;
  }
  if (entity == "beneficiary") {
    ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT id, doc_hash, full_name, phone, "
                                             "household_size, post_id, device_id, hlc "
                                             "FROM beneficiaries WHERE id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
    if (!row) return missing();
    std::string payload = EncodeBeneficiary({stmt->Text(0), stmt->Text(1), stmt->Text(2),
                                             stmt->Text(3), stmt->Int(4), stmt->Text(5),
                                             stmt->Text(6), HlcColumn(*stmt, 7)});
    stmt->Reset();
    return payload;
  }
  if (entity == "beneficiary_update") {
    ASSIGN_OR_RETURN(auto* stmt,
                     db_->Cached("SELECT payload FROM beneficiary_updates WHERE id = ?"));
    ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
    if (!row) return missing();
    std::string payload = stmt->Text(0);
    stmt->Reset();
    return payload;
  }
  return Status::DataLoss("change-log entry of kind '" + entity + "' has no payload");
}

Result<FactsDigest> Store::DigestFacts() {
  sqlite::Db& db = impl_->db();
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto digest = impl_->Digest();
  (void)db.Exec("COMMIT");
  return digest;
}

Result<FactsDigest> Store::Impl::Digest() {
  static constexpr std::pair<const char*, const char*> kFacts[] = {
      {"beneficiary", "SELECT id FROM beneficiaries"},
      {"handover", "SELECT id FROM handovers"},
      {"handover_void", "SELECT handover_id, device_id FROM handover_voids"},
      {"stock_movement", "SELECT id FROM stock_movements"},
      {"beneficiary_update", "SELECT id FROM beneficiary_updates"},
  };
  std::vector<std::string> encoded;
  for (const auto& [entity, sql] : kFacts) {
    ASSIGN_OR_RETURN(auto ids, db_->Prepare(sql));
    while (true) {
      ASSIGN_OR_RETURN(bool row, ids->Step());
      if (!row) break;
      const std::string id = ids->Text(0);
      const std::string device = ids->ColumnCount() > 1 ? ids->Text(1) : std::string();
      ASSIGN_OR_RETURN(std::string payload, EncodeStoredFact(entity, id, device));
      encoded.push_back(std::string(entity) + '\n' + id + '\n' + device + '\n' + payload);
    }
  }
  std::sort(encoded.begin(), encoded.end());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const std::string& e : encoded) {
    EVP_DigestUpdate(ctx.get(), e.data(), e.size());
    EVP_DigestUpdate(ctx.get(), "\0", 1);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  return FactsDigest{ToHex(std::string_view(reinterpret_cast<char*>(out), len)),
                     static_cast<int64_t>(encoded.size())};
}

}  // namespace kitsync::core

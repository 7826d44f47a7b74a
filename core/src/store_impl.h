// Internals shared by the store's source files: one per concern (tablet, master data,
// beneficiaries and handovers, stock), all over the same connection.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/store.h"
#include "sqlite.h"

namespace kitsync::core {

struct RoundInfo {
  std::string id;
  std::string code;
  bool requires_proof = true;
  std::map<std::string, int64_t> max_per_kit_type;  // kit_type_id -> entitlement
};

struct OfficerInfo {
  std::string id;
  std::string post_id;
};

// Settings kept in the meta table.
Result<std::optional<std::string>> ReadOptionalMeta(sqlite::Db& db, const char* key);
Result<std::string> ReadMeta(sqlite::Db& db, const char* key);
// `fallback` stands in for a setting never written; without one, a missing setting is DATA_LOSS.
Result<int64_t> ReadMetaInt(sqlite::Db& db, const char* key,
                            std::optional<int64_t> fallback = std::nullopt);
Status WriteMeta(sqlite::Db& db, const char* key, std::string_view value);

// The last entry of the change log: where the next entry attaches.
struct LogTip {
  int64_t seq = 0;
  Hlc hlc;
  std::string hash;
};

class Store::Impl {
 public:
  Impl(std::unique_ptr<sqlite::Db> db, StoreOptions options)
      : db_(std::move(db)), clock_(options.clock), max_clock_skew_ms_(options.max_clock_skew_ms) {}

  sqlite::Db& db() { return *db_; }
  const DeviceIdentity& identity() const { return identity_; }

  Status LoadIdentity();
  Status WriteSetup(const TabletSetup& setup, const std::string& device_id);

  // --- change log (store.cc). REQUIRES: an open write transaction.
  Result<LogTip> ReadTip();
  // The next local timestamp, after every entry already in the log.
  Hlc NextHlc(const LogTip& tip);
  Status Append(LogTip& tip, Hlc hlc, const char* entity, const std::string& entity_id,
                const std::string& payload);

  // Upserts master data. REQUIRES: validated, and an open write transaction.
  Status UpsertMasterData(const MasterData& data);

  // --- reference lookups (store_master.cc). Codes are what officers type.
  Result<std::string> KitTypeId(const std::string& code);
  Result<std::string> PostId(const std::string& code);
  Result<std::string> OwnPostId();
  Result<RoundInfo> Round(const std::string& code);
  Result<OfficerInfo> Officer(const std::string& code);
  Result<std::string> CodeOf(const char* table, const std::string& id);

  // --- handovers (store_handovers.cc)
  struct PreparedHandover {
    Handover handover;
    std::vector<Warning> warnings;
  };
  // What one write call has already looked up. A bulk import resolves each code once and keeps
  // the post's balance per kit type as a running figure instead of re-summing for every row.
  struct HandoverContext {
    std::map<std::string, RoundInfo> rounds;
    std::map<std::string, std::string> kit_types;
    std::map<std::string, OfficerInfo> officers;
    std::string post_id;
    std::map<std::string, int64_t> balances;  // kit_type_id -> balance, this call's rows included
  };
  // Validates `input` and fills everything but the ID and timestamps.
  Result<PreparedHandover> PrepareHandover(const HandoverInput& input, HandoverContext& ctx);

  // --- facts (store_rows.cc): inserted once; a repeat is ignored. REQUIRES: a write transaction.
  Status InsertBeneficiary(const Beneficiary& b);
  Status InsertHandover(const Handover& h);
  Status InsertVoid(const HandoverVoid& v);
  Status InsertMovement(const StockMovement& m);

  // --- stock (store_stock.cc)
  Result<int64_t> Balance(const std::string& post_id, const std::string& kit_type_id);

  // --- programme key for document hashes
  const std::string& programme_key() const { return programme_key_; }

  HlcClock& clock() { return clock_; }
  int64_t max_clock_skew_ms() const { return max_clock_skew_ms_; }

 private:
  std::unique_ptr<sqlite::Db> db_;
  HlcClock clock_;
  int64_t max_clock_skew_ms_;
  DeviceIdentity identity_;
  std::string programme_key_;
};

}  // namespace kitsync::core

// What offline work at several posts produces that an admin must see, and the deterministic
// provisional outcome while nobody has looked. Pure functions of the facts: the server gathers
// the facts a change touches and asks these rules what stands, so the same facts always give the
// same conflicts, whatever order they arrived in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

enum class ConflictKind {
  kEntitlementExceeded,   // one family served beyond its entitlement, across posts or tablets
  kDuplicateBeneficiary,  // one document hash registered under two or more beneficiary IDs
  kStockDeficit,          // a post handed out more than it received
  kConcurrentUpdate,      // one beneficiary's field corrected at two places that did not see each other
  kUpdateVsVoid,          // a beneficiary merged into another (retired) and corrected where the
                          // merge was not yet known
};

enum class Severity { kLow, kMedium, kHigh };

// Where a conflict stands. Open until an admin resolves it; cleared when later facts made it go
// away by themselves (a void, a late receipt); a resolved conflict reopens when a new fact joins
// it, since the admin's decision covered only the sides they saw.
enum class ConflictStatus { kOpen, kResolved, kCleared };

std::string_view ToString(ConflictKind kind);
std::string_view ToString(Severity severity);
std::string_view ToString(ConflictStatus status);
std::optional<ConflictKind> ParseConflictKind(std::string_view s);
std::optional<ConflictStatus> ParseConflictStatus(std::string_view s);

// One record taking part in a conflict, as an admin needs to see it.
struct ConflictSide {
  std::string entity;     // "handover", "beneficiary", "stock"
  std::string entity_id;  // handover or beneficiary ID; "<post>/<kit type>" for stock
  std::string post_id;
  std::string device_id;  // empty for stock totals
  Hlc hlc;
  int64_t wall_ms = 0;
  int64_t quantity = 0;   // kits of the handover, or the balance for stock
  bool clock_ahead = false;  // its clock was beyond the allowed skew when it reached the server
  std::string detail;        // e.g. the officer's override reason

  friend bool operator==(const ConflictSide&, const ConflictSide&) = default;
};

struct DetectedConflict {
  ConflictKind kind = ConflictKind::kEntitlementExceeded;
  std::string key;  // one conflict per situation, e.g. "entitlement-exceeded/<hash>/<round>/<kit>"
  Severity severity = Severity::kMedium;
  std::string summary;      // one line for a list
  std::string provisional;  // the outcome that stands until an admin decides
  std::vector<ConflictSide> sides;  // in (HLC, device, ID) order, whatever order they came in
  bool clock_ahead = false;         // some side's clock was beyond the allowed skew

  // Names the sides, so a resolution can say which sides it covered.
  std::string Fingerprint() const;
  friend bool operator==(const DetectedConflict&, const DetectedConflict&) = default;
};

// --- entitlement exceeded
struct ServedHandover {
  std::string handover_id;
  std::string beneficiary_id;
  std::string post_id;
  std::string device_id;
  Hlc hlc;
  int64_t wall_ms = 0;
  int64_t quantity = 0;
  bool voided = false;
  bool clock_ahead = false;
  std::string override_reason;
};
// Every handover of one kit type in one round to any beneficiary registered with `doc_hash`.
// A conflict when the quantities not voided exceed `allowed`. Both handovers stand: the kits left.
std::optional<DetectedConflict> DetectEntitlementExceeded(const std::string& doc_hash,
                                                          const std::string& round_id,
                                                          const std::string& kit_type_id,
                                                          int64_t allowed,
                                                          std::vector<ServedHandover> served);

// --- duplicate beneficiary
struct Registration {
  std::string beneficiary_id;
  std::string post_id;
  std::string device_id;
  Hlc hlc;
  bool clock_ahead = false;
};
// A conflict when more than one beneficiary ID carries `doc_hash`. All are kept, linked by it.
std::optional<DetectedConflict> DetectDuplicateBeneficiary(const std::string& doc_hash,
                                                           std::vector<Registration> registered);

// --- stock deficit
struct StockTotals {
  int64_t received = 0;     // receipts and transfers in
  int64_t transferred = 0;  // transfers out
  int64_t adjusted = 0;     // signed sum of adjustments
  int64_t handed_out = 0;   // handovers not voided
  int64_t balance() const { return received - transferred + adjusted - handed_out; }
};
// A conflict while the balance is negative. The balance is shown as it is, never clamped.
std::optional<DetectedConflict> DetectStockDeficit(const std::string& post_id,
                                                   const std::string& kit_type_id,
                                                   const StockTotals& totals);

// --- concurrent corrections of a beneficiary
// Which of two versions of a field stands: the later HLC, then the greater device ID, so every
// replica picks the same one whatever order they arrived in.
bool IsNewerVersion(Hlc a_hlc, std::string_view a_device, Hlc b_hlc, std::string_view b_device);
// The same rule in SQL, for a store that keeps the current details in a `beneficiaries` row with
// <field>_version (packed HLC, 0 for the registration) and <field>_device columns: applies `u`
// to that row field by field. The tablet and the server both keep such a row.
Status ApplyCorrectionToRow(sqlite::Db& db, const BeneficiaryUpdate& u);
// The newest version of any field of the row, or its registration: what an editor has seen.
inline constexpr char kSeenVersionSql[] =
    "SELECT max(hlc, name_version, phone_version, household_version) FROM beneficiaries "
    "WHERE id = ?";

// The beneficiary's details once every correction is applied field by field.
Beneficiary CurrentDetails(Beneficiary registered, const std::vector<BeneficiaryUpdate>& updates);
// Corrections are concurrent when neither editor had seen the other's (each one's base is older
// than the other) and they set the same field to different values. A conflict names every
// correction in such a pair; the later version stands meanwhile. `clock_ahead` holds the IDs of
// corrections whose clock was beyond the allowed skew when they arrived.
std::optional<DetectedConflict> DetectConcurrentUpdate(const Beneficiary& registered,
                                                       std::vector<BeneficiaryUpdate> updates,
                                                       const std::vector<std::string>& clock_ahead);

// --- update vs void: a retired beneficiary corrected by an editor who had not seen the merge
// `merges` are every merge that retired `retired_id` (the one standing decides the kept
// beneficiary), `corrections` every correction of it. A conflict names the standing merge and
// each correction that missed some merge (CorrectionMissedMerge). The merge stands meanwhile:
// the correction is kept with the retired record and not applied to the kept one.
std::optional<DetectedConflict> DetectUpdateVsVoid(const std::string& retired_id,
                                                   const std::string& retired_post_id,
                                                   const std::vector<BeneficiaryMerge>& merges,
                                                   std::vector<BeneficiaryUpdate> corrections,
                                                   const std::vector<std::string>& clock_ahead);

// --- what becomes of a stored conflict when its situation is looked at again
struct StoredConflictState {
  ConflictStatus status = ConflictStatus::kOpen;
  std::string fingerprint;  // of the sides when it was last written
  // Everything as last written, when the caller has it: an open conflict whose sides are the
  // same may still read differently (a later correction changed the value that stands).
  std::optional<DetectedConflict> written;
};
enum class ConflictUpdate {
  kNone,     // nothing to write
  kInsert,   // new: record it open
  kRefresh,  // still open: rewrite its sides, summary and provisional outcome
  kReopen,   // resolved or cleared, but it holds again with other sides: open it again
  kClear,    // was open, no longer holds
};
ConflictUpdate NextConflictUpdate(const std::optional<StoredConflictState>& stored,
                                  const std::optional<DetectedConflict>& detected);

}  // namespace kitsync::core

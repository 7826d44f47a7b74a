#include "kitsync/core/conflicts.h"

#include "kitsync/core/merges.h"

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>

namespace kitsync::core {
namespace {

constexpr std::pair<ConflictKind, std::string_view> kKinds[] = {
    {ConflictKind::kEntitlementExceeded, "entitlement-exceeded"},
    {ConflictKind::kDuplicateBeneficiary, "duplicate-beneficiary"},
    {ConflictKind::kStockDeficit, "stock-deficit"},
    {ConflictKind::kConcurrentUpdate, "concurrent-update"},
    {ConflictKind::kUpdateVsVoid, "update-vs-void"},
};
constexpr std::pair<ConflictStatus, std::string_view> kStatuses[] = {
    {ConflictStatus::kOpen, "open"},
    {ConflictStatus::kResolved, "resolved"},
    {ConflictStatus::kCleared, "cleared"},
};

std::string N(int64_t v) { return std::to_string(v); }

// Sides in one order on every replica: by clock, then device, then ID. A clock far ahead sorts
// last, where it is easy to see, but gains nothing by it: no rule here lets the last side win.
void SortSides(std::vector<ConflictSide>& sides) {
  std::sort(sides.begin(), sides.end(), [](const ConflictSide& a, const ConflictSide& b) {
    return std::tie(a.hlc, a.device_id, a.entity_id) < std::tie(b.hlc, b.device_id, b.entity_id);
  });
}

bool AnyClockAhead(const std::vector<ConflictSide>& sides) {
  return std::any_of(sides.begin(), sides.end(), [](const ConflictSide& s) { return s.clock_ahead; });
}

std::string ClockNote(bool clock_ahead) {
  return clock_ahead ? " A side's clock was beyond the allowed skew when it arrived: its time "
                       "cannot be trusted and decided nothing here."
                     : "";
}

// A side as the fingerprint names it: the record and the quantity that counted.
std::string SideToken(const ConflictSide& s) {
  return s.entity + ":" + s.entity_id + ":" + N(s.quantity) + (s.clock_ahead ? ":ahead" : "");
}

std::string Short(const std::string& hash) { return hash.substr(0, 12); }

}  // namespace

std::string_view ToString(ConflictKind kind) {
  for (const auto& [k, s] : kKinds) {
    if (k == kind) return s;
  }
  return "?";
}

std::string_view ToString(Severity severity) {
  switch (severity) {
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
  }
  return "?";
}

std::string_view ToString(ConflictStatus status) {
  for (const auto& [k, s] : kStatuses) {
    if (k == status) return s;
  }
  return "?";
}

std::optional<ConflictKind> ParseConflictKind(std::string_view s) {
  for (const auto& [k, name] : kKinds) {
    if (name == s) return k;
  }
  return std::nullopt;
}

std::optional<ConflictStatus> ParseConflictStatus(std::string_view s) {
  for (const auto& [k, name] : kStatuses) {
    if (name == s) return k;
  }
  return std::nullopt;
}

std::string DetectedConflict::Fingerprint() const {
  std::string out;
  for (const ConflictSide& s : sides) out += SideToken(s) + ";";
  return out;
}

std::optional<DetectedConflict> DetectEntitlementExceeded(const std::string& doc_hash,
                                                          const std::string& round_id,
                                                          const std::string& kit_type_id,
                                                          int64_t allowed,
                                                          std::vector<ServedHandover> served) {
  // The usual family has had one kit: nothing to count twice, and within the entitlement
  // unless a single handover gave more. Every pushed handover is looked at, so this is decided
  // before any side is built.
  if (served.size() <= 1) {
    if (served.empty() || served.front().voided || served.front().quantity <= allowed) {
      return std::nullopt;
    }
  }
  // The same handover may be offered twice (gathered through two beneficiary IDs): count it once.
  std::set<std::string> seen;
  DetectedConflict c;
  int64_t total = 0;
  std::set<std::string> posts;
  for (const ServedHandover& h : served) {
    if (h.voided || !seen.insert(h.handover_id).second) continue;
    total += h.quantity;
    posts.insert(h.post_id);
    c.sides.push_back({"handover", h.handover_id, h.post_id, h.device_id, h.hlc, h.wall_ms,
                       h.quantity, h.clock_ahead,
                       h.override_reason.empty() ? "" : "officer's reason: " + h.override_reason});
  }
  if (total <= allowed) return std::nullopt;
  SortSides(c.sides);
  c.kind = ConflictKind::kEntitlementExceeded;
  c.key = "entitlement-exceeded/" + doc_hash + "/" + round_id + "/" + kit_type_id;
  // Kits given beyond twice the entitlement, or across posts, look like a pattern, not a slip.
  c.severity = (total > 2 * allowed || posts.size() > 1) ? Severity::kHigh : Severity::kMedium;
  c.clock_ahead = AnyClockAhead(c.sides);
  c.summary = "family " + Short(doc_hash) + " received " + N(total) + " where the round allows " +
              N(allowed) + ", in " + N(static_cast<int64_t>(c.sides.size())) + " handovers at " +
              N(static_cast<int64_t>(posts.size())) + (posts.size() == 1 ? " post" : " posts");
  c.provisional = "every handover stands: the kits have left." + ClockNote(c.clock_ahead);
  return c;
}

std::optional<DetectedConflict> DetectDuplicateBeneficiary(const std::string& doc_hash,
                                                           std::vector<Registration> registered) {
  DetectedConflict c;
  std::set<std::string> seen;
  std::set<std::string> posts;
  for (const Registration& r : registered) {
    if (!seen.insert(r.beneficiary_id).second) continue;
    posts.insert(r.post_id);
    c.sides.push_back(
        {"beneficiary", r.beneficiary_id, r.post_id, r.device_id, r.hlc, 0, 0, r.clock_ahead, ""});
  }
  if (c.sides.size() < 2) return std::nullopt;
  SortSides(c.sides);
  c.kind = ConflictKind::kDuplicateBeneficiary;
  c.key = "duplicate-beneficiary/" + doc_hash;
  c.severity = Severity::kLow;
  c.clock_ahead = AnyClockAhead(c.sides);
  c.summary = "document " + Short(doc_hash) + " registered " +
              N(static_cast<int64_t>(c.sides.size())) + " times, at " +
              N(static_cast<int64_t>(posts.size())) + (posts.size() == 1 ? " post" : " posts");
  c.provisional = "every registration is kept, linked by the document hash; entitlement counts "
                  "them as one family." +
                  ClockNote(c.clock_ahead);
  return c;
}

std::optional<DetectedConflict> DetectStockDeficit(const std::string& post_id,
                                                   const std::string& kit_type_id,
                                                   const StockTotals& totals) {
  const int64_t balance = totals.balance();
  if (balance >= 0) return std::nullopt;
  DetectedConflict c;
  c.kind = ConflictKind::kStockDeficit;
  c.key = "stock-deficit/" + post_id + "/" + kit_type_id;
  c.severity = Severity::kHigh;
  c.sides.push_back({"stock", post_id + "/" + kit_type_id, post_id, "", {}, 0, balance, false,
                     "received " + N(totals.received) + ", transferred out " +
                         N(totals.transferred) + ", adjusted " + N(totals.adjusted) +
                         ", handed out " + N(totals.handed_out)});
  c.summary = "handed out " + N(totals.handed_out) + " but received " + N(totals.received) +
              " (net of transfers and adjustments: balance " + N(balance) + ")";
  c.provisional = "the balance is shown as " + N(balance) + "; nothing is clamped.";
  return c;
}

bool IsNewerVersion(Hlc a_hlc, std::string_view a_device, Hlc b_hlc, std::string_view b_device) {
  return std::tie(a_hlc, a_device) > std::tie(b_hlc, b_device);
}

namespace {

// The three correctable fields, read and written the same way.
struct Field {
  const char* name;
  bool (*set)(const BeneficiaryUpdate&);
  std::string (*value)(const BeneficiaryUpdate&);
  void (*apply)(Beneficiary&, const BeneficiaryUpdate&);
  std::string (*current)(const Beneficiary&);
};

const Field kFields[] = {
    {"name", [](const BeneficiaryUpdate& u) { return u.full_name.has_value(); },
     [](const BeneficiaryUpdate& u) { return u.full_name.value_or(""); },
     [](Beneficiary& b, const BeneficiaryUpdate& u) { b.full_name = *u.full_name; },
     [](const Beneficiary& b) { return b.full_name; }},
    {"phone", [](const BeneficiaryUpdate& u) { return u.phone.has_value(); },
     [](const BeneficiaryUpdate& u) { return u.phone.value_or(""); },
     [](Beneficiary& b, const BeneficiaryUpdate& u) { b.phone = *u.phone; },
     [](const Beneficiary& b) { return b.phone; }},
    {"household", [](const BeneficiaryUpdate& u) { return u.household_size.has_value(); },
     [](const BeneficiaryUpdate& u) { return N(u.household_size.value_or(0)); },
     [](Beneficiary& b, const BeneficiaryUpdate& u) { b.household_size = *u.household_size; },
     [](const Beneficiary& b) { return N(b.household_size); }},
};

void SortUpdates(std::vector<BeneficiaryUpdate>& updates) {
  std::sort(updates.begin(), updates.end(), [](const auto& a, const auto& b) {
    return std::tie(a.hlc, a.device_id, a.id) < std::tie(b.hlc, b.device_id, b.id);
  });
  updates.erase(std::unique(updates.begin(), updates.end(),
                            [](const auto& a, const auto& b) { return a.id == b.id; }),
                updates.end());
}

}  // namespace

Beneficiary CurrentDetails(Beneficiary registered, const std::vector<BeneficiaryUpdate>& updates) {
  std::vector<BeneficiaryUpdate> ordered = updates;
  SortUpdates(ordered);  // the newest version of each field is applied last
  for (const BeneficiaryUpdate& u : ordered) {
    for (const Field& f : kFields) {
      if (f.set(u)) f.apply(registered, u);
    }
  }
  return registered;
}

std::optional<DetectedConflict> DetectConcurrentUpdate(const Beneficiary& registered,
                                                       std::vector<BeneficiaryUpdate> updates,
                                                       const std::vector<std::string>& clock_ahead) {
  SortUpdates(updates);
  std::set<std::string> involved;
  std::set<std::string> fields;
  Hlc oldest_base = Hlc{std::numeric_limits<int64_t>::max() >> Hlc::kLogicalBits, 0};
  for (size_t i = 0; i < updates.size(); ++i) {
    for (size_t j = i + 1; j < updates.size(); ++j) {
      const BeneficiaryUpdate& a = updates[i];
      const BeneficiaryUpdate& b = updates[j];
      if (a.device_id == b.device_id) continue;  // one device's corrections are in its order
      if (!(a.base_hlc < b.hlc && b.base_hlc < a.hlc)) continue;  // one saw the other
      for (const Field& f : kFields) {
        if (f.set(a) && f.set(b) && f.value(a) != f.value(b)) {
          involved.insert(a.id);
          involved.insert(b.id);
          fields.insert(f.name);
          oldest_base = std::min({oldest_base, a.base_hlc, b.base_hlc});
        }
      }
    }
  }
  if (involved.empty()) return std::nullopt;

  // The version both editors started from: everything no later than the oldest base.
  std::vector<BeneficiaryUpdate> seen_by_both;
  for (const BeneficiaryUpdate& u : updates) {
    if (u.hlc <= oldest_base) seen_by_both.push_back(u);
  }
  const Beneficiary base = CurrentDetails(registered, seen_by_both);
  const Beneficiary now = CurrentDetails(registered, updates);

  DetectedConflict c;
  c.kind = ConflictKind::kConcurrentUpdate;
  c.key = "concurrent-update/" + registered.id;
  c.severity = Severity::kLow;
  std::string field_list, base_text, now_text;
  for (const Field& f : kFields) {
    if (!fields.count(f.name)) continue;
    field_list += (field_list.empty() ? "" : ", ") + std::string(f.name);
    base_text += std::string(base_text.empty() ? "" : ", ") + f.name + " '" + f.current(base) + "'";
    now_text += std::string(now_text.empty() ? "" : ", ") + f.name + " '" + f.current(now) + "'";
  }
  c.sides.push_back({"base", registered.id, registered.post_id, "", oldest_base, 0, 0, false,
                     "before the corrections: " + base_text});
  for (const BeneficiaryUpdate& u : updates) {
    if (!involved.count(u.id)) continue;
    std::string values;
    for (const Field& f : kFields) {
      if (f.set(u)) values += (values.empty() ? "" : ", ") + std::string(f.name) + " '" + f.value(u) + "'";
    }
    const bool ahead = std::find(clock_ahead.begin(), clock_ahead.end(), u.id) != clock_ahead.end();
    c.sides.push_back({"correction", u.id, u.post_id, u.device_id, u.hlc, u.wall_ms, 0, ahead,
                       values});
  }
  c.clock_ahead = AnyClockAhead(c.sides);
  c.summary = "beneficiary " + registered.id + ": " + field_list +
              " corrected in " + N(static_cast<int64_t>(involved.size())) +
              " places that had not seen each other";
  c.provisional = "field by field, the later version stands: " + now_text + "." +
                  ClockNote(c.clock_ahead);
  return c;
}

namespace {

std::string CorrectedValues(const BeneficiaryUpdate& u) {
  std::string values;
  for (const Field& f : kFields) {
    if (!f.set(u)) continue;
    values += (values.empty() ? "" : ", ") + std::string(f.name) + " '" + f.value(u) + "'";
  }
  return values;
}

}  // namespace

std::optional<DetectedConflict> DetectUpdateVsVoid(const std::string& retired_id,
                                                   const std::string& retired_post_id,
                                                   const std::vector<BeneficiaryMerge>& merges,
                                                   std::vector<BeneficiaryUpdate> corrections,
                                                   const std::vector<std::string>& clock_ahead) {
  const auto standing = StandingMerges(merges);
  auto it = standing.find(retired_id);
  if (it == standing.end()) return std::nullopt;
  const BeneficiaryMerge& merge = it->second;
  SortUpdates(corrections);
  DetectedConflict c;
  for (const BeneficiaryUpdate& u : corrections) {
    const bool missed = std::any_of(merges.begin(), merges.end(), [&](const BeneficiaryMerge& m) {
      return CorrectionMissedMerge(u, m);
    });
    if (!missed) continue;
    const bool ahead = std::find(clock_ahead.begin(), clock_ahead.end(), u.id) != clock_ahead.end();
    c.sides.push_back({"correction", u.id, u.post_id, u.device_id, u.hlc, u.wall_ms, 0, ahead,
                       CorrectedValues(u)});
  }
  if (c.sides.empty()) return std::nullopt;
  // The merge first: it is what the corrections missed. Its ID is the side's, so a later merge
  // of the same beneficiary (into another family) is a new side, for a new look.
  c.sides.insert(c.sides.begin(),
                 {"merge", merge.id, retired_post_id, merge.device_id, merge.hlc, merge.wall_ms, 0,
                  false, "beneficiary " + retired_id + " merged into " + merge.kept_id});
  c.kind = ConflictKind::kUpdateVsVoid;
  c.key = "update-vs-void/" + retired_id;
  c.severity = Severity::kLow;
  c.clock_ahead = AnyClockAhead(c.sides);
  const auto n = static_cast<int64_t>(c.sides.size() - 1);
  c.summary = "beneficiary " + retired_id + " was merged into " + merge.kept_id + ", and " +
              (n == 1 ? "a correction" : N(n) + " corrections") +
              " made without knowing of the merge reached the server";
  c.provisional = "the merge stands: the correction is kept with the retired record and not "
                  "applied to " + merge.kept_id + "." + ClockNote(c.clock_ahead);
  return c;
}

ConflictUpdate NextConflictUpdate(const std::optional<StoredConflictState>& stored,
                                  const std::optional<DetectedConflict>& detected) {
  if (!stored) return detected ? ConflictUpdate::kInsert : ConflictUpdate::kNone;
  if (!detected) {
    return stored->status == ConflictStatus::kOpen ? ConflictUpdate::kClear : ConflictUpdate::kNone;
  }
  switch (stored->status) {
    case ConflictStatus::kOpen:
      return detected->Fingerprint() == stored->fingerprint &&
                     (!stored->written || *stored->written == *detected)
                 ? ConflictUpdate::kNone
                 : ConflictUpdate::kRefresh;
    case ConflictStatus::kResolved: {
      // The admin decided on the sides they saw. Fewer of them (one was voided since) leaves the
      // decision standing; a side they never saw opens the question again.
      std::set<std::string> decided;
      for (std::string_view rest = stored->fingerprint; !rest.empty();) {
        const size_t end = rest.find(';');
        decided.emplace(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      }
      for (const ConflictSide& s : detected->sides) {
        if (!decided.count(SideToken(s))) return ConflictUpdate::kReopen;
      }
      return ConflictUpdate::kNone;
    }
    case ConflictStatus::kCleared:
      return ConflictUpdate::kReopen;
  }
  return ConflictUpdate::kNone;
}

}  // namespace kitsync::core

#include "kitsync/core/conflicts.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace kitsync::core {
namespace {

constexpr std::pair<ConflictKind, std::string_view> kKinds[] = {
    {ConflictKind::kEntitlementExceeded, "entitlement-exceeded"},
    {ConflictKind::kDuplicateBeneficiary, "duplicate-beneficiary"},
    {ConflictKind::kStockDeficit, "stock-deficit"},
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

ConflictUpdate NextConflictUpdate(const std::optional<StoredConflictState>& stored,
                                  const std::optional<DetectedConflict>& detected) {
  if (!stored) return detected ? ConflictUpdate::kInsert : ConflictUpdate::kNone;
  if (!detected) {
    return stored->status == ConflictStatus::kOpen ? ConflictUpdate::kClear : ConflictUpdate::kNone;
  }
  switch (stored->status) {
    case ConflictStatus::kOpen:
      return detected->Fingerprint() == stored->fingerprint ? ConflictUpdate::kNone
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

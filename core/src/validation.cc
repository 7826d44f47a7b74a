#include "kitsync/core/validation.h"

#include <array>
#include <cctype>
#include <set>
#include <string>

#include "kitsync/core/domain.h"
#include "kitsync/core/ids.h"

namespace kitsync::core {
namespace {

// A document hash: 64 lower-case hex digits. Checked for every registration and every served
// summary, a table lookup per character.
bool IsDocHash(std::string_view s) {
  static constexpr auto kLowerHex = [] {
    std::array<bool, 256> t{};
    for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
    for (char c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  if (s.size() != 64) return false;
  bool ok = true;
  for (unsigned char c : s) ok &= kLowerHex[c];
  return ok;
}

std::string Quoted(std::string_view s) {
  constexpr size_t kShown = 40;
  std::string out = "'";
  out += s.substr(0, kShown);
  if (s.size() > kShown) out += "...";
  out += "'";
  return out;
}

// What ValidateText asks of a text, found in one pass: it runs on every text of every record
// (a bulk import checks a proof reference and a reason on every row).
struct TextScan {
  bool blank = true;        // nothing but spaces and tabs
  bool valid_utf8 = true;   // when false, the scan stopped at the first bad sequence
  bool control = false;     // a control character other than a tab
  size_t code_points = 0;   // counted, not bytes: names are typed in many scripts
};

// The length of the UTF-8 sequence that `lead` starts, or 0 when no sequence starts with it.
size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 0;
}

TextScan ScanText(std::string_view s) {
  TextScan scan;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      scan.blank &= c == ' ' || c == '\t';
      scan.control |= c < 0x20 && c != '\t';
      ++scan.code_points;
      ++i;
      continue;
    }
    scan.blank = false;
    const size_t length = Utf8SequenceLength(c);
    bool valid = length != 0 && i + length <= s.size();
    for (size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (!valid) {
      scan.valid_utf8 = false;
      return scan;
    }
    ++scan.code_points;
    i += length;
  }
  return scan;
}

}  // namespace

Status ValidateCode(std::string_view field, std::string_view value) {
  if (value.empty()) return Status::InvalidArgument(std::string(field) + " is required");
  if (value.size() > kMaxCodeLength) {
    return Status::InvalidArgument(std::string(field) + " " + Quoted(value) + " is longer than " +
                                   std::to_string(kMaxCodeLength) + " characters");
  }
  for (unsigned char c : value) {
    if (!(std::isupper(c) || std::isdigit(c) || c == '-' || c == '_')) {
      return Status::InvalidArgument(std::string(field) + " " + Quoted(value) +
                                     " may hold only capital letters, digits, '-' and '_'");
    }
  }
  return Status::Ok();
}

Status ValidateText(std::string_view field, std::string_view value, size_t max_length,
                    bool required) {
  const TextScan scan = ScanText(value);
  if (required && scan.blank) return Status::InvalidArgument(std::string(field) + " is required");
  if (!scan.valid_utf8) {
    return Status::InvalidArgument(std::string(field) + " is not valid UTF-8 text");
  }
  if (scan.control) {
    return Status::InvalidArgument(std::string(field) + " contains a control character");
  }
  if (scan.code_points > max_length) {
    return Status::InvalidArgument(std::string(field) + " is longer than " +
                                   std::to_string(max_length) + " characters");
  }
  return Status::Ok();
}

Status ValidateId(std::string_view field, std::string_view value) {
  if (value.empty()) return Status::InvalidArgument(std::string(field) + " is required");
  if (!IsValidUuid(value)) {
    return Status::InvalidArgument(std::string(field) + " " + Quoted(value) +
                                   " is not a valid ID (expected a lower-case UUID such as "
                                   "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f)");
  }
  return Status::Ok();
}

Status ValidateQuantity(std::string_view field, int64_t quantity) {
  if (quantity < 1) {
    return Status::InvalidArgument(std::string(field) + " must be at least 1, got " +
                                   std::to_string(quantity));
  }
  if (quantity > kMaxQuantity) {
    return Status::InvalidArgument(std::string(field) + " " + std::to_string(quantity) +
                                   " is more than " + std::to_string(kMaxQuantity) +
                                   ", which no single record may exceed");
  }
  return Status::Ok();
}

Status ValidateMasterData(const MasterData& data) {
  std::set<std::string> kit_ids, post_ids;
  for (const KitType& k : data.kit_types) {
    RETURN_IF_ERROR(ValidateId("kit type ID", k.id));
    RETURN_IF_ERROR(ValidateCode("kit type code", k.code));
    RETURN_IF_ERROR(ValidateText("kit type name", k.name, kMaxNameLength, true));
    RETURN_IF_ERROR(ValidateText("kit type unit", k.unit, kMaxCodeLength, true));
    kit_ids.insert(k.id);
  }
  for (const Post& p : data.posts) {
    RETURN_IF_ERROR(ValidateId("post ID", p.id));
    RETURN_IF_ERROR(ValidateCode("post code", p.code));
    RETURN_IF_ERROR(ValidateText("post name", p.name, kMaxNameLength, true));
    post_ids.insert(p.id);
  }
  for (const Officer& o : data.officers) {
    RETURN_IF_ERROR(ValidateId("officer ID", o.id));
    RETURN_IF_ERROR(ValidateCode("officer code", o.code));
    RETURN_IF_ERROR(ValidateText("officer name", o.name, kMaxNameLength, true));
    RETURN_IF_ERROR(ValidateId("officer's post ID", o.post_id));
  }
  for (const Round& r : data.rounds) {
    RETURN_IF_ERROR(ValidateId("round ID", r.id));
    RETURN_IF_ERROR(ValidateCode("round code", r.code));
    RETURN_IF_ERROR(ValidateText("round name", r.name, kMaxNameLength, true));
    if (r.entitlements.empty()) {
      return Status::InvalidArgument("round " + r.code + " names no kit type to distribute");
    }
    for (const Entitlement& e : r.entitlements) {
      RETURN_IF_ERROR(ValidateId("entitled kit type ID", e.kit_type_id));
      RETURN_IF_ERROR(ValidateQuantity("entitlement of round " + r.code, e.max_per_beneficiary));
    }
  }
  return Status::Ok();
}

namespace {

Status ValidateHlcSet(std::string_view what, const Hlc& hlc) {
  if (hlc.physical_ms <= 0) return Status::InvalidArgument(std::string(what) + " has no timestamp");
  return Status::Ok();
}

}  // namespace

Status ValidateBeneficiaryRecord(const Beneficiary& b) {
  RETURN_IF_ERROR(ValidateId("beneficiary ID", b.id));
  if (!IsDocHash(b.doc_hash)) {
    return Status::InvalidArgument("beneficiary " + b.id + " has a malformed document hash");
  }
  RETURN_IF_ERROR(ValidateText("name", b.full_name, kMaxNameLength, true));
  RETURN_IF_ERROR(ValidateText("phone", b.phone, kMaxCodeLength, false));
  if (b.household_size < 1 || b.household_size > kMaxHouseholdSize) {
    return Status::InvalidArgument("household size must be between 1 and " +
                                   std::to_string(kMaxHouseholdSize) + ", got " +
                                   std::to_string(b.household_size));
  }
  RETURN_IF_ERROR(ValidateId("beneficiary's post ID", b.post_id));
  RETURN_IF_ERROR(ValidateId("beneficiary's device ID", b.device_id));
  return ValidateHlcSet("beneficiary", b.hlc);
}

Status ValidateBeneficiaryUpdateRecord(const BeneficiaryUpdate& u) {
  RETURN_IF_ERROR(ValidateId("correction ID", u.id));
  RETURN_IF_ERROR(ValidateId("corrected beneficiary's ID", u.beneficiary_id));
  if (!u.full_name && !u.phone && !u.household_size) {
    return Status::InvalidArgument("a correction must change at least one of name, phone and "
                                   "household size");
  }
  if (u.full_name) RETURN_IF_ERROR(ValidateText("name", *u.full_name, kMaxNameLength, true));
  if (u.phone) RETURN_IF_ERROR(ValidateText("phone", *u.phone, kMaxCodeLength, false));
  if (u.household_size && (*u.household_size < 1 || *u.household_size > kMaxHouseholdSize)) {
    return Status::InvalidArgument("household size must be between 1 and " +
                                   std::to_string(kMaxHouseholdSize) + ", got " +
                                   std::to_string(*u.household_size));
  }
  RETURN_IF_ERROR(ValidateId("corrected beneficiary's post ID", u.post_id));
  RETURN_IF_ERROR(ValidateId("correcting officer's ID", u.officer_id));
  RETURN_IF_ERROR(ValidateId("correcting device's ID", u.device_id));
  if (u.base_hlc > u.hlc) {
    return Status::InvalidArgument("a correction cannot have seen a version newer than itself");
  }
  return ValidateHlcSet("correction", u.hlc);
}

Status ValidateServedSummary(const ServedSummary& s) {
  if (!IsDocHash(s.doc_hash)) {
    return Status::InvalidArgument("a served summary has a malformed document hash");
  }
  RETURN_IF_ERROR(ValidateId("served summary's round ID", s.round_id));
  RETURN_IF_ERROR(ValidateId("served summary's kit type ID", s.kit_type_id));
  RETURN_IF_ERROR(ValidateId("served summary's post ID", s.post_id));
  if (s.quantity < 0 || s.quantity > kMaxCount) {
    return Status::InvalidArgument("a served summary's quantity must be within 0.." +
                                   std::to_string(kMaxCount));
  }
  return Status::Ok();
}

Status ValidateResolution(const ConflictResolution& r) {
  RETURN_IF_ERROR(ValidateId("resolved conflict's ID", r.conflict_id));
  RETURN_IF_ERROR(ValidateText("conflict kind", r.kind, kMaxCodeLength, true));
  RETURN_IF_ERROR(ValidateText("decision", r.action, kMaxCodeLength, true));
  if (r.subject_ids.size() > 1000) {
    return Status::InvalidArgument("a resolution covers at most 1000 records");
  }
  for (const std::string& id : r.subject_ids) {
    RETURN_IF_ERROR(ValidateId("resolution's subject", id));
  }
  RETURN_IF_ERROR(ValidateText("resolution's note", r.note, kMaxReasonLength, false));
  RETURN_IF_ERROR(ValidateText("who decided", r.decided_by, kMaxNameLength, true));
  RETURN_IF_ERROR(ValidateId("resolution's post ID", r.post_id));
  return ValidateHlcSet("resolution", r.hlc);
}

Status ValidateMergeRecord(const BeneficiaryMerge& m) {
  RETURN_IF_ERROR(ValidateId("merge ID", m.id));
  RETURN_IF_ERROR(ValidateId("retired beneficiary's ID", m.retired_id));
  RETURN_IF_ERROR(ValidateId("kept beneficiary's ID", m.kept_id));
  if (m.retired_id == m.kept_id) {
    return Status::InvalidArgument("a beneficiary cannot be merged into itself");
  }
  RETURN_IF_ERROR(ValidateId("merged conflict's ID", m.conflict_id));
  RETURN_IF_ERROR(ValidateText("who decided the merge", m.decided_by, kMaxNameLength, true));
  RETURN_IF_ERROR(ValidateId("merging device's ID", m.device_id));
  if (m.base_hlc >= m.hlc) {
    return Status::InvalidArgument("a merge must order after the version it saw");
  }
  return ValidateHlcSet("merge", m.hlc);
}

Status ValidateHandoverRecord(const Handover& h) {
  RETURN_IF_ERROR(ValidateId("handover ID", h.id));
  RETURN_IF_ERROR(ValidateHandoverContent(h));
  return ValidateHlcSet("handover", h.hlc);
}

Status ValidateHandoverContent(const Handover& h) {
  RETURN_IF_ERROR(ValidateId("round ID", h.round_id));
  RETURN_IF_ERROR(ValidateId("beneficiary ID", h.beneficiary_id));
  RETURN_IF_ERROR(ValidateId("kit type ID", h.kit_type_id));
  RETURN_IF_ERROR(ValidateQuantity("quantity", h.quantity));
  RETURN_IF_ERROR(ValidateId("post ID", h.post_id));
  RETURN_IF_ERROR(ValidateId("officer ID", h.officer_id));
  RETURN_IF_ERROR(ValidateId("device ID", h.device_id));
  if (!h.consent) {
    return Status::InvalidArgument(
        "the beneficiary's consent to record this handover is required");
  }
  if (h.proof_kind == ProofKind::kNone) {
    if (!h.proof_ref.empty()) {
      return Status::InvalidArgument("a proof reference was given without its kind");
    }
  } else {
    RETURN_IF_ERROR(ValidateText("proof of receipt", h.proof_ref, kMaxReferenceLength, true));
  }
  if (h.collected_by == Collector::kProxy) {
    RETURN_IF_ERROR(ValidateText("proxy's relation to the beneficiary", h.proxy_relation,
                                 kMaxNameLength, true));
  } else if (!h.proxy_relation.empty()) {
    return Status::InvalidArgument("a proxy relation was given for a handover collected in person");
  }
  RETURN_IF_ERROR(ValidateText("override reason", h.override_reason, kMaxReasonLength, false));
  if (h.override_reason.empty() != h.overridden_warnings.empty()) {
    return Status::InvalidArgument("an override needs both its reason and the warnings it covers");
  }
  static const std::set<std::string> kWarnings = {"stock-exceeded", "entitlement-exceeded"};
  for (const std::string& w : h.overridden_warnings) {
    if (!kWarnings.count(w)) return Status::InvalidArgument("unknown warning '" + w + "'");
  }
  return Status::Ok();
}

Status ValidateVoidRecord(const HandoverVoid& v) {
  RETURN_IF_ERROR(ValidateId("voided handover ID", v.handover_id));
  RETURN_IF_ERROR(ValidateText("reason for voiding", v.reason, kMaxReasonLength, true));
  RETURN_IF_ERROR(ValidateId("officer ID", v.officer_id));
  RETURN_IF_ERROR(ValidateId("device ID", v.device_id));
  return ValidateHlcSet("void", v.hlc);
}

Status ValidateMovementRecord(const StockMovement& m) {
  RETURN_IF_ERROR(ValidateId("stock movement ID", m.id));
  RETURN_IF_ERROR(ValidateId("post ID", m.post_id));
  RETURN_IF_ERROR(ValidateId("kit type ID", m.kit_type_id));
  switch (m.kind) {
    case MovementKind::kAdjustment:
      if (m.quantity == 0) return Status::InvalidArgument("an adjustment must change the stock");
      // Checked before negating: -INT64_MIN does not exist, and the value may come off the wire.
      if (m.quantity < -kMaxQuantity) {
        return Status::InvalidArgument("an adjustment of " + std::to_string(m.quantity) +
                                       " is beyond what one record may move");
      }
      RETURN_IF_ERROR(ValidateQuantity("adjustment", m.quantity < 0 ? -m.quantity : m.quantity));
      RETURN_IF_ERROR(ValidateText("reason for the adjustment", m.reason, kMaxReasonLength, true));
      break;
    case MovementKind::kCount:
      if (m.quantity < 0 || m.quantity > kMaxCount) {
        return Status::InvalidArgument("a physical count must be between 0 and " +
                                       std::to_string(kMaxCount));
      }
      break;
    default:
      RETURN_IF_ERROR(ValidateQuantity("quantity", m.quantity));
  }
  const bool transfer =
      m.kind == MovementKind::kTransferIn || m.kind == MovementKind::kTransferOut;
  if (transfer) {
    RETURN_IF_ERROR(ValidateId("other post of the transfer", m.counterpart_post_id));
    if (m.counterpart_post_id == m.post_id) {
      return Status::InvalidArgument("a transfer must be to or from another post");
    }
  } else if (!m.counterpart_post_id.empty()) {
    return Status::InvalidArgument("only transfers name another post");
  }
  RETURN_IF_ERROR(ValidateText("reference", m.reference, kMaxReferenceLength, false));
  RETURN_IF_ERROR(ValidateText("reason", m.reason, kMaxReasonLength, false));
  RETURN_IF_ERROR(ValidateId("officer ID", m.officer_id));
  RETURN_IF_ERROR(ValidateId("device ID", m.device_id));
  return ValidateHlcSet("stock movement", m.hlc);
}

}  // namespace kitsync::core

#include "kitsync/core/canonical.h"

#include <nlohmann/json.hpp>

#include "canonical_flat.h"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace kitsync::core {
namespace {

using nlohmann::json;

std::string GetString(const json& j, const char* key, bool required = false) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) throw std::invalid_argument(std::string("missing field '") + key + "'");
    return {};
  }
  return it->get<std::string>();
}

int64_t GetInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) throw std::invalid_argument(std::string("missing field '") + key + "'");
  if (!it->is_number_integer()) {
    throw std::invalid_argument(std::string("field '") + key + "' is not an integer");
  }
  return it->get<int64_t>();
}

Hlc GetHlc(const json& j) {
  auto it = j.find("hlc");
  if (it == j.end() || !it->is_number_unsigned()) {
    throw std::invalid_argument("missing or malformed field 'hlc'");
  }
  return Hlc::Unpack(it->get<uint64_t>());
}

template <typename E>
E GetEnum(const json& j, const char* key, std::optional<E> (*parse)(std::string_view), E dflt) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  auto v = parse(it->get<std::string>());
  if (!v) throw std::invalid_argument(std::string("unknown value of field '") + key + "'");
  return *v;
}

template <typename T, typename F>
Result<T> Decode(const std::string& payload, const char* what, F&& fill) {
  try {
    json j = json::parse(payload);
    if (!j.is_object()) return Status::InvalidArgument(std::string(what) + " is not an object");
    T out;
    fill(j, out);
    return out;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed ") + what + ": " + e.what());
  }
}

// Encoding runs once per recorded fact (to hash it) and once per uploaded one, so it is written
// by hand rather than through a JSON DOM. Keys must be added in sorted order; the result is the
// same text a sorted-key JSON dump produces, which canonical_test checks.
class CanonicalWriter {
 public:
  CanonicalWriter() { out_.reserve(512); out_.push_back('{'); }

  void Int(std::string_view key, int64_t v) {
    Key(key);
    Number(v);
  }
  void UInt(std::string_view key, uint64_t v) {
    Key(key);
    Number(v);
  }
  void Str(std::string_view key, std::string_view v) {
    Key(key);
    Quote(v);
  }
  // Empty optional strings are left out, so that the encoding stays compact and a record that
  // gains an optional field later still hashes the same when the field is unset.
  void StrIfSet(std::string_view key, std::string_view v) {
    if (!v.empty()) Str(key, v);
  }
  void StrList(std::string_view key, const std::vector<std::string>& list) {
    Key(key);
    out_.push_back('[');
    for (size_t i = 0; i < list.size(); ++i) {
      if (i) out_.push_back(',');
      Quote(list[i]);
    }
    out_.push_back(']');
  }
  std::string Finish() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  // Keys are the encoders' own literals, lower-case letters and underscores: nothing to escape.
  // The separator, the quoted key and the colon go in with one append.
  void Key(std::string_view key) {
    const bool first = out_.size() == 1;
    if (key.size() > kMaxKeyLength) {  // not one of the encoders' keys
      out_.append(",\"" + first, 2 - first);
      out_.append(key);
      out_.append("\":", 2);
      return;
    }
    char text[2 + kMaxKeyLength + 2];
    size_t n = 0;
    if (!first) text[n++] = ',';
    text[n++] = '"';
    std::memcpy(text + n, key.data(), key.size());
    n += key.size();
    text[n++] = '"';
    text[n++] = ':';
    out_.append(text, n);
  }
  template <typename T>
  void Number(T v) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
    out_.append(digits, static_cast<size_t>(end - digits));
  }
  // Runs of characters JSON writes as they are (all of an ID, a hash, most names) are copied
  // whole; a character at a time made quoting the largest part of encoding. The run is found
  // eight bytes at a time.
  static bool Plain(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\'; }
  // Whether any of the eight bytes of `w` is a control character, '"' or '\\': the "has a
  // byte less than n" and "has a zero byte" word tests, exact when asked of the whole word.
  static bool AnyNotPlain(uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHighBits = 0x8080808080808080ULL;
    auto has_zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHighBits; };
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighBits;
    return (below_space | has_zero_byte(w ^ (kOnes * '"')) | has_zero_byte(w ^ (kOnes * '\\'))) !=
           0;
  }
  static size_t PlainRunEnd(std::string_view s, size_t from) {
    size_t end = from;
    uint64_t word;
    while (end + sizeof word <= s.size()) {
      std::memcpy(&word, s.data() + end, sizeof word);
      if (AnyNotPlain(word)) break;
      end += sizeof word;
    }
    while (end < s.size() && Plain(static_cast<unsigned char>(s[end]))) ++end;
    return end;
  }
  void Quote(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_.push_back('"');
    size_t i = 0;
    while (i < s.size()) {
      const size_t run = PlainRunEnd(s, i);
      out_.append(s.data() + i, run - i);
      if (run == s.size()) break;
      const auto c = static_cast<unsigned char>(s[run]);
      i = run + 1;
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:  // the other control characters
          out_ += "\\u00";
          out_.push_back(kHex[c >> 4]);
          out_.push_back(kHex[c & 0xf]);
      }
    }
    out_.push_back('"');
  }

  static constexpr size_t kMaxKeyLength = 32;
  std::string out_;
};

}  // namespace

std::string EncodeBeneficiary(const Beneficiary& b) {
  CanonicalWriter w;
  w.Str("device", b.device_id);
  w.Str("doc_hash", b.doc_hash);
  w.UInt("hlc", b.hlc.Pack());
  w.Int("household", b.household_size);
  w.Str("id", b.id);
  w.Str("name", b.full_name);
  w.StrIfSet("phone", b.phone);
  w.Str("post", b.post_id);
  return w.Finish();
}

std::string EncodeBeneficiaryUpdate(const BeneficiaryUpdate& u) {
  CanonicalWriter w;
  w.UInt("base_hlc", u.base_hlc.Pack());
  w.Str("beneficiary", u.beneficiary_id);
  w.Str("device", u.device_id);
  w.UInt("hlc", u.hlc.Pack());
  if (u.household_size) w.Int("household", *u.household_size);
  w.Str("id", u.id);
  if (u.full_name) w.Str("name", *u.full_name);
  w.Str("officer", u.officer_id);
  if (u.phone) w.Str("phone", *u.phone);
  w.Str("post", u.post_id);
  w.Int("wall_ms", u.wall_ms);
  return w.Finish();
}

std::string EncodeHandover(const Handover& h) {
  CanonicalWriter w;
  w.Str("beneficiary", h.beneficiary_id);
  if (h.collected_by != Collector::kSelf) w.Str("collector", ToString(h.collected_by));
  w.Int("consent", h.consent ? 1 : 0);
  w.Str("device", h.device_id);
  w.UInt("hlc", h.hlc.Pack());
  w.Str("id", h.id);
  w.Str("kit_type", h.kit_type_id);
  w.Str("officer", h.officer_id);
  w.StrIfSet("override", h.override_reason);
  w.Str("post", h.post_id);
  if (h.proof_kind != ProofKind::kNone) w.Str("proof", ToString(h.proof_kind));
  w.StrIfSet("proof_ref", h.proof_ref);
  w.StrIfSet("proxy", h.proxy_relation);
  w.Int("qty", h.quantity);
  w.Str("round", h.round_id);
  w.Int("wall_ms", h.wall_ms);
  if (!h.overridden_warnings.empty()) w.StrList("warnings", h.overridden_warnings);
  return w.Finish();
}

std::string EncodeHandoverVoid(const HandoverVoid& v) {
  CanonicalWriter w;
  w.Str("device", v.device_id);
  w.Str("handover", v.handover_id);
  w.UInt("hlc", v.hlc.Pack());
  w.Str("officer", v.officer_id);
  w.Str("reason", v.reason);
  w.Int("wall_ms", v.wall_ms);
  return w.Finish();
}

std::string EncodeMovement(const StockMovement& m) {
  CanonicalWriter w;
  w.StrIfSet("counterpart", m.counterpart_post_id);
  w.Str("device", m.device_id);
  w.UInt("hlc", m.hlc.Pack());
  w.Str("id", m.id);
  w.Str("kind", ToString(m.kind));
  w.Str("kit_type", m.kit_type_id);
  w.Str("officer", m.officer_id);
  w.Str("post", m.post_id);
  w.Int("qty", m.quantity);
  w.StrIfSet("reason", m.reason);
  w.StrIfSet("reference", m.reference);
  w.Int("wall_ms", m.wall_ms);
  return w.Finish();
}

std::string EncodeBeneficiaryMerge(const BeneficiaryMerge& m) {
  CanonicalWriter w;
  w.UInt("base_hlc", m.base_hlc.Pack());
  w.Str("by", m.decided_by);
  w.Str("conflict", m.conflict_id);
  w.Str("device", m.device_id);
  w.UInt("hlc", m.hlc.Pack());
  w.Str("id", m.id);
  w.Str("kept", m.kept_id);
  w.Str("retired", m.retired_id);
  w.Int("wall_ms", m.wall_ms);
  return w.Finish();
}

namespace {

// A registration as the encoder writes it, without a DOM; false for anything else, which the
// DOM reader then reads (or refuses) as before: the same fields, with the same types.
bool DecodeCanonicalBeneficiary(const std::string& payload, Beneficiary& b) {
  std::optional<FlatCanonicalObject> o = FlatCanonicalObject::Read(payload);
  if (!o) return false;
  const auto text = [&](const char* key, bool required, std::string& out) {
    FlatCanonicalObject::Value* v = o->Find(key);
    if (!v) return !required;
    if (!v->is_string) return false;
    out = std::move(v->text);
    return true;
  };
  const FlatCanonicalObject::Value* household = o->Find("household");
  const FlatCanonicalObject::Value* hlc = o->Find("hlc");
  if (!household || household->is_string || !hlc || hlc->is_string || hlc->number < 0) {
    return false;
  }
  b.household_size = household->number;
  b.hlc = Hlc::Unpack(static_cast<uint64_t>(hlc->number));
  return text("id", true, b.id) && text("doc_hash", true, b.doc_hash) &&
         text("name", true, b.full_name) && text("phone", false, b.phone) &&
         text("post", true, b.post_id) && text("device", true, b.device_id);
}

}  // namespace

Result<Beneficiary> DecodeBeneficiary(const std::string& payload) {
  if (Beneficiary b; DecodeCanonicalBeneficiary(payload, b)) return b;
  return Decode<Beneficiary>(payload, "beneficiary", [](const json& j, Beneficiary& b) {
    b.id = GetString(j, "id", true);
    b.doc_hash = GetString(j, "doc_hash", true);
    b.full_name = GetString(j, "name", true);
    b.phone = GetString(j, "phone");
    b.household_size = GetInt(j, "household");
    b.post_id = GetString(j, "post", true);
    b.device_id = GetString(j, "device", true);
    b.hlc = GetHlc(j);
  });
}

Result<BeneficiaryUpdate> DecodeBeneficiaryUpdate(const std::string& payload) {
  return Decode<BeneficiaryUpdate>(payload, "beneficiary correction",
                                   [](const json& j, BeneficiaryUpdate& u) {
    u.id = GetString(j, "id", true);
    u.beneficiary_id = GetString(j, "beneficiary", true);
    if (j.contains("name")) u.full_name = GetString(j, "name");
    if (j.contains("phone")) u.phone = GetString(j, "phone");
    if (j.contains("household")) u.household_size = GetInt(j, "household");
    if (auto it = j.find("base_hlc"); it != j.end() && it->is_number_unsigned()) {
      u.base_hlc = Hlc::Unpack(it->get<uint64_t>());
    }
    u.post_id = GetString(j, "post", true);
    u.officer_id = GetString(j, "officer", true);
    u.device_id = GetString(j, "device", true);
    u.hlc = GetHlc(j);
    u.wall_ms = GetInt(j, "wall_ms");
  });
}

Result<Handover> DecodeHandover(const std::string& payload) {
  return Decode<Handover>(payload, "handover", [](const json& j, Handover& h) {
    h.id = GetString(j, "id", true);
    h.round_id = GetString(j, "round", true);
    h.beneficiary_id = GetString(j, "beneficiary", true);
    h.kit_type_id = GetString(j, "kit_type", true);
    h.quantity = GetInt(j, "qty");
    h.post_id = GetString(j, "post", true);
    h.officer_id = GetString(j, "officer", true);
    h.device_id = GetString(j, "device", true);
    h.hlc = GetHlc(j);
    h.wall_ms = GetInt(j, "wall_ms");
    h.proof_kind = GetEnum(j, "proof", &ParseProofKind, ProofKind::kNone);
    h.proof_ref = GetString(j, "proof_ref");
    h.collected_by = GetEnum(j, "collector", &ParseCollector, Collector::kSelf);
    h.proxy_relation = GetString(j, "proxy");
    h.consent = GetInt(j, "consent") != 0;
    h.override_reason = GetString(j, "override");
    if (auto it = j.find("warnings"); it != j.end()) {
      h.overridden_warnings = it->get<std::vector<std::string>>();
    }
  });
}

Result<HandoverVoid> DecodeHandoverVoid(const std::string& payload) {
  return Decode<HandoverVoid>(payload, "handover void", [](const json& j, HandoverVoid& v) {
    v.handover_id = GetString(j, "handover", true);
    v.reason = GetString(j, "reason", true);
    v.officer_id = GetString(j, "officer", true);
    v.device_id = GetString(j, "device", true);
    v.hlc = GetHlc(j);
    v.wall_ms = GetInt(j, "wall_ms");
  });
}

Result<StockMovement> DecodeMovement(const std::string& payload) {
  return Decode<StockMovement>(payload, "stock movement", [](const json& j, StockMovement& m) {
    m.id = GetString(j, "id", true);
    m.post_id = GetString(j, "post", true);
    m.kit_type_id = GetString(j, "kit_type", true);
    m.kind = GetEnum(j, "kind", &ParseMovementKind, MovementKind::kReceipt);
    if (!j.contains("kind")) throw std::invalid_argument("missing field 'kind'");
    m.quantity = GetInt(j, "qty");
    m.counterpart_post_id = GetString(j, "counterpart");
    m.reference = GetString(j, "reference");
    m.reason = GetString(j, "reason");
    m.officer_id = GetString(j, "officer", true);
    m.device_id = GetString(j, "device", true);
    m.hlc = GetHlc(j);
    m.wall_ms = GetInt(j, "wall_ms");
  });
}

Result<BeneficiaryMerge> DecodeBeneficiaryMerge(const std::string& payload) {
  return Decode<BeneficiaryMerge>(payload, "beneficiary merge",
                                  [](const json& j, BeneficiaryMerge& m) {
    m.id = GetString(j, "id", true);
    m.retired_id = GetString(j, "retired", true);
    m.kept_id = GetString(j, "kept", true);
    auto base = j.find("base_hlc");
    if (base == j.end() || !base->is_number_unsigned()) {
      throw std::invalid_argument("missing or malformed field 'base_hlc'");
    }
    m.base_hlc = Hlc::Unpack(base->get<uint64_t>());
    m.conflict_id = GetString(j, "conflict", true);
    m.decided_by = GetString(j, "by", true);
    m.device_id = GetString(j, "device", true);
    m.hlc = GetHlc(j);
    m.wall_ms = GetInt(j, "wall_ms");
  });
}

Result<LoggedForm> ToLoggedForm(const Record& record) {
  if (auto* b = std::get_if<Beneficiary>(&record)) {
    return LoggedForm{"beneficiary", b->id, EncodeBeneficiary(*b)};
  }
  if (auto* h = std::get_if<Handover>(&record)) {
    return LoggedForm{"handover", h->id, EncodeHandover(*h)};
  }
  if (auto* v = std::get_if<HandoverVoid>(&record)) {
    return LoggedForm{"handover_void", v->handover_id, EncodeHandoverVoid(*v)};
  }
  if (auto* m = std::get_if<StockMovement>(&record)) {
    return LoggedForm{"stock_movement", m->id, EncodeMovement(*m)};
  }
  if (auto* u = std::get_if<BeneficiaryUpdate>(&record)) {
    return LoggedForm{"beneficiary_update", u->id, EncodeBeneficiaryUpdate(*u)};
  }
  if (auto* m = std::get_if<BeneficiaryMerge>(&record)) {
    return LoggedForm{"beneficiary_merge", m->id, EncodeBeneficiaryMerge(*m)};
  }
  return Status::InvalidArgument("master data is not part of a device's change log");
}

Result<Record> DecodeLogged(const std::string& entity, const std::string& payload) {
  auto widen = [](auto result) -> Result<Record> {
    if (!result.ok()) return result.status();
    return Record(std::move(result).value());
  };
  if (entity == "beneficiary") return widen(DecodeBeneficiary(payload));
  if (entity == "handover") return widen(DecodeHandover(payload));
  if (entity == "handover_void") return widen(DecodeHandoverVoid(payload));
  if (entity == "stock_movement") return widen(DecodeMovement(payload));
  if (entity == "beneficiary_update") return widen(DecodeBeneficiaryUpdate(payload));
  if (entity == "beneficiary_merge") return widen(DecodeBeneficiaryMerge(payload));
  return Status::InvalidArgument("unknown change-log entity '" + entity + "'");
}

}  // namespace kitsync::core

#include "kitsync/core/canonical.h"

#include <nlohmann/json.hpp>

namespace kitsync::core {
namespace {

using nlohmann::json;

// Empty optional strings are left out, so that the encoding stays compact and a record that
// gains an optional field later still hashes the same when the field is unset.
void PutIfSet(json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}

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

}  // namespace

std::string EncodeBeneficiary(const Beneficiary& b) {
  json j;
  j["id"] = b.id;
  j["doc_hash"] = b.doc_hash;
  j["name"] = b.full_name;
  PutIfSet(j, "phone", b.phone);
  j["household"] = b.household_size;
  j["post"] = b.post_id;
  j["device"] = b.device_id;
  j["hlc"] = b.hlc.Pack();
  return j.dump();
}

std::string EncodeHandover(const Handover& h) {
  json j;
  j["id"] = h.id;
  j["round"] = h.round_id;
  j["beneficiary"] = h.beneficiary_id;
  j["kit_type"] = h.kit_type_id;
  j["qty"] = h.quantity;
  j["post"] = h.post_id;
  j["officer"] = h.officer_id;
  j["device"] = h.device_id;
  j["hlc"] = h.hlc.Pack();
  j["wall_ms"] = h.wall_ms;
  if (h.proof_kind != ProofKind::kNone) j["proof"] = ToString(h.proof_kind);
  PutIfSet(j, "proof_ref", h.proof_ref);
  if (h.collected_by != Collector::kSelf) j["collector"] = ToString(h.collected_by);
  PutIfSet(j, "proxy", h.proxy_relation);
  j["consent"] = h.consent ? 1 : 0;
  PutIfSet(j, "override", h.override_reason);
  if (!h.overridden_warnings.empty()) j["warnings"] = h.overridden_warnings;
  return j.dump();
}

std::string EncodeHandoverVoid(const HandoverVoid& v) {
  json j;
  j["handover"] = v.handover_id;
  j["reason"] = v.reason;
  j["officer"] = v.officer_id;
  j["device"] = v.device_id;
  j["hlc"] = v.hlc.Pack();
  j["wall_ms"] = v.wall_ms;
  return j.dump();
}

std::string EncodeMovement(const StockMovement& m) {
  json j;
  j["id"] = m.id;
  j["post"] = m.post_id;
  j["kit_type"] = m.kit_type_id;
  j["kind"] = ToString(m.kind);
  j["qty"] = m.quantity;
  PutIfSet(j, "counterpart", m.counterpart_post_id);
  PutIfSet(j, "reference", m.reference);
  PutIfSet(j, "reason", m.reason);
  j["officer"] = m.officer_id;
  j["device"] = m.device_id;
  j["hlc"] = m.hlc.Pack();
  j["wall_ms"] = m.wall_ms;
  return j.dump();
}

Result<Beneficiary> DecodeBeneficiary(const std::string& payload) {
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
  return Status::InvalidArgument("unknown change-log entity '" + entity + "'");
}

}  // namespace kitsync::core

#include "server_master_codec.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) throw std::invalid_argument(std::string("missing field '") + key + "'");
  return it->get<std::string>();
}

template <typename T, typename F>
Result<core::Record> Decode(const std::string& payload, const char* what, F&& fill) {
  try {
    const json j = json::parse(payload);
    if (!j.is_object())
      return Status::DataLoss(std::string(what) + " in the feed is not an object");
    T out;
    fill(j, out);
    return core::Record(std::move(out));
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("malformed ") + what + " in the feed: " + e.what());
  }
}

}  // namespace

std::string EncodeKitType(const core::KitType& k) {
  return json{{"id", k.id}, {"code", k.code}, {"name", k.name}, {"unit", k.unit}}.dump();
}

std::string EncodePost(const core::Post& p) {
  return json{{"id", p.id}, {"code", p.code}, {"name", p.name}}.dump();
}

std::string EncodeOfficer(const core::Officer& o) {
  return json{{"id", o.id},
              {"code", o.code},
              {"name", o.name},
              {"post", o.post_id},
              {"role", core::ToString(o.role)}}
      .dump();
}

std::string EncodeRound(const core::Round& r) {
  std::vector<core::Entitlement> sorted = r.entitlements;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.kit_type_id < b.kit_type_id; });
  json ents = json::array();
  for (const core::Entitlement& e : sorted) {
    ents.push_back({{"kit_type", e.kit_type_id}, {"max", e.max_per_beneficiary}});
  }
  return json{{"id", r.id},
              {"code", r.code},
              {"name", r.name},
              {"proof", r.requires_proof ? 1 : 0},
              {"entitlements", ents}}
      .dump();
}

namespace {

// A push writes one served summary per family it changed, so this runs for every handover.
// The fields are hex digests and IDs, which JSON writes as they are; anything that would need
// escaping goes through nlohmann::json instead. A table lookup per character.
bool PlainJsonText(const std::string& s) {
  static constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
    for (char c = 'a'; c <= 'z'; ++c) t[static_cast<unsigned char>(c)] = true;
    for (char c = 'A'; c <= 'Z'; ++c) t[static_cast<unsigned char>(c)] = true;
    for (char c : {'-', '_', '.'}) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  bool plain = true;
  for (unsigned char c : s) plain &= kPlain[c];
  return plain;
}

}  // namespace

std::string EncodeServedSummaries(const std::vector<core::ServedSummary>& summaries) {
  // Grouped in the order given: the caller lists each round and kit type's families together.
  const bool plain = std::all_of(summaries.begin(), summaries.end(), [](const auto& sv) {
    return PlainJsonText(sv.doc_hash) && PlainJsonText(sv.kit_type_id) &&
           PlainJsonText(sv.post_id) && PlainJsonText(sv.round_id);
  });
  if (!plain) {
    json groups = json::array();
    for (size_t i = 0; i < summaries.size(); ++i) {
      const core::ServedSummary& sv = summaries[i];
      if (i == 0 || sv.round_id != summaries[i - 1].round_id ||
          sv.kit_type_id != summaries[i - 1].kit_type_id) {
        groups.push_back(
            {{"kit_type", sv.kit_type_id}, {"round", sv.round_id}, {"totals", json::array()}});
      }
      groups.back()["totals"].push_back(json::array({sv.doc_hash, sv.quantity}));
    }
    return json{{"groups", std::move(groups)},
                {"post", summaries.empty() ? std::string() : summaries.front().post_id}}
        .dump();
  }
  std::string out;
  out.reserve(64 + summaries.size() * 76);
  out += "{\"groups\":[";
  for (size_t i = 0; i < summaries.size(); ++i) {
    const core::ServedSummary& sv = summaries[i];
    const bool starts_group = i == 0 || sv.round_id != summaries[i - 1].round_id ||
                              sv.kit_type_id != summaries[i - 1].kit_type_id;
    if (starts_group) {
      if (i > 0) out += "]},";
      out += "{\"kit_type\":\"";
      out += sv.kit_type_id;
      out += "\",\"round\":\"";
      out += sv.round_id;
      out += "\",\"totals\":[";
    } else {
      out += ',';
    }
    out += "[\"";
    out += sv.doc_hash;
    out += "\",";
    out += std::to_string(sv.quantity);
    out += ']';
  }
  if (!summaries.empty()) out += "]}";
  out += "],\"post\":\"";
  if (!summaries.empty()) out += summaries.front().post_id;
  out += "\"}";
  return out;
}

Result<std::vector<core::ServedSummary>> DecodeServedSummaries(const std::string& payload) {
  try {
    const json j = json::parse(payload);
    if (!j.is_object()) return Status::DataLoss("served summaries in the feed are not an object");
    const std::string post = Str(j, "post");
    std::vector<core::ServedSummary> out;
    for (const json& group : j.at("groups")) {
      const std::string round = Str(group, "round");
      const std::string kit_type = Str(group, "kit_type");
      for (const json& total : group.at("totals")) {
        if (!total.is_array() || total.size() != 2) {
          return Status::DataLoss("a served total in the feed is not [doc_hash, qty]");
        }
        out.push_back({total[0].get<std::string>(), round, kit_type, post,
                       total[1].get<int64_t>()});
      }
    }
    return out;
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("malformed served summaries in the feed: ") + e.what());
  }
}

Result<core::LoggedForm> FeedForm(const core::Record& record) {
  if (auto* k = std::get_if<core::KitType>(&record)) {
    return core::LoggedForm{"kit_type", k->id, EncodeKitType(*k)};
  }
  if (auto* p = std::get_if<core::Post>(&record)) {
    return core::LoggedForm{"post", p->id, EncodePost(*p)};
  }
  if (auto* o = std::get_if<core::Officer>(&record)) {
    return core::LoggedForm{"officer", o->id, EncodeOfficer(*o)};
  }
  if (auto* r = std::get_if<core::Round>(&record)) {
    return core::LoggedForm{"round", r->id, EncodeRound(*r)};
  }
  if (auto* r = std::get_if<core::ConflictResolution>(&record)) {
    const nlohmann::json j = {{"action", r->action},     {"by", r->decided_by},
                              {"conflict", r->conflict_id}, {"hlc", r->hlc.Pack()},
                              {"kind", r->kind},         {"note", r->note},
                              {"post", r->post_id},      {"subjects", r->subject_ids},
                              {"wall_ms", r->wall_ms}};
    return core::LoggedForm{"conflict_resolution", r->conflict_id, j.dump()};
  }
  return core::ToLoggedForm(record);
}

Result<core::Record> DecodeFeed(const std::string& entity, const std::string& payload) {
  if (entity == "kit_type") {
    return Decode<core::KitType>(payload, "kit type", [](const json& j, core::KitType& k) {
      k.id = Str(j, "id");
      k.code = Str(j, "code");
      k.name = Str(j, "name");
      k.unit = Str(j, "unit");
    });
  }
  if (entity == "conflict_resolution") {
    return Decode<core::ConflictResolution>(payload, "conflict resolution",
                                            [](const json& j, core::ConflictResolution& r) {
      r.conflict_id = Str(j, "conflict");
      r.kind = Str(j, "kind");
      r.action = Str(j, "action");
      r.subject_ids = j.at("subjects").get<std::vector<std::string>>();
      r.note = Str(j, "note");
      r.decided_by = Str(j, "by");
      r.post_id = Str(j, "post");
      r.hlc = core::Hlc::Unpack(j.at("hlc").get<uint64_t>());
      r.wall_ms = j.at("wall_ms").get<int64_t>();
    });
  }
  // One summary per entry: written by servers before schema step 10.
  if (entity == "served_summary") {
    return Decode<core::ServedSummary>(payload, "served summary",
                                       [](const json& j, core::ServedSummary& sv) {
      sv.doc_hash = Str(j, "doc_hash");
      sv.round_id = Str(j, "round");
      sv.kit_type_id = Str(j, "kit_type");
      sv.post_id = Str(j, "post");
      sv.quantity = j.at("qty").get<int64_t>();
    });
  }
  if (entity == "post") {
    return Decode<core::Post>(payload, "post", [](const json& j, core::Post& p) {
      p.id = Str(j, "id");
      p.code = Str(j, "code");
      p.name = Str(j, "name");
    });
  }
  if (entity == "officer") {
    return Decode<core::Officer>(payload, "officer", [](const json& j, core::Officer& o) {
      o.id = Str(j, "id");
      o.code = Str(j, "code");
      o.name = Str(j, "name");
      o.post_id = Str(j, "post");
      auto role = core::ParseOfficerRole(Str(j, "role"));
      if (!role) throw std::invalid_argument("unknown officer role");
      o.role = *role;
    });
  }
  if (entity == "round") {
    return Decode<core::Round>(payload, "round", [](const json& j, core::Round& r) {
      r.id = Str(j, "id");
      r.code = Str(j, "code");
      r.name = Str(j, "name");
      r.requires_proof = j.at("proof").get<int64_t>() != 0;
      for (const json& e : j.at("entitlements")) {
        r.entitlements.push_back({Str(e, "kit_type"), e.at("max").get<int64_t>()});
      }
    });
  }
  auto fact = core::DecodeLogged(entity, payload);
  if (!fact.ok()) return Status::DataLoss("feed entry: " + fact.status().message());
  return fact;
}

}  // namespace kitsync::sync

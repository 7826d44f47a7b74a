#include "master_file.h"

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "kitsync/core/ids.h"
#include "stable_id.h"

namespace kitsync::cli {
namespace {

using core::Status;
using nlohmann::json;

Status Bad(const std::string& where, const std::string& problem) {
  return Status::InvalidArgument("master data file: " + where + ": " + problem);
}

Status CheckFields(const json& obj, const std::string& where,
                   std::initializer_list<std::string_view> allowed) {
  if (!obj.is_object()) return Bad(where, "must be an object {...}");
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) {
      std::string expected;
      for (std::string_view name : allowed) {
        expected += expected.empty() ? "" : ", ";
        expected += name;
      }
      return Bad(where, "unknown field '" + key + "' (expected: " + expected + ")");
    }
  }
  return Status::Ok();
}

core::Result<std::string> RequiredString(const json& obj, const std::string& where,
                                         const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end()) return Bad(where, std::string("field '") + field + "' is missing");
  if (!it->is_string()) return Bad(where, std::string("field '") + field + "' must be text");
  return it->get<std::string>();
}

// The record's own "id" if it has one, else the ID the tablet already uses for this code, else
// the stable ID of the code.
core::Result<std::string> IdFor(const json& obj, const std::string& where, std::string_view entity,
                                const std::string& code, const std::string* existing_id) {
  const auto it = obj.find("id");
  if (it == obj.end()) return existing_id ? *existing_id : StableMasterId(entity, code);
  if (!it->is_string() || !core::IsValidUuid(it->get<std::string>())) {
    return Bad(where,
               "field 'id' must be a lower-case UUID such as "
               "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f");
  }
  return it->get<std::string>();
}

// Code -> ID of the records of one kind already on the tablet.
template <typename Record>
std::map<std::string, std::string> IdsByCode(const std::vector<Record>& records) {
  std::map<std::string, std::string> out;
  for (const Record& r : records) out.emplace(r.code, r.id);
  return out;
}

const std::string* Find(const std::map<std::string, std::string>& ids, const std::string& code) {
  const auto it = ids.find(code);
  return it == ids.end() ? nullptr : &it->second;
}

const json* Section(const json& root, const char* name, Status* status) {
  const auto it = root.find(name);
  if (it == root.end()) return nullptr;
  if (!it->is_array()) *status = Bad(name, "must be a list [...]");
  return &*it;
}

// The codes of one kind this file defines, backed by those the tablet already holds, to refuse
// a file that defines a code twice and to resolve references by code.
class CodeIndex {
 public:
  CodeIndex(std::string noun, std::map<std::string, std::string> on_tablet)
      : noun_(std::move(noun)), on_tablet_(std::move(on_tablet)) {}

  const std::string* OnTablet(const std::string& code) const { return Find(on_tablet_, code); }

  Status Add(const std::string& where, const std::string& code, const std::string& id) {
    if (!in_file_.emplace(code, id).second) {
      return Bad(where, noun_ + " code '" + code + "' is defined more than once");
    }
    return Status::Ok();
  }

  core::Result<std::string> Resolve(const std::string& where, const std::string& code) const {
    if (const std::string* id = Find(in_file_, code)) return *id;
    if (const std::string* id = Find(on_tablet_, code)) return *id;
    std::set<std::string> known;
    for (const auto& [c, id] : in_file_) known.insert(c);
    for (const auto& [c, id] : on_tablet_) known.insert(c);
    std::string list;
    for (const auto& c : known) list += (list.empty() ? "" : ", ") + c;
    return Bad(where, "unknown " + noun_ + " '" + code + "'. Known " + noun_ +
                          "s: " + (list.empty() ? "none" : list));
  }

 private:
  std::string noun_;
  std::map<std::string, std::string> on_tablet_;
  std::map<std::string, std::string> in_file_;
};

std::string Where(const char* section, size_t index) {
  return std::string(section) + "[" + std::to_string(index) + "]";
}

}  // namespace

core::Result<core::MasterData> ParseMasterData(const std::string& text,
                                               const core::MasterData& existing) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(std::string("master data file is not valid JSON: ") + e.what());
  }
  RETURN_IF_ERROR(CheckFields(root, "top level", {"kit_types", "posts", "officers", "rounds"}));

  Status status;
  const json* kit_types = Section(root, "kit_types", &status);
  const json* posts = Section(root, "posts", &status);
  const json* officers = Section(root, "officers", &status);
  const json* rounds = Section(root, "rounds", &status);
  RETURN_IF_ERROR(status);
  if (!kit_types && !posts && !officers && !rounds) {
    return Bad("top level", "holds none of kit_types, posts, officers, rounds");
  }

  core::MasterData data;
  CodeIndex kit_index("kit type", IdsByCode(existing.kit_types));
  CodeIndex post_index("post", IdsByCode(existing.posts));
  CodeIndex officer_index("officer", IdsByCode(existing.officers));
  CodeIndex round_index("round", IdsByCode(existing.rounds));

  for (size_t i = 0; kit_types && i < kit_types->size(); ++i) {
    const json& obj = (*kit_types)[i];
    const std::string where = Where("kit_types", i);
    RETURN_IF_ERROR(CheckFields(obj, where, {"id", "code", "name", "unit"}));
    core::KitType kit;
    ASSIGN_OR_RETURN(kit.code, RequiredString(obj, where, "code"));
    ASSIGN_OR_RETURN(kit.name, RequiredString(obj, where, "name"));
    ASSIGN_OR_RETURN(kit.unit, RequiredString(obj, where, "unit"));
    ASSIGN_OR_RETURN(kit.id, IdFor(obj, where, "kit_type", kit.code, kit_index.OnTablet(kit.code)));
    RETURN_IF_ERROR(kit_index.Add(where, kit.code, kit.id));
    data.kit_types.push_back(std::move(kit));
  }

  for (size_t i = 0; posts && i < posts->size(); ++i) {
    const json& obj = (*posts)[i];
    const std::string where = Where("posts", i);
    RETURN_IF_ERROR(CheckFields(obj, where, {"id", "code", "name"}));
    core::Post post;
    ASSIGN_OR_RETURN(post.code, RequiredString(obj, where, "code"));
    ASSIGN_OR_RETURN(post.name, RequiredString(obj, where, "name"));
    ASSIGN_OR_RETURN(post.id, IdFor(obj, where, "post", post.code, post_index.OnTablet(post.code)));
    RETURN_IF_ERROR(post_index.Add(where, post.code, post.id));
    data.posts.push_back(std::move(post));
  }

  for (size_t i = 0; officers && i < officers->size(); ++i) {
    const json& obj = (*officers)[i];
    const std::string where = Where("officers", i);
    RETURN_IF_ERROR(CheckFields(obj, where, {"id", "code", "name", "post", "role"}));
    core::Officer officer;
    ASSIGN_OR_RETURN(officer.code, RequiredString(obj, where, "code"));
    ASSIGN_OR_RETURN(officer.name, RequiredString(obj, where, "name"));
    ASSIGN_OR_RETURN(const std::string post_code, RequiredString(obj, where, "post"));
    ASSIGN_OR_RETURN(officer.post_id, post_index.Resolve(where, post_code));
    ASSIGN_OR_RETURN(const std::string role, RequiredString(obj, where, "role"));
    const auto parsed_role = core::ParseOfficerRole(role);
    if (!parsed_role) {
      return Bad(where, "role '" + role + "' is not one of officer, supervisor, admin");
    }
    officer.role = *parsed_role;
    ASSIGN_OR_RETURN(officer.id, IdFor(obj, where, "officer", officer.code,
                                       officer_index.OnTablet(officer.code)));
    RETURN_IF_ERROR(officer_index.Add(where, officer.code, officer.id));
    data.officers.push_back(std::move(officer));
  }

  for (size_t i = 0; rounds && i < rounds->size(); ++i) {
    const json& obj = (*rounds)[i];
    const std::string where = Where("rounds", i);
    RETURN_IF_ERROR(
        CheckFields(obj, where, {"id", "code", "name", "requires_proof", "entitlements"}));
    core::Round round;
    ASSIGN_OR_RETURN(round.code, RequiredString(obj, where, "code"));
    ASSIGN_OR_RETURN(round.name, RequiredString(obj, where, "name"));
    const auto proof = obj.find("requires_proof");
    if (proof == obj.end()) return Bad(where, "field 'requires_proof' is missing");
    if (!proof->is_boolean()) return Bad(where, "field 'requires_proof' must be true or false");
    round.requires_proof = proof->get<bool>();
    const auto entitlements = obj.find("entitlements");
    if (entitlements == obj.end()) return Bad(where, "field 'entitlements' is missing");
    if (!entitlements->is_array()) return Bad(where, "field 'entitlements' must be a list [...]");
    std::set<std::string> entitled_kits;
    for (size_t k = 0; k < entitlements->size(); ++k) {
      const json& ent = (*entitlements)[k];
      const std::string ent_where = where + ".entitlements[" + std::to_string(k) + "]";
      RETURN_IF_ERROR(CheckFields(ent, ent_where, {"kit_type", "max_per_beneficiary"}));
      ASSIGN_OR_RETURN(const std::string kit_code, RequiredString(ent, ent_where, "kit_type"));
      core::Entitlement entitlement;
      ASSIGN_OR_RETURN(entitlement.kit_type_id, kit_index.Resolve(ent_where, kit_code));
      if (!entitled_kits.insert(kit_code).second) {
        return Bad(ent_where, "kit type '" + kit_code + "' has more than one entitlement");
      }
      const auto max = ent.find("max_per_beneficiary");
      if (max == ent.end()) return Bad(ent_where, "field 'max_per_beneficiary' is missing");
      if (!max->is_number_integer() ||
          (max->is_number_unsigned() && max->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
        return Bad(ent_where, "field 'max_per_beneficiary' must be a whole number");
      }
      entitlement.max_per_beneficiary = max->get<int64_t>();
      round.entitlements.push_back(std::move(entitlement));
    }
    ASSIGN_OR_RETURN(round.id,
                     IdFor(obj, where, "round", round.code, round_index.OnTablet(round.code)));
    RETURN_IF_ERROR(round_index.Add(where, round.code, round.id));
    data.rounds.push_back(std::move(round));
  }
  return data;
}

core::Result<core::MasterData> LoadMasterFile(const std::string& path,
                                              const core::MasterData& existing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read master data file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return ParseMasterData(text.str(), existing);
}

}  // namespace kitsync::cli

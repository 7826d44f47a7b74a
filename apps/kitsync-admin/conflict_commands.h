// The admin tool's commands on conflicts and the audit log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "admin_client.h"

namespace kitsync::admin {

struct ConflictListArgs {
  std::string kind;    // empty: every kind
  std::string status;  // empty: every status
  std::string post;    // post code; empty: every post
  bool json = false;
};
int ListConflicts(AdminClient& client, const ConflictListArgs& args);
int ShowConflict(AdminClient& client, const std::string& id, bool json);

struct ResolveArgs {
  std::string id;
  std::string action;
  std::string by;
  std::string note;
  std::string handover;
  int64_t quantity = 0;
  std::string reference;
  std::string officer;
  std::string correction;  // pick, restore
  std::string keep;        // merge
  std::optional<std::string> name;  // set
  std::optional<std::string> phone;
  std::optional<int64_t> household;
  bool json = false;
};
int ResolveConflict(AdminClient& client, const ResolveArgs& args);

int ListAudit(AdminClient& client, uint64_t after, bool json);

struct CorrectArgs {
  std::string beneficiary;
  std::optional<std::string> name;
  std::optional<std::string> phone;
  std::optional<int64_t> household;
  std::string officer;
  std::string by;
};
int CorrectBeneficiary(AdminClient& client, const CorrectArgs& args);

}  // namespace kitsync::admin

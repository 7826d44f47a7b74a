#include "conflict_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "admin_commands.h"
#include "admin_output.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"

namespace kitsync::admin {
namespace {

using nlohmann::json;

json SideJson(const v1::ConflictSide& s) {
  return {{"entity", s.entity()},       {"id", s.entity_id()},
          {"post", s.post_code()},      {"device_id", s.device_id()},
          {"hlc", s.hlc()},             {"wall_ms", s.wall_ms()},
          {"quantity", s.quantity()},   {"clock_ahead", s.clock_ahead()},
          {"detail", s.detail()}};
}

json ConflictJson(const v1::Conflict& c) {
  json sides = json::array();
  for (const v1::ConflictSide& s : c.sides()) sides.push_back(SideJson(s));
  return {{"id", c.id()},
          {"kind", c.kind()},
          {"severity", c.severity()},
          {"status", c.status()},
          {"summary", c.summary()},
          {"provisional", c.provisional()},
          {"posts", json(std::vector<std::string>(c.post_codes().begin(), c.post_codes().end()))},
          {"clock_ahead", c.clock_ahead()},
          {"detected_ms", c.detected_wall_ms()},
          {"updated_ms", c.updated_wall_ms()},
          {"resolution", c.resolution()},
          {"resolved_by", c.resolved_by()},
          {"resolved_ms", c.resolved_wall_ms()},
          {"note", c.note()},
          {"sides", sides}};
}

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Checked here, before narrowing to the wire's unsigned field turns -1 into a huge household.
bool InHouseholdRange(int64_t size) { return size >= 1 && size <= core::kMaxHouseholdSize; }
core::Status HouseholdOutOfRange() {
  return core::Status::InvalidArgument("household size must be between 1 and " +
                                       std::to_string(core::kMaxHouseholdSize));
}

void PrintConflict(const v1::Conflict& c) {
  std::cout << "Conflict " << c.id() << "\n"
            << "  kind:        " << c.kind() << " (" << c.severity() << ")\n"
            << "  status:      " << c.status();
  if (!c.resolution().empty()) {
    std::cout << " — " << c.resolution() << " by " << c.resolved_by() << " at "
              << Iso(c.resolved_wall_ms());
  }
  std::cout << "\n  posts:       " << Join(c.post_codes()) << "\n"
            << "  detected:    " << Iso(c.detected_wall_ms())
            << ", last changed " << Iso(c.updated_wall_ms()) << "\n"
            << "  what:        " << c.summary() << "\n"
            << "  meanwhile:   " << c.provisional() << "\n";
  if (!c.note().empty()) std::cout << "  note:        " << c.note() << "\n";
  if (c.clock_ahead()) {
    std::cout << "  WARNING:     a side's clock was beyond the allowed skew; its time is not to "
                 "be trusted\n";
  }
  std::cout << "\n";
  std::vector<std::vector<std::string>> rows = {
      {"SIDE", "ID", "POST", "DEVICE", "WHEN (HLC)", "TABLET CLOCK", "QTY", "NOTE"}};
  for (const v1::ConflictSide& s : c.sides()) {
    rows.push_back({s.entity(), s.entity_id(), s.post_code(),
                    s.device_id().empty() ? "-" : s.device_id(),
                    s.hlc() == 0 ? "-" : core::Hlc::Unpack(s.hlc()).ToString(),
                    Iso(s.wall_ms()), std::to_string(s.quantity()),
                    (s.clock_ahead() ? "CLOCK AHEAD " : "") + s.detail()});
  }
  PrintTable(rows);
}

}  // namespace

int ListConflicts(AdminClient& client, const ConflictListArgs& args) {
  v1::ListConflictsRequest request;
  request.set_kind(args.kind);
  request.set_status(args.status);
  request.set_post_code(args.post);
  v1::ListConflictsResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListConflicts(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  if (args.json) {
    json doc = json::array();
    for (const v1::Conflict& c : response.conflicts()) doc.push_back(ConflictJson(c));
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  if (response.conflicts().empty()) {
    std::cout << "No conflicts.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "KIND", "SEVERITY", "STATUS", "POSTS", "UPDATED", "SUMMARY"}};
  for (const v1::Conflict& c : response.conflicts()) {
    rows.push_back({c.id(), c.kind(), c.severity(), c.status(), Join(c.post_codes()),
                    Iso(c.updated_wall_ms()), (c.clock_ahead() ? "[clock ahead] " : "") + c.summary()});
  }
  PrintTable(rows);
  return kExitOk;
}

int ShowConflict(AdminClient& client, const std::string& id, bool as_json) {
  v1::GetConflictRequest request;
  request.set_id(id);
  v1::GetConflictResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().GetConflict(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  if (as_json) {
    std::cout << ConflictJson(response.conflict()).dump(2) << "\n";
  } else {
    PrintConflict(response.conflict());
  }
  return kExitOk;
}

int ResolveConflict(AdminClient& client, const ResolveArgs& args) {
  v1::ResolveConflictRequest request;
  request.set_id(args.id);
  request.set_action(args.action);
  request.set_actor(args.by);
  request.set_note(args.note);
  request.set_handover_id(args.handover);
  request.set_quantity(args.quantity);
  request.set_reference(args.reference);
  request.set_officer_code(args.officer);
  request.set_correction_id(args.correction);
  request.set_keep_beneficiary_id(args.keep);
  if (args.name) request.set_full_name(*args.name);
  if (args.phone) request.set_phone(*args.phone);
  if (args.household) {
    if (!InHouseholdRange(*args.household)) return Fail(HouseholdOutOfRange());
    request.set_household_size(static_cast<uint32_t>(*args.household));
  }
  request.set_request_id(client.request_id());
  v1::ResolveConflictResponse response;
  grpc::Status status = client.Write([&](grpc::ClientContext* context) {
    return client.stub().ResolveConflict(context, request, &response);
  });
  if (!status.ok()) return FailWrite(status, client.request_id());
  if (args.json) {
    json doc = ConflictJson(response.conflict());
    doc["records"] =
        json(std::vector<std::string>(response.record_ids().begin(), response.record_ids().end()));
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  const v1::Conflict& c = response.conflict();
  std::cout << "Conflict " << c.id() << " is now " << c.status() << ".\n";
  for (const std::string& id : response.record_ids()) {
    std::cout << "Recorded " << id << "; the post's tablets receive it on their next sync.\n";
  }
  if (c.status() == "open") {
    std::cout << "It still holds: " << c.summary() << "\n";
  }
  return kExitOk;
}

int ListAudit(AdminClient& client, uint64_t after, bool as_json) {
  v1::ListAuditRequest request;
  request.set_after_seq(after);
  v1::ListAuditResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListAudit(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  if (as_json) {
    json doc = json::array();
    for (const v1::AuditEntry& e : response.entries()) {
      doc.push_back({{"seq", e.seq()},
                     {"at_ms", e.wall_ms()},
                     {"actor", e.actor()},
                     {"action", e.action()},
                     {"target", e.target()},
                     {"detail", e.detail()}});
    }
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  if (response.entries().empty()) {
    std::cout << "The audit log is empty.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"SEQ", "WHEN", "WHO", "ACTION", "TARGET", "DETAIL"}};
  for (const v1::AuditEntry& e : response.entries()) {
    rows.push_back({std::to_string(e.seq()), Iso(e.wall_ms()), e.actor(), e.action(), e.target(),
                    e.detail()});
  }
  PrintTable(rows);
  return kExitOk;
}

int CorrectBeneficiary(AdminClient& client, const CorrectArgs& args) {
  v1::CorrectBeneficiaryRequest request;
  request.set_beneficiary_id(args.beneficiary);
  if (args.name) request.set_full_name(*args.name);
  if (args.phone) request.set_phone(*args.phone);
  if (args.household) {
    if (!InHouseholdRange(*args.household)) return Fail(HouseholdOutOfRange());
    request.set_household_size(static_cast<uint32_t>(*args.household));
  }
  request.set_officer_code(args.officer);
  request.set_actor(args.by);
  v1::CorrectBeneficiaryResponse response;
  request.set_request_id(client.request_id());
  grpc::Status status = client.Write([&](grpc::ClientContext* context) {
    return client.stub().CorrectBeneficiary(context, request, &response);
  });
  if (!status.ok()) return FailWrite(status, client.request_id());
  std::cout << response.correction_id() << "\n";
  return kExitOk;
}

}  // namespace kitsync::admin

#include "admin_commands.h"

#include "admin_output.h"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/kitsync/master_file.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/wire.h"

namespace kitsync::admin {
namespace {

using core::Status;

int RecordMovement(AdminClient& client, v1::RecordCentralMovementRequest request) {
  request.set_request_id(client.request_id());
  v1::RecordCentralMovementResponse response;
  grpc::Status status = client.Write([&](grpc::ClientContext* context) {
    return client.stub().RecordCentralMovement(context, request, &response);
  });
  if (!status.ok()) return FailWrite(status, client.request_id());
  for (const std::string& id : response.movement_ids()) std::cout << IdText(id) << "\n";
  return kExitOk;
}

v1::RecordCentralMovementRequest MovementRequest(const StockArgs& args, v1::MovementKind kind) {
  v1::RecordCentralMovementRequest r;
  r.set_kit_type_code(args.kit);
  r.set_post_code(args.post);
  r.set_kind(kind);
  r.set_quantity(args.quantity);
  r.set_counterpart_post_code(args.to);
  r.set_reference(args.reference);
  r.set_reason(args.reason);
  r.set_officer_code(args.officer);
  return r;
}

}  // namespace

int Fail(const Status& status) {
  std::cerr << "kitsync-admin: " << core::CodeName(status.code()) << ": " << status.message()
            << "\n";
  return kExitFailure;
}

int EnrolCode(AdminClient& client, const std::string& post_code, uint32_t valid_minutes) {
  v1::CreateEnrollmentCodeRequest request;
  request.set_post_code(post_code);
  request.set_valid_minutes(valid_minutes);
  v1::CreateEnrollmentCodeResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().CreateEnrollmentCode(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  // The code alone on stdout, for scripts; the rest for the person reading it out.
  std::cout << response.code() << "\n";
  std::cerr << "One-time enrolment code for post " << post_code << ", valid until "
            << Iso(response.expires_wall_ms()) << ".\n";
  return kExitOk;
}

int ListDevices(AdminClient& client, bool json) {
  v1::ListDevicesResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListDevices(context.get(), {}, &response);
  if (!status.ok()) return FailCall(status);
  if (json) {
    nlohmann::json doc = nlohmann::json::array();
    for (const v1::Device& d : response.devices()) {
      doc.push_back({{"id", IdText(d.id())},
                     {"name", d.name()},
                     {"post", d.post_code()},
                     {"enrolled_ms", d.enrolled_wall_ms()},
                     {"last_seen_ms", d.last_seen_wall_ms()},
                     {"last_push_ms", d.last_push_wall_ms()},
                     {"acked_seq", d.acked_seq()},
                     {"pending_reported", d.pending_reported()},
                     {"revoked", d.revoked()},
                     {"revoked_ms", d.revoked_wall_ms()},
                     {"revoke_reason", d.revoke_reason()}});
    }
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  if (response.devices().empty()) {
    std::cout << "No devices enrolled.\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "POST", "LAST SEEN", "LAST PUSH", "ACKED", "PENDING", "REVOKED"}};
  for (const v1::Device& d : response.devices()) {
    rows.push_back({IdText(d.id()), d.name(), d.post_code(), Iso(d.last_seen_wall_ms()),
                    Iso(d.last_push_wall_ms()), std::to_string(d.acked_seq()),
                    std::to_string(d.pending_reported()),
                    d.revoked() ? Iso(d.revoked_wall_ms()) + " " + d.revoke_reason() : "no"});
  }
  PrintTable(rows);
  return kExitOk;
}

int Revoke(AdminClient& client, const std::string& device_id, const std::string& reason) {
  Status valid = core::ValidateId("device ID", device_id);
  if (!valid.ok()) return Fail(valid);
  v1::RevokeDeviceRequest request;
  request.set_device_id(sync::UuidToBytes(device_id));
  request.set_reason(reason);
  v1::RevokeDeviceResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().RevokeDevice(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  std::cout << "Revoked device " << device_id << "; its next call is refused.\n";
  return kExitOk;
}

int LoadMaster(AdminClient& client, const std::string& path) {
  // The server's current master data, so that codes it knows keep their IDs.
  v1::GetMasterDataResponse held;
  {
    auto context = client.NewContext();
    grpc::Status status = client.stub().GetMasterData(context.get(), {}, &held);
    if (!status.ok()) return FailCall(status);
  }
  auto current = sync::ReadRecordBatch(held.records());
  if (!current.ok()) return Fail(current.status());
  core::MasterData existing;
  for (sync::WireChange& c : *current) {
    std::visit(
        [&](auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, core::KitType>) existing.kit_types.push_back(r);
          if constexpr (std::is_same_v<T, core::Post>) existing.posts.push_back(r);
          if constexpr (std::is_same_v<T, core::Officer>) existing.officers.push_back(r);
          if constexpr (std::is_same_v<T, core::Round>) existing.rounds.push_back(r);
        },
        c.record);
  }
  auto data = cli::LoadMasterFile(path, existing);
  if (!data.ok()) return Fail(data.status());

  v1::LoadMasterDataRequest request;
  sync::RecordBatchWriter writer(request.mutable_records());
  // The server stamps each version itself; a valid timestamp keeps the batch well formed.
  const core::Hlc stamp{core::SystemWallClock()(), 0};
  for (const auto& k : data->kit_types) writer.Add(stamp, k);
  for (const auto& p : data->posts) writer.Add(stamp, p);
  for (const auto& o : data->officers) writer.Add(stamp, o);
  for (const auto& r : data->rounds) writer.Add(stamp, r);
  const int sent = request.records().changes_size();
  v1::LoadMasterDataResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().LoadMasterData(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  std::cout << "Sent " << sent << " master records; " << response.changed() << " new or changed.\n";
  return kExitOk;
}

int StockReceive(AdminClient& client, const StockArgs& args) {
  return RecordMovement(client, MovementRequest(args, v1::MOVEMENT_KIND_RECEIPT));
}

int StockDispatch(AdminClient& client, const StockArgs& args) {
  return RecordMovement(client, MovementRequest(args, v1::MOVEMENT_KIND_TRANSFER_OUT));
}

int StockAdjust(AdminClient& client, const StockArgs& args) {
  return RecordMovement(client, MovementRequest(args, v1::MOVEMENT_KIND_ADJUSTMENT));
}

}  // namespace kitsync::admin

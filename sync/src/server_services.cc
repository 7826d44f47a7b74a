#include "kitsync/sync/server_services.h"

#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/server_auth.h"
#include "server_pull_reactor.h"
#include "server_push_reactor.h"

namespace kitsync::sync {
namespace {

// A pull call streams at most this many batches; a tablet that is further behind calls again.
// It bounds how long one call keeps its place in the feed.
constexpr int kMaxPullBatchesPerCall = 200;

// Threads applying pushed batches and reading pulled ones, for every call together. The store
// serves one call at a time; a second thread lets one call's work start as soon as another's
// is done.
constexpr size_t kStoreWorkers = 2;

// Copies `result` into `*response` and maps the status.
template <typename T>
grpc::Status Reply(core::Result<T> result, T* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

std::string CallToken(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return {};
  return BearerToken(std::string_view(it->second.data(), it->second.size()));
}

core::Result<std::string> StreamLimits::Admit(ServerLogic& logic, const std::string& token) {
  ASSIGN_OR_RETURN(Principal device, logic.AuthenticateDevice(token));
  std::lock_guard lock(mu_);
  int& mine = open_[device.device_id];
  if (mine >= per_device_ || open_total_ >= total_) {
    if (mine == 0) open_.erase(device.device_id);
    return core::Status(core::Code::kResourceExhausted,
                        "too many " + what_ + " open (at most " + std::to_string(per_device_) +
                            " per tablet and " + std::to_string(total_) +
                            " in all); the tablet tries again later");
  }
  ++mine;
  ++open_total_;
  return device.device_id;
}

void StreamLimits::Close(const std::string& device_id) {
  std::lock_guard lock(mu_);
  auto it = open_.find(device_id);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
  --open_total_;
}

SyncService::SyncService(ServerLogic* logic, int max_push_streams_per_device,
                         int max_push_streams, int max_pulls_per_device, int max_pulls)
    : logic_(logic),
      push_limits_("push streams", max_push_streams_per_device, max_push_streams),
      pull_limits_("pulls", max_pulls_per_device, max_pulls),
      store_workers_(kStoreWorkers) {}

SyncService::~SyncService() { store_workers_.join(); }

grpc::ServerBidiReactor<v1::PushBatch, v1::PushAck>* SyncService::Push(
    grpc::CallbackServerContext* context) {
  return new PushReactor(logic_, store_workers_, push_limits_, CallToken(*context));
}

grpc::ServerWriteReactor<v1::PullBatch>* SyncService::Pull(grpc::CallbackServerContext* context,
                                                          const v1::PullRequest* request) {
  return new PullReactor(logic_, store_workers_, pull_limits_, CallToken(*context), *request,
                         kMaxPullBatchesPerCall);
}

grpc::Status SyncService::GetStatus(grpc::ServerContext* context, const v1::StatusRequest* request,
                                    v1::StatusResponse* response) {
  return Reply(logic_->GetStatus(CallToken(*context), *request), response);
}

grpc::Status EnrollmentService::Enroll(grpc::ServerContext*, const v1::EnrollRequest* request,
                                       v1::EnrollResponse* response) {
  return Reply(logic_->Enroll(*request), response);
}

grpc::Status AdminService::CreateEnrollmentCode(grpc::ServerContext* context,
                                                const v1::CreateEnrollmentCodeRequest* request,
                                                v1::CreateEnrollmentCodeResponse* response) {
  return Reply(logic_->CreateEnrollmentCode(CallToken(*context), *request), response);
}

grpc::Status AdminService::ListDevices(grpc::ServerContext* context,
                                       const v1::ListDevicesRequest* request,
                                       v1::ListDevicesResponse* response) {
  return Reply(logic_->ListDevices(CallToken(*context), *request), response);
}

grpc::Status AdminService::RevokeDevice(grpc::ServerContext* context,
                                        const v1::RevokeDeviceRequest* request,
                                        v1::RevokeDeviceResponse* response) {
  return Reply(logic_->RevokeDevice(CallToken(*context), *request), response);
}

grpc::Status AdminService::LoadMasterData(grpc::ServerContext* context,
                                          const v1::LoadMasterDataRequest* request,
                                          v1::LoadMasterDataResponse* response) {
  return Reply(logic_->LoadMasterData(CallToken(*context), *request), response);
}

grpc::Status AdminService::GetMasterData(grpc::ServerContext* context,
                                         const v1::GetMasterDataRequest* request,
                                         v1::GetMasterDataResponse* response) {
  return Reply(logic_->GetMasterData(CallToken(*context), *request), response);
}

grpc::Status AdminService::RecordCentralMovement(grpc::ServerContext* context,
                                                 const v1::RecordCentralMovementRequest* request,
                                                 v1::RecordCentralMovementResponse* response) {
  return Reply(logic_->RecordCentralMovement(CallToken(*context), *request), response);
}

grpc::Status AdminService::ListConflicts(grpc::ServerContext* context,
                                         const v1::ListConflictsRequest* request,
                                         v1::ListConflictsResponse* response) {
  return Reply(logic_->ListConflicts(CallToken(*context), *request), response);
}

grpc::Status AdminService::GetConflict(grpc::ServerContext* context,
                                       const v1::GetConflictRequest* request,
                                       v1::GetConflictResponse* response) {
  return Reply(logic_->GetConflict(CallToken(*context), *request), response);
}

grpc::Status AdminService::ResolveConflict(grpc::ServerContext* context,
                                           const v1::ResolveConflictRequest* request,
                                           v1::ResolveConflictResponse* response) {
  return Reply(logic_->ResolveConflict(CallToken(*context), *request), response);
}

grpc::Status AdminService::ListAudit(grpc::ServerContext* context,
                                     const v1::ListAuditRequest* request,
                                     v1::ListAuditResponse* response) {
  return Reply(logic_->ListAudit(CallToken(*context), *request), response);
}

grpc::Status AdminService::CorrectBeneficiary(grpc::ServerContext* context,
                                              const v1::CorrectBeneficiaryRequest* request,
                                              v1::CorrectBeneficiaryResponse* response) {
  return Reply(logic_->CorrectBeneficiary(CallToken(*context), *request), response);
}

}  // namespace kitsync::sync

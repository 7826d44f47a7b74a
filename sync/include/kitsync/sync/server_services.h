// The gRPC face of the central server: thin services over ServerLogic. Each takes the bearer
// token from the "authorization: Bearer <token>" metadata, hands request and token to the logic,
// and maps its core::Status onto the gRPC status (the codes are the same numbers).
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kitsync/sync/server_logic.h"
#include "kitsync/v1/admin.grpc.pb.h"
#include "kitsync/v1/enrollment.grpc.pb.h"
#include "kitsync/v1/sync.grpc.pb.h"

namespace kitsync::sync {

// The bearer token of a call; empty when it carries none.
std::string CallToken(const grpc::ServerContextBase& context);

// How many calls of one kind (push streams, pulls) may be open at once, per device and in all:
// each may hold decoded batches while it waits for its tablet.
class StreamLimits {
 public:
  // `what` names the calls in the refusal ("push streams").
  StreamLimits(std::string what, int per_device, int total)
      : what_(std::move(what)), per_device_(per_device), total_(total) {}

  // Authenticates a call's device and counts the call open: the device's ID, or why the call
  // must end (its credential refused; RESOURCE_EXHAUSTED, counting nothing, past a limit).
  core::Result<std::string> Admit(ServerLogic& logic, const std::string& token);
  // For each call Admit counted, once it has ended.
  void Close(const std::string& device_id);
  int per_device() const { return per_device_; }
  int total() const { return total_; }

 private:
  const std::string what_;
  const int per_device_;
  const int total_;
  std::mutex mu_;
  std::unordered_map<std::string, int> open_;
  int open_total_ = 0;
};

class SyncService final
    : public v1::Sync::WithCallbackMethod_Push<v1::Sync::WithCallbackMethod_Pull<v1::Sync::Service>> {
 public:
  // Push streams and pulls open at once: ServerConfig's limits.
  SyncService(ServerLogic* logic, int max_push_streams_per_device, int max_push_streams,
              int max_pulls_per_device, int max_pulls);
  // Waits for the store work still queued (calls that ended while their batch was applied).
  ~SyncService() override;
  // The same, for a server whose calls have all ended: a batch being applied when its call was
  // cancelled is applied (or not) whole before this returns.
  void FinishStoreWork() { store_workers_.join(); }

  // Reads batches and applies each in order, writing its ack once committed, until the tablet
  // closes its side; the next batch is decoded while the one before is applied (PushReactor).
  // The first refused batch ends the call with the refusal; what was acked before it stays
  // acked.
  grpc::ServerBidiReactor<v1::PushBatch, v1::PushAck>* Push(
      grpc::CallbackServerContext* context) override;
  // Streams batches from the request's cursor until nothing remains for this device, each read
  // once the one before was taken (PullReactor); a tablet that reads slowly holds no thread.
  grpc::ServerWriteReactor<v1::PullBatch>* Pull(grpc::CallbackServerContext* context,
                                                const v1::PullRequest* request) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::StatusRequest* request,
                         v1::StatusResponse* response) override;

 private:
  ServerLogic* logic_;
  // Before the workers: their last tasks close the streams they count.
  StreamLimits push_limits_;
  StreamLimits pull_limits_;
  // Where pushed batches are applied and pulled ones read: the store takes one call at a time,
  // so a few threads serve every stream.
  boost::asio::thread_pool store_workers_;
};

class EnrollmentService final : public v1::Enrollment::Service {
 public:
  explicit EnrollmentService(ServerLogic* logic) : logic_(logic) {}
  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;

 private:
  ServerLogic* logic_;
};

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(ServerLogic* logic) : logic_(logic) {}
  grpc::Status CreateEnrollmentCode(grpc::ServerContext* context,
                                    const v1::CreateEnrollmentCodeRequest* request,
                                    v1::CreateEnrollmentCodeResponse* response) override;
  grpc::Status ListDevices(grpc::ServerContext* context, const v1::ListDevicesRequest* request,
                           v1::ListDevicesResponse* response) override;
  grpc::Status RevokeDevice(grpc::ServerContext* context, const v1::RevokeDeviceRequest* request,
                            v1::RevokeDeviceResponse* response) override;
  grpc::Status LoadMasterData(grpc::ServerContext* context,
                              const v1::LoadMasterDataRequest* request,
                              v1::LoadMasterDataResponse* response) override;
  grpc::Status GetMasterData(grpc::ServerContext* context, const v1::GetMasterDataRequest* request,
                             v1::GetMasterDataResponse* response) override;
  grpc::Status RecordCentralMovement(grpc::ServerContext* context,
                                     const v1::RecordCentralMovementRequest* request,
                                     v1::RecordCentralMovementResponse* response) override;
  grpc::Status ListConflicts(grpc::ServerContext* context, const v1::ListConflictsRequest* request,
                             v1::ListConflictsResponse* response) override;
  grpc::Status GetConflict(grpc::ServerContext* context, const v1::GetConflictRequest* request,
                           v1::GetConflictResponse* response) override;
  grpc::Status ResolveConflict(grpc::ServerContext* context,
                               const v1::ResolveConflictRequest* request,
                               v1::ResolveConflictResponse* response) override;
  grpc::Status ListAudit(grpc::ServerContext* context, const v1::ListAuditRequest* request,
                         v1::ListAuditResponse* response) override;
  grpc::Status CorrectBeneficiary(grpc::ServerContext* context,
                                  const v1::CorrectBeneficiaryRequest* request,
                                  v1::CorrectBeneficiaryResponse* response) override;

 private:
  ServerLogic* logic_;
};

}  // namespace kitsync::sync

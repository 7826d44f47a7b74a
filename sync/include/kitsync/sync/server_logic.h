// The central server's service logic, free of any transport: proto requests in, proto responses
// or a core::Status out. The gRPC services (server_services.h) are thin wrappers around it, and
// an in-process transport can call it directly.
//
// Every call takes the caller's bearer token and authenticates it first. Every field of a
// request is checked after parsing, because protobuf lets through what a hostile or broken
// client sends: wrong wire types read as 0, unknown enum values, out-of-range numbers.
//
// Thread-safety: as the store; one ServerLogic serves every call.
#pragma once

#include <cstdint>
#include <string>

#include "kitsync/core/hlc.h"
#include "kitsync/core/status.h"
#include "kitsync/sync/server_store.h"
#include "kitsync/v1/admin.pb.h"
#include "kitsync/v1/enrollment.pb.h"
#include "kitsync/v1/sync.pb.h"

namespace kitsync::sync {

struct ServerLogicOptions {
  // How far ahead of the server's clock a tablet's clock may be: a batch sent from further
  // ahead is refused; a change stamped further ahead is accepted and flagged.
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
  // Changes per pushed batch. 2000 handovers are about 200 KB on the wire.
  int max_push_changes = 2000;
  // Changes per pulled batch, whatever the tablet asks for; and what it gets when it asks for 0.
  uint32_t max_pull_batch = 1000;
  uint32_t default_pull_batch = 500;
};

// A pushed batch checked and decoded (ServerLogic::PreparePush), waiting to be applied.
struct PreparedPush {
  core::Status refused;  // what the batch's own fields refused; OK otherwise
  PushInput input;       // when not refused
  uint64_t first_seq = 0;
  int changes = 0;
};

class ServerLogic {
 public:
  // `store` must outlive this object. `clock` defaults to the system clock.
  ServerLogic(ServerStore* store, core::WallClock clock, ServerLogicOptions options = {});

  const ServerLogicOptions& options() const { return options_; }
  // The store the calls go to, for services built beside this one (the reports).
  ServerStore* store() const { return store_; }

  // UNAUTHENTICATED unless `token` is the admin's or an enrolled, unrevoked device's.
  core::Result<Principal> Authenticate(const std::string& token);
  // As Authenticate, and PERMISSION_DENIED for the other kind of credential. Every call below
  // does this itself; a transport may call it first to fail a stream before reading from it.
  core::Result<Principal> AuthenticateDevice(const std::string& token);
  core::Status AuthenticateAdmin(const std::string& token);

  // --- Sync (device credential; the admin's gets PERMISSION_DENIED)
  core::Result<v1::PushAck> Push(const std::string& token, const v1::PushBatch& batch);
  // Push in two steps, for a stream that works out the next batch while the store applies the
  // one before: PreparePush checks and decodes a batch and hashes its changes, with nothing of
  // the store (so neither its lock nor the credential); ApplyPreparedPush authenticates, then
  // refuses what the preparation refused or applies the batch. `chain_from` is the tip hash the
  // stream's previous batch sent (empty for a stream's first): the store takes the hashes
  // worked out from it only when it is the hash the store holds, and otherwise hashes again.
  PreparedPush PreparePush(const v1::PushBatch& batch, const std::string& chain_from) const;
  core::Result<v1::PushAck> ApplyPreparedPush(const std::string& token, PreparedPush prepared);
  // The batches a stream has waiting, in order, in one store transaction (ServerStore::
  // ApplyPushes): an ack for each batch up to the first refused one, then that refusal; the
  // batches after it get nothing and are not applied.
  std::vector<core::Result<v1::PushAck>> ApplyPreparedPushes(const std::string& token,
                                                             std::vector<PreparedPush> prepared);
  // One batch of the feed; a transport streams batches until `remaining` is 0, giving each
  // request after the first the `remaining` of the batch before (ServerStore::ReadFeed).
  core::Result<v1::PullBatch> Pull(const std::string& token, const v1::PullRequest& request,
                                   std::optional<int64_t> remaining_after = std::nullopt);
  core::Result<v1::StatusResponse> GetStatus(const std::string& token,
                                             const v1::StatusRequest& request);

  // --- Enrollment (no credential: the one-time code is the credential)
  core::Result<v1::EnrollResponse> Enroll(const v1::EnrollRequest& request);

  // --- Admin (admin credential; a device's gets PERMISSION_DENIED)
  core::Result<v1::CreateEnrollmentCodeResponse> CreateEnrollmentCode(
      const std::string& token, const v1::CreateEnrollmentCodeRequest& request);
  core::Result<v1::ListDevicesResponse> ListDevices(const std::string& token,
                                                    const v1::ListDevicesRequest& request);
  core::Result<v1::RevokeDeviceResponse> RevokeDevice(const std::string& token,
                                                      const v1::RevokeDeviceRequest& request);
  core::Result<v1::LoadMasterDataResponse> LoadMasterData(const std::string& token,
                                                          const v1::LoadMasterDataRequest& request);
  core::Result<v1::GetMasterDataResponse> GetMasterData(const std::string& token,
                                                        const v1::GetMasterDataRequest& request);
  core::Result<v1::RecordCentralMovementResponse> RecordCentralMovement(
      const std::string& token, const v1::RecordCentralMovementRequest& request);

  // --- Conflicts and the audit log (admin credential; server_logic_conflicts.cc)
  core::Result<v1::ListConflictsResponse> ListConflicts(const std::string& token,
                                                        const v1::ListConflictsRequest& request);
  core::Result<v1::GetConflictResponse> GetConflict(const std::string& token,
                                                    const v1::GetConflictRequest& request);
  core::Result<v1::ResolveConflictResponse> ResolveConflict(
      const std::string& token, const v1::ResolveConflictRequest& request);
  core::Result<v1::ListAuditResponse> ListAudit(const std::string& token,
                                                const v1::ListAuditRequest& request);
  core::Result<v1::CorrectBeneficiaryResponse> CorrectBeneficiary(
      const std::string& token, const v1::CorrectBeneficiaryRequest& request);

 private:
  ServerStore* store_;
  core::WallClock clock_;
  ServerLogicOptions options_;
};

}  // namespace kitsync::sync

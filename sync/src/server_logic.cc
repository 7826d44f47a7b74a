#include "kitsync/sync/server_logic.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <limits>
#include <variant>

#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "kitsync/sync/server_auth.h"
#include "kitsync/sync/wire.h"
#include "server_feed_epoch.h"
#include "server_request_key.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

constexpr size_t kTipHashBytes = 32;
constexpr size_t kMaxEnrolmentCodeLength = 64;
constexpr uint32_t kDefaultCodeMinutes = 24 * 60;
constexpr uint32_t kMaxCodeMinutes = 7 * 24 * 60;
// A master-data load is a whole programme's reference data: posts, officers, kit types.
constexpr int kMaxMasterRecords = 20'000;
// Sequences and counters arrive as uint64 and are stored as SQLite's int64; anything near the
// top of the range is a corrupt or hostile value, never a real count.
constexpr uint64_t kMaxCounter = uint64_t{1} << 53;

// A wall-clock offset beyond ~8900 years is no clock at all; bounding it keeps hlc + offset
// far from int64 overflow when the reader adds them.
constexpr int64_t kMaxWallOffsetMs = int64_t{1} << 48;

std::string N(int64_t v) { return std::to_string(v); }

// Numbers the shared reader does arithmetic on before its range checks (adding a wall-clock
// offset, negating an adjustment): refused here first, so no hostile value reaches signed
// overflow.
Status CheckRawNumbers(const v1::RecordBatch& batch) {
  auto offset_ok = [](int64_t offset) {
    return offset >= -kMaxWallOffsetMs && offset <= kMaxWallOffsetMs;
  };
  for (int i = 0; i < batch.changes_size(); ++i) {
    const v1::Change& c = batch.changes(i);
    bool ok = true;
    switch (c.record_case()) {
      case v1::Change::kHandover:
        ok = offset_ok(c.handover().wall_offset_ms());
        break;
      case v1::Change::kHandoverVoid:
        ok = offset_ok(c.handover_void().wall_offset_ms());
        break;
      case v1::Change::kBeneficiaryUpdate:
        ok = offset_ok(c.beneficiary_update().wall_offset_ms());
        break;
      case v1::Change::kBeneficiaryMerge:
        ok = offset_ok(c.beneficiary_merge().wall_offset_ms());
        break;
      case v1::Change::kStockMovement:
        ok = offset_ok(c.stock_movement().wall_offset_ms()) &&
             c.stock_movement().quantity() != std::numeric_limits<int64_t>::min();
        break;
      default:
        break;
    }
    if (!ok) return Status::InvalidArgument("change " + N(i + 1) + " holds an impossible number");
  }
  return Status::Ok();
}

Result<std::string> IdField(const std::string& bytes, const char* field) {
  auto id = UuidFromBytes(bytes);
  if (!id.ok()) return Status::InvalidArgument(std::string(field) + ": " + id.status().message());
  return id;
}

// Field checks that need nothing but the request.
Status CheckPushBatch(const v1::PushBatch& b, int64_t now_ms, const ServerLogicOptions& o) {
  if (b.sender_wall_ms() <= 0) {
    return Status::InvalidArgument("sender_wall_ms (the tablet's clock when sending) is required");
  }
  if (b.sender_wall_ms() > now_ms + o.max_clock_skew_ms) {
    return Status::OutOfRange("the tablet's clock is " + N(b.sender_wall_ms() - now_ms) +
                              " ms ahead of the server's, more than the " + N(o.max_clock_skew_ms) +
                              " ms allowed; set the tablet's date and time, then sync again");
  }
  const int n = b.records().changes_size();
  if (n > o.max_push_changes) {
    return Status::InvalidArgument("a batch holds " + N(n) + " changes; at most " +
                                   N(o.max_push_changes) + " are accepted, send smaller batches");
  }
  if (b.records().dictionary_size() > 8 * o.max_push_changes) {
    return Status::InvalidArgument("a batch's dictionary holds " +
                                   N(b.records().dictionary_size()) + " IDs, far more than its " +
                                   "changes can use");
  }
  // An empty batch (a tablet asking where it stands) may leave first_seq unset.
  if ((n > 0 && b.first_seq() == 0) || b.first_seq() > kMaxCounter) {
    return Status::InvalidArgument("first_seq must be between 1 and 2^53, got " +
                                   std::to_string(b.first_seq()));
  }
  if (n > 0 && b.tip_hash().size() != kTipHashBytes) {
    return Status::InvalidArgument("tip_hash must be 32 bytes, got " + N(b.tip_hash().size()));
  }
  if (b.pending() > kMaxCounter) {
    return Status::InvalidArgument("pending " + std::to_string(b.pending()) + " is not a count");
  }
  return CheckRawNumbers(b.records());
}

const char* KindName(const core::Record& r) {
  static constexpr const char* kNames[] = {"beneficiary",
                                           "handover",
                                           "handover void",
                                           "stock movement",
                                           "kit type",
                                           "post",
                                           "officer",
                                           "round",
                                           "beneficiary correction",
                                           "served summary",
                                           "conflict resolution",
                                           "beneficiary merge"};
  static_assert(std::size(kNames) == std::variant_size_v<core::Record>);
  return kNames[r.index()];
}

Result<core::MovementKind> CentralKind(int kind) {
  switch (kind) {
    case v1::MOVEMENT_KIND_RECEIPT:
      return core::MovementKind::kReceipt;
    case v1::MOVEMENT_KIND_TRANSFER_OUT:
      return core::MovementKind::kTransferOut;
    case v1::MOVEMENT_KIND_ADJUSTMENT:
      return core::MovementKind::kAdjustment;
  }
  return Status::InvalidArgument(
      "the centre records receipts, dispatches (TRANSFER_OUT) and "
      "adjustments; kind " +
      N(kind) + " is not one of them");
}

void LogOutcome(const char* event, const Principal* who, const Status& status,
                const std::string& details = {}) {
  const std::string device = who && !who->is_admin() ? who->device_id : "-";
  const std::string post = who && !who->is_admin() ? who->post_code : "-";
  if (status.ok()) {
    spdlog::info("event={} device={} post={}{} code=OK", event, device, post, details);
  } else {
    spdlog::warn("event={} device={} post={}{} code={} message=\"{}\"", event, device, post,
                 details, core::CodeName(status.code()), status.message());
  }
}

}  // namespace

ServerLogic::ServerLogic(ServerStore* store, core::WallClock clock, ServerLogicOptions options)
    : store_(store),
      clock_(clock ? std::move(clock) : core::SystemWallClock()),
      options_(options) {}

Result<Principal> ServerLogic::Authenticate(const std::string& token) {
  return store_->Authenticate(token, clock_());
}

Result<Principal> ServerLogic::AuthenticateDevice(const std::string& token) {
  ASSIGN_OR_RETURN(Principal who, Authenticate(token));
  if (who.is_admin()) {
    return Status::PermissionDenied("the admin credential cannot sync; use a device credential");
  }
  return who;
}

Status ServerLogic::AuthenticateAdmin(const std::string& token) {
  ASSIGN_OR_RETURN(Principal who, Authenticate(token));
  if (!who.is_admin()) {
    return Status::PermissionDenied("device " + who.device_id +
                                    " may not make admin calls; use the admin credential");
  }
  return Status::Ok();
}

Result<v1::PushAck> ServerLogic::Push(const std::string& token, const v1::PushBatch& batch) {
  return ApplyPreparedPush(token, PreparePush(batch, {}));
}

PreparedPush ServerLogic::PreparePush(const v1::PushBatch& batch,
                                      const std::string& chain_from) const {
  PreparedPush out;
  out.first_seq = batch.first_seq();
  out.changes = batch.records().changes_size();
  const int64_t now = clock_();
  out.refused = CheckPushBatch(batch, now, options_);
  if (!out.refused.ok()) return out;
  auto changes = ReadRecordBatch(batch.records());
  if (!changes.ok()) {
    out.refused = changes.status();
    return out;
  }
  PushInput& in = out.input;
  in.first_seq = static_cast<int64_t>(batch.first_seq());
  in.tip_hash = batch.tip_hash();
  in.changes.reserve(changes->size());
  for (WireChange& c : *changes) in.changes.push_back({c.hlc, std::move(c.record)});
  in.pending_reported = static_cast<int64_t>(batch.pending());
  in.now_ms = now;
  in.max_clock_skew_ms = options_.max_clock_skew_ms;
  in.prehashed = PrehashChanges(in.first_seq, in.changes, chain_from);
  return out;
}

Result<v1::PushAck> ServerLogic::ApplyPreparedPush(const std::string& token,
                                                   PreparedPush prepared) {
  std::vector<PreparedPush> one;
  one.push_back(std::move(prepared));
  std::vector<Result<v1::PushAck>> acks = ApplyPreparedPushes(token, std::move(one));
  return std::move(acks.front());
}

std::vector<Result<v1::PushAck>> ServerLogic::ApplyPreparedPushes(
    const std::string& token, std::vector<PreparedPush> prepared) {
  std::vector<Result<v1::PushAck>> acks;
  if (prepared.empty()) return acks;
  auto device = AuthenticateDevice(token);
  if (!device.ok()) {
    acks.push_back(device.status());
    return acks;
  }
  // The batches before the first that its own fields refused go to the store together.
  std::vector<const PushInput*> inputs;
  while (inputs.size() < prepared.size() && prepared[inputs.size()].refused.ok()) {
    inputs.push_back(&prepared[inputs.size()].input);
  }
  std::vector<Result<PushOutcome>> outcomes = store_->ApplyPushes(*device, inputs);
  if (outcomes.size() == inputs.size() && inputs.size() < prepared.size() &&
      (outcomes.empty() || outcomes.back().ok())) {
    outcomes.push_back(prepared[inputs.size()].refused);
  }
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Result<PushOutcome>& outcome = outcomes[i];
    const auto first = static_cast<int64_t>(prepared[i].first_seq);
    const int64_t last = first + prepared[i].changes - 1;
    LogOutcome("push", &*device, outcome.status(),
               " seq=" + N(first) + ".." + N(last) +
                   (outcome.ok() ? " acked=" + N(outcome->acked_seq) + " applied=" +
                                       N(outcome->applied) + " flagged=" + N(outcome->flagged)
                                 : std::string()));
    if (!outcome.ok()) {
      acks.push_back(outcome.status());
      break;
    }
    v1::PushAck ack;
    ack.set_acked_seq(static_cast<uint64_t>(outcome->acked_seq));
    ack.set_applied(static_cast<uint64_t>(outcome->applied));
    ack.set_flagged(static_cast<uint64_t>(outcome->flagged));
    acks.push_back(std::move(ack));
  }
  return acks;
}

Result<v1::PullBatch> ServerLogic::Pull(const std::string& token, const v1::PullRequest& request,
                                        std::optional<int64_t> remaining_after) {
  ASSIGN_OR_RETURN(Principal device, AuthenticateDevice(token));
  if (request.cursor() > kMaxCounter) {
    return Status::InvalidArgument("cursor " + std::to_string(request.cursor()) +
                                   " is not a feed position");
  }
  uint32_t size = request.batch_size() == 0 ? options_.default_pull_batch : request.batch_size();
  size = std::min(size, options_.max_pull_batch);
  // The epochs are fixed for the store's life (only a restore, into a new data directory,
  // starts one), so the page read next belongs to the epoch checked here.
  const Status epoch = CheckPullEpoch(store_->feed_epochs(), request.feed_epoch());
  if (!epoch.ok()) {
    LogOutcome("pull", &device, epoch);
    return epoch;
  }
  auto page =
      store_->ReadFeed(device, static_cast<int64_t>(request.cursor()), size, remaining_after);
  if (!page.ok()) {
    LogOutcome("pull", &device, page.status());
    return page.status();
  }
  v1::PullBatch out;
  RecordBatchWriter writer(out.mutable_records(), ReadWireFeatures(request.wire_features()));
  for (const core::RemoteChange& c : page->changes) writer.Add(c.hlc, c.record);
  out.set_cursor(static_cast<uint64_t>(page->cursor));
  out.set_remaining(static_cast<uint64_t>(page->remaining));
  if (!page->changes.empty()) {
    LogOutcome("pull", &device, Status::Ok(),
               " cursor=" + N(page->cursor) + " sent=" + N(page->changes.size()) +
                   " remaining=" + N(page->remaining));
  }
  return out;
}

Result<v1::StatusResponse> ServerLogic::GetStatus(const std::string& token,
                                                  const v1::StatusRequest&) {
  ASSIGN_OR_RETURN(Principal device, AuthenticateDevice(token));
  ASSIGN_OR_RETURN(DeviceCursor cursor, store_->GetCursor(device));
  v1::StatusResponse out;
  out.set_device_id(UuidToBytes(device.device_id));
  out.set_post_code(device.post_code);
  out.set_acked_seq(static_cast<uint64_t>(cursor.acked_seq));
  out.set_tip_hash(cursor.tip_hash);
  out.set_feed_head(static_cast<uint64_t>(cursor.feed_head));
  out.set_server_wall_ms(clock_());
  out.set_max_clock_skew_ms(options_.max_clock_skew_ms);
  SetFeedEpochs(store_->feed_epochs(), out);
  AddWireFeatures(out);
  return out;
}

Result<v1::EnrollResponse> ServerLogic::Enroll(const v1::EnrollRequest& request) {
  auto enrol = [&]() -> Result<Enrolment> {
    if (request.code().empty() || request.code().size() > kMaxEnrolmentCodeLength) {
      return Status::InvalidArgument("an enrolment code is required (at most " +
                                     N(kMaxEnrolmentCodeLength) + " characters)");
    }
    RETURN_IF_ERROR(core::ValidateText("device name", request.device_name(), core::kMaxNameLength,
                                       /*required=*/true));
    if (!request.device_token().empty() && !IsWellFormedDeviceToken(request.device_token())) {
      return Status::InvalidArgument(
          "the offered device credential is malformed (\"ksd_\" and 43 base64url characters)");
    }
    return store_->Enroll(request.code(), request.device_name(), request.device_token(), clock_());
  };
  auto e = enrol();
  if (!e.ok()) {
    LogOutcome("enroll", nullptr, e.status());
    return e.status();
  }
  const Principal who{Principal::Kind::kDevice, e->device_id, e->post_id, e->post_code};
  LogOutcome(e->repeated ? "enroll-repeated" : "enroll", &who, Status::Ok());
  v1::EnrollResponse out;
  out.set_device_id(UuidToBytes(e->device_id));
  out.set_post_id(UuidToBytes(e->post_id));
  out.set_post_code(e->post_code);
  out.set_device_token(e->device_token);
  out.set_programme_key(e->programme_key);
  return out;
}

Result<v1::CreateEnrollmentCodeResponse> ServerLogic::CreateEnrollmentCode(
    const std::string& token, const v1::CreateEnrollmentCodeRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  RETURN_IF_ERROR(core::ValidateCode("post code", request.post_code()));
  const uint32_t minutes =
      request.valid_minutes() == 0 ? kDefaultCodeMinutes : request.valid_minutes();
  if (minutes > kMaxCodeMinutes) {
    return Status::InvalidArgument("an enrolment code is valid for 1 to " + N(kMaxCodeMinutes) +
                                   " minutes, not " + N(minutes));
  }
  auto code = store_->CreateEnrolmentCode(request.post_code(), minutes, clock_());
  LogOutcome("enrolment_code", nullptr, code.status(), " for_post=" + request.post_code());
  if (!code.ok()) return code.status();
  v1::CreateEnrollmentCodeResponse out;
  out.set_code(code->code);
  out.set_expires_wall_ms(code->expires_ms);
  return out;
}

Result<v1::ListDevicesResponse> ServerLogic::ListDevices(const std::string& token,
                                                         const v1::ListDevicesRequest&) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  ASSIGN_OR_RETURN(std::vector<DeviceInfo> devices, store_->ListDevices());
  v1::ListDevicesResponse out;
  for (const DeviceInfo& d : devices) {
    v1::Device* w = out.add_devices();
    w->set_id(UuidToBytes(d.id));
    w->set_name(d.name);
    w->set_post_code(d.post_code);
    w->set_enrolled_wall_ms(d.enrolled_ms);
    w->set_last_seen_wall_ms(d.last_seen_ms);
    w->set_last_push_wall_ms(d.last_push_ms);
    w->set_acked_seq(static_cast<uint64_t>(d.acked_seq));
    w->set_pending_reported(static_cast<uint64_t>(d.pending_reported));
    w->set_revoked(d.revoked_ms.has_value());
    w->set_revoked_wall_ms(d.revoked_ms.value_or(0));
    w->set_revoke_reason(d.revoke_reason);
  }
  return out;
}

Result<v1::RevokeDeviceResponse> ServerLogic::RevokeDevice(const std::string& token,
                                                           const v1::RevokeDeviceRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  ASSIGN_OR_RETURN(std::string device_id, IdField(request.device_id(), "device_id"));
  RETURN_IF_ERROR(core::ValidateText("reason for revoking", request.reason(),
                                     core::kMaxReasonLength, /*required=*/true));
  Status s = store_->RevokeDevice(device_id, request.reason(), clock_());
  const Principal target{Principal::Kind::kDevice, device_id, {}, "-"};
  LogOutcome("revoke", &target, s);
  if (!s.ok()) return s;
  return v1::RevokeDeviceResponse();
}

Result<v1::LoadMasterDataResponse> ServerLogic::LoadMasterData(
    const std::string& token, const v1::LoadMasterDataRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  const int n = request.records().changes_size();
  if (n == 0) return Status::InvalidArgument("no master data records were sent");
  if (n > kMaxMasterRecords) {
    return Status::InvalidArgument("at most " + N(kMaxMasterRecords) +
                                   " master records per load, got " + N(n));
  }
  // Master records carry no timestamp of their own (the server stamps each version), so the
  // batch's timestamps are replaced by a valid one before the shared reader checks them.
  v1::RecordBatch records = request.records();
  records.set_base_hlc(core::Hlc{clock_(), 0}.Pack());
  for (v1::Change& c : *records.mutable_changes()) c.set_hlc_delta(0);
  ASSIGN_OR_RETURN(std::vector<WireChange> changes, ReadRecordBatch(records));
  core::MasterData data;
  for (size_t i = 0; i < changes.size(); ++i) {
    core::Record& r = changes[i].record;
    if (auto* k = std::get_if<core::KitType>(&r)) {
      data.kit_types.push_back(std::move(*k));
    } else if (auto* p = std::get_if<core::Post>(&r)) {
      data.posts.push_back(std::move(*p));
    } else if (auto* o = std::get_if<core::Officer>(&r)) {
      data.officers.push_back(std::move(*o));
    } else if (auto* rd = std::get_if<core::Round>(&r)) {
      data.rounds.push_back(std::move(*rd));
    } else {
      return Status::InvalidArgument("change " + N(static_cast<int64_t>(i) + 1) + " is a " +
                                     KindName(r) + "; LoadMasterData takes master data only");
    }
  }
  auto changed = store_->LoadMasterData(data, clock_());
  LogOutcome("master_load", nullptr, changed.status(),
             " records=" + N(n) + (changed.ok() ? " changed=" + N(*changed) : std::string()));
  if (!changed.ok()) return changed.status();
  v1::LoadMasterDataResponse out;
  out.set_changed(static_cast<uint64_t>(*changed));
  return out;
}

Result<v1::GetMasterDataResponse> ServerLogic::GetMasterData(const std::string& token,
                                                             const v1::GetMasterDataRequest&) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  ASSIGN_OR_RETURN(core::MasterData data, store_->GetMasterData());
  v1::GetMasterDataResponse out;
  RecordBatchWriter writer(out.mutable_records());
  const core::Hlc now{clock_(), 0};
  for (const auto& k : data.kit_types) writer.Add(now, k);
  for (const auto& p : data.posts) writer.Add(now, p);
  for (const auto& o : data.officers) writer.Add(now, o);
  for (const auto& r : data.rounds) writer.Add(now, r);
  return out;
}

Result<v1::RecordCentralMovementResponse> ServerLogic::RecordCentralMovement(
    const std::string& token, const v1::RecordCentralMovementRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  auto record = [&]() -> Result<std::vector<std::string>> {
    CentralMovementInput in;
    ASSIGN_OR_RETURN(in.kind, CentralKind(request.kind()));
    RETURN_IF_ERROR(core::ValidateCode("kit type code", request.kit_type_code()));
    RETURN_IF_ERROR(core::ValidateCode("post code", request.post_code()));
    RETURN_IF_ERROR(core::ValidateCode("officer code", request.officer_code()));
    if (in.kind == core::MovementKind::kTransferOut) {
      RETURN_IF_ERROR(core::ValidateCode("receiving post code", request.counterpart_post_code()));
    } else if (!request.counterpart_post_code().empty()) {
      return Status::InvalidArgument("only a dispatch names a receiving post");
    }
    RETURN_IF_ERROR(
        core::ValidateText("reference", request.reference(), core::kMaxReferenceLength, false));
    RETURN_IF_ERROR(core::ValidateText("reason", request.reason(), core::kMaxReasonLength, false));
    if (request.quantity() < -core::kMaxQuantity || request.quantity() > core::kMaxQuantity) {
      return Status::InvalidArgument("quantity " + N(request.quantity()) + " is beyond " +
                                     N(core::kMaxQuantity) + ", which no record may exceed");
    }
    in.kit_type_code = request.kit_type_code();
    in.post_code = request.post_code();
    in.quantity = request.quantity();
    in.counterpart_post_code = request.counterpart_post_code();
    in.reference = request.reference();
    in.reason = request.reason();
    in.officer_code = request.officer_code();
    in.now_ms = clock_();
    ASSIGN_OR_RETURN(in.request, RequestKeyOf(request));
    return store_->RecordCentralMovement(in);
  };
  auto ids = record();
  LogOutcome("central_movement", nullptr, ids.status(),
             " at_post=" + request.post_code() + " kind=" + N(request.kind()) +
                 " quantity=" + N(request.quantity()));
  if (!ids.ok()) return ids.status();
  v1::RecordCentralMovementResponse out;
  for (const std::string& id : *ids) out.add_movement_ids(UuidToBytes(id));
  return out;
}

}  // namespace kitsync::sync

// The admin's calls on conflicts and the audit log: field checks, codes to IDs and back.
#include <spdlog/spdlog.h>

#include <map>

#include "kitsync/core/validation.h"
#include "kitsync/sync/server_logic.h"
#include "server_request_key.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

constexpr uint32_t kDefaultAuditPage = 1000;
constexpr uint32_t kMaxAuditPage = 10'000;
// Sides' IDs are UUIDs; a stock side names "<post>/<kit type>".
constexpr size_t kMaxFilterLength = 64;

// Post and kit type codes by ID, for an admin who reads codes, not UUIDs.
struct Codes {
  std::map<std::string, std::string> posts;
  std::map<std::string, std::string> kits;

  std::string Post(const std::string& id) const {
    auto it = posts.find(id);
    return it == posts.end() ? id : it->second;
  }
  std::string Kit(const std::string& id) const {
    auto it = kits.find(id);
    return it == kits.end() ? id : it->second;
  }
};

Result<Codes> LoadCodes(ServerStore& store) {
  ASSIGN_OR_RETURN(core::MasterData master, store.GetMasterData());
  Codes codes;
  for (const core::Post& p : master.posts) codes.posts[p.id] = p.code;
  for (const core::KitType& k : master.kit_types) codes.kits[k.id] = k.code;
  return codes;
}

void ToProto(const ConflictRecord& r, const Codes& codes, v1::Conflict* out) {
  out->set_id(r.id);
  out->set_kind(std::string(core::ToString(r.conflict.kind)));
  out->set_severity(std::string(core::ToString(r.conflict.severity)));
  out->set_status(std::string(core::ToString(r.status)));
  out->set_summary(r.conflict.summary);
  out->set_provisional(r.conflict.provisional);
  for (const std::string& post : r.post_ids) out->add_post_codes(codes.Post(post));
  out->set_clock_ahead(r.conflict.clock_ahead);
  out->set_detected_wall_ms(r.detected_ms);
  out->set_updated_wall_ms(r.updated_ms);
  out->set_resolution(r.resolution);
  out->set_resolved_by(r.resolved_by);
  out->set_resolved_wall_ms(r.resolved_ms.value_or(0));
  out->set_note(r.note);
  for (const core::ConflictSide& s : r.conflict.sides) {
    v1::ConflictSide* side = out->add_sides();
    side->set_entity(s.entity);
    if (s.entity == "stock") {
      const size_t slash = s.entity_id.find('/');
      side->set_entity_id(codes.Post(s.entity_id.substr(0, slash)) + "/" +
                          codes.Kit(s.entity_id.substr(slash + 1)));
    } else {
      side->set_entity_id(s.entity_id);
    }
    side->set_post_code(codes.Post(s.post_id));
    side->set_device_id(s.device_id);
    side->set_hlc(s.hlc.Pack());
    side->set_wall_ms(s.wall_ms);
    side->set_quantity(s.quantity);
    side->set_clock_ahead(s.clock_ahead);
    side->set_detail(s.detail);
  }
}

struct CorrectedFields {
  std::optional<std::string> full_name;
  std::optional<std::string> phone;
  std::optional<int64_t> household_size;
};

// The fields a correction sets, checked as a tablet's correction is.
template <class Request>
Result<CorrectedFields> ReadCorrectedFields(const Request& r) {
  CorrectedFields f;
  if (r.has_full_name()) {
    RETURN_IF_ERROR(core::ValidateText("name", r.full_name(), core::kMaxNameLength, true));
    f.full_name = r.full_name();
  }
  if (r.has_phone()) {
    RETURN_IF_ERROR(core::ValidateText("phone", r.phone(), core::kMaxCodeLength, false));
    f.phone = r.phone();
  }
  if (r.has_household_size()) {
    if (r.household_size() < 1 || r.household_size() > core::kMaxHouseholdSize) {
      return Status::InvalidArgument("household size must be between 1 and " +
                                     std::to_string(core::kMaxHouseholdSize));
    }
    f.household_size = r.household_size();
  }
  if (!f.full_name && !f.phone && !f.household_size) {
    return Status::InvalidArgument("say what to correct: a name, phone or household size");
  }
  return f;
}

Status CheckConflictId(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("a conflict ID is required");
  return core::ValidateId("conflict ID", id);
}

}  // namespace

Result<v1::ListConflictsResponse> ServerLogic::ListConflicts(
    const std::string& token, const v1::ListConflictsRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  ConflictFilter filter;
  if (!request.kind().empty()) {
    filter.kind = core::ParseConflictKind(request.kind());
    if (!filter.kind) {
      return Status::InvalidArgument(
          "unknown conflict kind '" + request.kind().substr(0, kMaxFilterLength) +
          "'; kinds are entitlement-exceeded, duplicate-beneficiary, stock-deficit, "
          "concurrent-update, update-vs-void");
    }
  }
  if (!request.status().empty()) {
    filter.status = core::ParseConflictStatus(request.status());
    if (!filter.status) {
      return Status::InvalidArgument("unknown conflict status '" +
                                     request.status().substr(0, kMaxFilterLength) +
                                     "'; statuses are open, resolved, cleared");
    }
  }
  ASSIGN_OR_RETURN(Codes codes, LoadCodes(*store_));
  if (!request.post_code().empty()) {
    RETURN_IF_ERROR(core::ValidateCode("post code", request.post_code()));
    for (const auto& [id, code] : codes.posts) {
      if (code == request.post_code()) filter.post_id = id;
    }
    if (filter.post_id.empty()) return Status::NotFound("no post " + request.post_code());
  }
  ASSIGN_OR_RETURN(std::vector<ConflictRecord> records, store_->ListConflicts(filter));
  v1::ListConflictsResponse out;
  for (const ConflictRecord& r : records) ToProto(r, codes, out.add_conflicts());
  return out;
}

Result<v1::GetConflictResponse> ServerLogic::GetConflict(const std::string& token,
                                                         const v1::GetConflictRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  RETURN_IF_ERROR(CheckConflictId(request.id()));
  ASSIGN_OR_RETURN(ConflictRecord record, store_->GetConflict(request.id()));
  ASSIGN_OR_RETURN(Codes codes, LoadCodes(*store_));
  v1::GetConflictResponse out;
  ToProto(record, codes, out.mutable_conflict());
  return out;
}

Result<v1::ResolveConflictResponse> ServerLogic::ResolveConflict(
    const std::string& token, const v1::ResolveConflictRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  auto resolve = [&]() -> Result<ResolveOutcome> {
    RETURN_IF_ERROR(CheckConflictId(request.id()));
    if (request.action().empty()) return Status::InvalidArgument("an action is required");
    RETURN_IF_ERROR(core::ValidateText("action", request.action(), kMaxFilterLength, true));
    RETURN_IF_ERROR(core::ValidateText("who decides", request.actor(), core::kMaxNameLength, true));
    RETURN_IF_ERROR(core::ValidateText("note", request.note(), core::kMaxReasonLength, false));
    RETURN_IF_ERROR(
        core::ValidateText("reference", request.reference(), core::kMaxReferenceLength, false));
    ResolveInput in;
    in.conflict_id = request.id();
    in.action = request.action();
    in.actor = request.actor();
    in.note = request.note();
    in.reference = request.reference();
    in.now_ms = clock_();
    const bool makes_a_fact = in.action == "void" || in.action == "receipt" ||
                              in.action == "adjustment" || in.action == "pick" ||
                              in.action == "set" || in.action == "restore";
    if (makes_a_fact) {
      RETURN_IF_ERROR(core::ValidateCode("officer code", request.officer_code()));
      in.officer_code = request.officer_code();
    }
    if (in.action == "void") {
      RETURN_IF_ERROR(core::ValidateId("handover ID", request.handover_id()));
      in.handover_id = request.handover_id();
    }
    if (in.action == "pick") {
      RETURN_IF_ERROR(core::ValidateId("correction ID", request.correction_id()));
      in.correction_id = request.correction_id();
    }
    if (in.action == "restore" && !request.correction_id().empty()) {
      RETURN_IF_ERROR(core::ValidateId("correction ID", request.correction_id()));
      in.correction_id = request.correction_id();
    }
    if (in.action == "merge") {
      RETURN_IF_ERROR(
          core::ValidateId("beneficiary to keep (--keep)", request.keep_beneficiary_id()));
      in.keep_beneficiary_id = request.keep_beneficiary_id();
    }
    if (in.action == "set") {
      ASSIGN_OR_RETURN(CorrectedFields fields, ReadCorrectedFields(request));
      in.full_name = fields.full_name;
      in.phone = fields.phone;
      in.household_size = fields.household_size;
    }
    if (in.action == "receipt" || in.action == "adjustment") {
      if (request.quantity() < -core::kMaxQuantity || request.quantity() > core::kMaxQuantity ||
          request.quantity() == 0 || (in.action == "receipt" && request.quantity() < 0)) {
        return Status::InvalidArgument(
            in.action == "receipt"
                ? "a receipt needs a quantity from 1 to " + std::to_string(core::kMaxQuantity)
                : "an adjustment needs a non-zero quantity within " +
                      std::to_string(core::kMaxQuantity) + " either way");
      }
      in.quantity = request.quantity();
    }
    ASSIGN_OR_RETURN(in.request, RequestKeyOf(request));
    return store_->ResolveConflict(in);
  };
  auto outcome = resolve();
  if (outcome.ok()) {
    spdlog::info("event=resolve_conflict conflict={} action={} by=\"{}\" code=OK", request.id(),
                 request.action(), request.actor());
  } else {
    spdlog::warn("event=resolve_conflict conflict={} code={} message=\"{}\"",
                 request.id().substr(0, kMaxFilterLength), core::CodeName(outcome.status().code()),
                 outcome.status().message());
    return outcome.status();
  }
  ASSIGN_OR_RETURN(Codes codes, LoadCodes(*store_));
  v1::ResolveConflictResponse out;
  ToProto(outcome->conflict, codes, out.mutable_conflict());
  for (const std::string& id : outcome->record_ids) out.add_record_ids(id);
  return out;
}

Result<v1::ListAuditResponse> ServerLogic::ListAudit(const std::string& token,
                                                     const v1::ListAuditRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  if (request.limit() > kMaxAuditPage) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxAuditPage) +
                                   " audit entries per call");
  }
  if (request.after_seq() > (uint64_t{1} << 53)) {
    return Status::InvalidArgument("after_seq is beyond any audit sequence");
  }
  const uint32_t limit = request.limit() == 0 ? kDefaultAuditPage : request.limit();
  ASSIGN_OR_RETURN(std::vector<AuditEntry> entries,
                   store_->ListAudit(static_cast<int64_t>(request.after_seq()), limit));
  v1::ListAuditResponse out;
  for (const AuditEntry& e : entries) {
    v1::AuditEntry* entry = out.add_entries();
    entry->set_seq(static_cast<uint64_t>(e.seq));
    entry->set_wall_ms(e.at_ms);
    entry->set_actor(e.actor);
    entry->set_action(e.action);
    entry->set_target(e.target);
    entry->set_detail(e.detail);
  }
  return out;
}

Result<v1::CorrectBeneficiaryResponse> ServerLogic::CorrectBeneficiary(
    const std::string& token, const v1::CorrectBeneficiaryRequest& request) {
  RETURN_IF_ERROR(AuthenticateAdmin(token));
  auto correct = [&]() -> Result<std::string> {
    RETURN_IF_ERROR(core::ValidateId("beneficiary ID", request.beneficiary_id()));
    RETURN_IF_ERROR(core::ValidateCode("officer code", request.officer_code()));
    RETURN_IF_ERROR(core::ValidateText("who decides", request.actor(), core::kMaxNameLength, true));
    ASSIGN_OR_RETURN(CorrectedFields fields, ReadCorrectedFields(request));
    CentralCorrectionInput in;
    in.beneficiary_id = request.beneficiary_id();
    in.full_name = fields.full_name;
    in.phone = fields.phone;
    in.household_size = fields.household_size;
    in.officer_code = request.officer_code();
    in.actor = request.actor();
    in.now_ms = clock_();
    ASSIGN_OR_RETURN(in.request, RequestKeyOf(request));
    return store_->CorrectBeneficiary(in);
  };
  auto id = correct();
  if (!id.ok()) {
    spdlog::warn("event=correct_beneficiary code={} message=\"{}\"",
                 core::CodeName(id.status().code()), id.status().message());
    return id.status();
  }
  spdlog::info("event=correct_beneficiary beneficiary={} correction={} code=OK",
               request.beneficiary_id(), *id);
  v1::CorrectBeneficiaryResponse out;
  out.set_correction_id(*id);
  return out;
}

}  // namespace kitsync::sync

#include "kitsync/sync/wire.h"

#include <algorithm>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string HexToBytes(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(HexValue(hex[2 * i]) << 4 | HexValue(hex[2 * i + 1]));
  }
  return out;
}

// What Handover.proof_digest carries: exactly what core::ToHex gives back from 32 bytes.
bool IsLowerHexDigest(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

v1::ProofKind ToWire(core::ProofKind k) {
  switch (k) {
    case core::ProofKind::kSignature: return v1::PROOF_KIND_SIGNATURE;
    case core::ProofKind::kPhoto: return v1::PROOF_KIND_PHOTO;
    case core::ProofKind::kVoucher: return v1::PROOF_KIND_VOUCHER;
    case core::ProofKind::kNone: break;
  }
  return v1::PROOF_KIND_UNSPECIFIED;
}

v1::MovementKind ToWire(core::MovementKind k) {
  switch (k) {
    case core::MovementKind::kReceipt: return v1::MOVEMENT_KIND_RECEIPT;
    case core::MovementKind::kTransferOut: return v1::MOVEMENT_KIND_TRANSFER_OUT;
    case core::MovementKind::kTransferIn: return v1::MOVEMENT_KIND_TRANSFER_IN;
    case core::MovementKind::kAdjustment: return v1::MOVEMENT_KIND_ADJUSTMENT;
    case core::MovementKind::kCount: return v1::MOVEMENT_KIND_COUNT;
  }
  return v1::MOVEMENT_KIND_UNSPECIFIED;
}

v1::OfficerRole ToWire(core::OfficerRole r) {
  switch (r) {
    case core::OfficerRole::kOfficer: return v1::OFFICER_ROLE_OFFICER;
    case core::OfficerRole::kSupervisor: return v1::OFFICER_ROLE_SUPERVISOR;
    case core::OfficerRole::kAdmin: return v1::OFFICER_ROLE_ADMIN;
  }
  return v1::OFFICER_ROLE_UNSPECIFIED;
}

Result<core::ProofKind> FromWire(int k) {
  switch (k) {
    case v1::PROOF_KIND_UNSPECIFIED: return core::ProofKind::kNone;
    case v1::PROOF_KIND_SIGNATURE: return core::ProofKind::kSignature;
    case v1::PROOF_KIND_PHOTO: return core::ProofKind::kPhoto;
    case v1::PROOF_KIND_VOUCHER: return core::ProofKind::kVoucher;
  }
  return Status::InvalidArgument("unknown proof kind " + std::to_string(k));
}

Result<core::Collector> CollectorFromWire(int c) {
  switch (c) {
    case v1::COLLECTOR_SELF: return core::Collector::kSelf;
    case v1::COLLECTOR_PROXY: return core::Collector::kProxy;
  }
  return Status::InvalidArgument("unknown or missing collector " + std::to_string(c));
}

Result<core::MovementKind> MovementFromWire(int k) {
  switch (k) {
    case v1::MOVEMENT_KIND_RECEIPT: return core::MovementKind::kReceipt;
    case v1::MOVEMENT_KIND_TRANSFER_OUT: return core::MovementKind::kTransferOut;
    case v1::MOVEMENT_KIND_TRANSFER_IN: return core::MovementKind::kTransferIn;
    case v1::MOVEMENT_KIND_ADJUSTMENT: return core::MovementKind::kAdjustment;
    case v1::MOVEMENT_KIND_COUNT: return core::MovementKind::kCount;
  }
  return Status::InvalidArgument("unknown or missing stock movement kind " + std::to_string(k));
}

Result<core::OfficerRole> RoleFromWire(int r) {
  switch (r) {
    case v1::OFFICER_ROLE_OFFICER: return core::OfficerRole::kOfficer;
    case v1::OFFICER_ROLE_SUPERVISOR: return core::OfficerRole::kSupervisor;
    case v1::OFFICER_ROLE_ADMIN: return core::OfficerRole::kAdmin;
  }
  return Status::InvalidArgument("unknown or missing officer role " + std::to_string(r));
}

// Resolves refs and raw IDs of one batch.
class Dictionary {
 public:
  static Result<Dictionary> Read(const v1::RecordBatch& batch) {
    Dictionary d;
    for (const std::string& bytes : batch.dictionary()) {
      ASSIGN_OR_RETURN(std::string uuid, UuidFromBytes(bytes));
      d.ids_.push_back(std::move(uuid));
    }
    return d;
  }

  Result<std::string> Ref(uint32_t ref, const char* field) const {
    if (ref == 0 || ref > ids_.size()) {
      return Status::InvalidArgument(std::string(field) + " refers to entry " +
                                     std::to_string(ref) + " of a dictionary of " +
                                     std::to_string(ids_.size()));
    }
    return ids_[ref - 1];
  }
  // A transfer's other post is optional: 0 means none.
  Result<std::string> OptionalRef(uint32_t ref, const char* field) const {
    if (ref == 0) return std::string();
    return Ref(ref, field);
  }

 private:
  std::vector<std::string> ids_;
};

Result<std::string> Id(const std::string& bytes, const char* field) {
  auto id = UuidFromBytes(bytes);
  if (!id.ok()) return Status::InvalidArgument(std::string(field) + ": " + id.status().message());
  return id;
}

// A wall clock more than ~4,000 years from its HLC is not a clock, and adding it could overflow.
constexpr int64_t kMaxWallOffsetMs = int64_t{1} << 47;

Result<int64_t> WallMs(const core::Hlc& hlc, int64_t offset) {
  if (offset > kMaxWallOffsetMs || offset < -kMaxWallOffsetMs) {
    return Status::InvalidArgument("a wall-clock offset of " + std::to_string(offset) +
                                   " ms is impossible");
  }
  return hlc.physical_ms + offset;
}

Result<core::Record> ReadRecord(const v1::Change& c, const core::Hlc& hlc, const Dictionary& d) {
  switch (c.record_case()) {
    case v1::Change::kBeneficiary: {
      const v1::Beneficiary& w = c.beneficiary();
      core::Beneficiary b;
      ASSIGN_OR_RETURN(b.id, Id(w.id(), "beneficiary ID"));
      if (w.doc_hash().size() != 32) {
        return Status::InvalidArgument("a document hash must be 32 bytes");
      }
      b.doc_hash = core::ToHex(w.doc_hash());
      b.full_name = w.full_name();
      b.phone = w.phone();
      b.household_size = w.household_size();
      ASSIGN_OR_RETURN(b.post_id, d.Ref(w.post_ref(), "beneficiary's post"));
      ASSIGN_OR_RETURN(b.device_id, d.Ref(w.device_ref(), "beneficiary's device"));
      b.hlc = hlc;
      RETURN_IF_ERROR(core::ValidateBeneficiaryRecord(b));
      return core::Record(std::move(b));
    }
    case v1::Change::kHandover: {
      const v1::Handover& w = c.handover();
      core::Handover h;
      ASSIGN_OR_RETURN(h.id, Id(w.id(), "handover ID"));
      ASSIGN_OR_RETURN(h.round_id, d.Ref(w.round_ref(), "handover's round"));
      ASSIGN_OR_RETURN(h.beneficiary_id, Id(w.beneficiary_id(), "handover's beneficiary"));
      ASSIGN_OR_RETURN(h.kit_type_id, d.Ref(w.kit_type_ref(), "handover's kit type"));
      h.quantity = w.quantity();
      ASSIGN_OR_RETURN(h.post_id, d.Ref(w.post_ref(), "handover's post"));
      ASSIGN_OR_RETURN(h.officer_id, d.Ref(w.officer_ref(), "handover's officer"));
      ASSIGN_OR_RETURN(h.device_id, d.Ref(w.device_ref(), "handover's device"));
      h.hlc = hlc;
      ASSIGN_OR_RETURN(h.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      ASSIGN_OR_RETURN(h.proof_kind, FromWire(w.proof_kind()));
      if (!w.proof_digest().empty()) {
        if (w.proof_digest().size() != 32 || !w.proof_ref().empty()) {
          return Status::InvalidArgument(
              "a handover's proof digest must be 32 bytes and come without a proof reference");
        }
        h.proof_ref = core::ToHex(w.proof_digest());
      } else {
        h.proof_ref = w.proof_ref();
      }
      ASSIGN_OR_RETURN(h.collected_by, CollectorFromWire(w.collector()));
      h.proxy_relation = w.proxy_relation();
      h.consent = w.consent();
      h.override_reason = w.override_reason();
      h.overridden_warnings.assign(w.overridden_warnings().begin(),
                                   w.overridden_warnings().end());
      RETURN_IF_ERROR(core::ValidateHandoverRecord(h));
      return core::Record(std::move(h));
    }
    case v1::Change::kBeneficiaryUpdate: {
      const v1::BeneficiaryUpdate& w = c.beneficiary_update();
      core::BeneficiaryUpdate u;
      ASSIGN_OR_RETURN(u.id, Id(w.id(), "correction ID"));
      ASSIGN_OR_RETURN(u.beneficiary_id, Id(w.beneficiary_id(), "corrected beneficiary's ID"));
      if (w.has_full_name()) u.full_name = w.full_name();
      if (w.has_phone()) u.phone = w.phone();
      if (w.has_household_size()) u.household_size = w.household_size();
      if (w.base_hlc_behind() > hlc.Pack()) {
        return Status::InvalidArgument("a correction's base version lies before the epoch");
      }
      u.base_hlc = core::Hlc::Unpack(hlc.Pack() - w.base_hlc_behind());
      ASSIGN_OR_RETURN(u.post_id, d.Ref(w.post_ref(), "corrected beneficiary's post"));
      ASSIGN_OR_RETURN(u.officer_id, d.Ref(w.officer_ref(), "correction's officer"));
      ASSIGN_OR_RETURN(u.device_id, d.Ref(w.device_ref(), "correction's device"));
      u.hlc = hlc;
      ASSIGN_OR_RETURN(u.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      RETURN_IF_ERROR(core::ValidateBeneficiaryUpdateRecord(u));
      return core::Record(std::move(u));
    }
    case v1::Change::kServedSummary: {
      const v1::ServedSummary& w = c.served_summary();
      core::ServedSummary summary;
      if (w.doc_hash().size() != 32) {
        return Status::InvalidArgument("a served summary's document hash must be 32 bytes");
      }
      summary.doc_hash = core::ToHex(w.doc_hash());
      ASSIGN_OR_RETURN(summary.round_id, d.Ref(w.round_ref(), "served summary's round"));
      ASSIGN_OR_RETURN(summary.kit_type_id, d.Ref(w.kit_type_ref(), "served summary's kit type"));
      ASSIGN_OR_RETURN(summary.post_id, d.Ref(w.post_ref(), "served summary's post"));
      summary.quantity = w.quantity();
      RETURN_IF_ERROR(core::ValidateServedSummary(summary));
      return core::Record(std::move(summary));
    }
    case v1::Change::kConflictResolution: {
      const v1::ConflictResolution& w = c.conflict_resolution();
      core::ConflictResolution r;
      ASSIGN_OR_RETURN(r.conflict_id, Id(w.conflict_id(), "resolved conflict's ID"));
      r.kind = w.kind();
      r.action = w.action();
      if (w.subject_ids_size() > 1000) {
        return Status::InvalidArgument("a resolution covers at most 1000 records");
      }
      for (const std::string& id : w.subject_ids()) {
        ASSIGN_OR_RETURN(std::string subject, Id(id, "resolution's subject"));
        r.subject_ids.push_back(std::move(subject));
      }
      r.note = w.note();
      r.decided_by = w.decided_by();
      ASSIGN_OR_RETURN(r.post_id, d.Ref(w.post_ref(), "resolution's post"));
      r.hlc = hlc;
      ASSIGN_OR_RETURN(r.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      RETURN_IF_ERROR(core::ValidateResolution(r));
      return core::Record(std::move(r));
    }
    case v1::Change::kBeneficiaryMerge: {
      const v1::BeneficiaryMerge& w = c.beneficiary_merge();
      core::BeneficiaryMerge m;
      ASSIGN_OR_RETURN(m.id, Id(w.id(), "merge ID"));
      ASSIGN_OR_RETURN(m.retired_id, Id(w.retired_beneficiary_id(), "retired beneficiary's ID"));
      ASSIGN_OR_RETURN(m.kept_id, Id(w.kept_beneficiary_id(), "kept beneficiary's ID"));
      if (w.base_hlc_behind() == 0 || w.base_hlc_behind() > hlc.Pack()) {
        return Status::InvalidArgument("a merge's base version must lie after the epoch and "
                                       "before the merge");
      }
      m.base_hlc = core::Hlc::Unpack(hlc.Pack() - w.base_hlc_behind());
      ASSIGN_OR_RETURN(m.conflict_id, Id(w.conflict_id(), "merged conflict's ID"));
      m.decided_by = w.decided_by();
      ASSIGN_OR_RETURN(m.device_id, d.Ref(w.device_ref(), "merge's device"));
      m.hlc = hlc;
      ASSIGN_OR_RETURN(m.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      RETURN_IF_ERROR(core::ValidateMergeRecord(m));
      return core::Record(std::move(m));
    }
    case v1::Change::kHandoverVoid: {
      const v1::HandoverVoid& w = c.handover_void();
      core::HandoverVoid v;
      ASSIGN_OR_RETURN(v.handover_id, Id(w.handover_id(), "voided handover ID"));
      v.reason = w.reason();
      ASSIGN_OR_RETURN(v.officer_id, d.Ref(w.officer_ref(), "void's officer"));
      ASSIGN_OR_RETURN(v.device_id, d.Ref(w.device_ref(), "void's device"));
      v.hlc = hlc;
      ASSIGN_OR_RETURN(v.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      RETURN_IF_ERROR(core::ValidateVoidRecord(v));
      return core::Record(std::move(v));
    }
    case v1::Change::kStockMovement: {
      const v1::StockMovement& w = c.stock_movement();
      core::StockMovement m;
      ASSIGN_OR_RETURN(m.id, Id(w.id(), "stock movement ID"));
      ASSIGN_OR_RETURN(m.post_id, d.Ref(w.post_ref(), "movement's post"));
      ASSIGN_OR_RETURN(m.kit_type_id, d.Ref(w.kit_type_ref(), "movement's kit type"));
      ASSIGN_OR_RETURN(m.kind, MovementFromWire(w.kind()));
      m.quantity = w.quantity();
      ASSIGN_OR_RETURN(m.counterpart_post_id,
                       d.OptionalRef(w.counterpart_post_ref(), "movement's other post"));
      m.reference = w.reference();
      m.reason = w.reason();
      ASSIGN_OR_RETURN(m.officer_id, d.Ref(w.officer_ref(), "movement's officer"));
      ASSIGN_OR_RETURN(m.device_id, d.Ref(w.device_ref(), "movement's device"));
      m.hlc = hlc;
      ASSIGN_OR_RETURN(m.wall_ms, WallMs(hlc, w.wall_offset_ms()));
      RETURN_IF_ERROR(core::ValidateMovementRecord(m));
      return core::Record(std::move(m));
    }
    case v1::Change::kKitType: {
      const v1::KitType& w = c.kit_type();
      core::MasterData m;
      core::KitType& k = m.kit_types.emplace_back();
      ASSIGN_OR_RETURN(k.id, Id(w.id(), "kit type ID"));
      k.code = w.code();
      k.name = w.name();
      k.unit = w.unit();
      RETURN_IF_ERROR(core::ValidateMasterData(m));
      return core::Record(std::move(k));
    }
    case v1::Change::kPost: {
      const v1::Post& w = c.post();
      core::MasterData m;
      core::Post& p = m.posts.emplace_back();
      ASSIGN_OR_RETURN(p.id, Id(w.id(), "post ID"));
      p.code = w.code();
      p.name = w.name();
      RETURN_IF_ERROR(core::ValidateMasterData(m));
      return core::Record(std::move(p));
    }
    case v1::Change::kOfficer: {
      const v1::Officer& w = c.officer();
      core::MasterData m;
      core::Officer& o = m.officers.emplace_back();
      ASSIGN_OR_RETURN(o.id, Id(w.id(), "officer ID"));
      o.code = w.code();
      o.name = w.name();
      ASSIGN_OR_RETURN(o.post_id, d.Ref(w.post_ref(), "officer's post"));
      ASSIGN_OR_RETURN(o.role, RoleFromWire(w.role()));
      RETURN_IF_ERROR(core::ValidateMasterData(m));
      return core::Record(std::move(o));
    }
    case v1::Change::kRound: {
      const v1::Round& w = c.round();
      core::MasterData m;
      core::Round& r = m.rounds.emplace_back();
      ASSIGN_OR_RETURN(r.id, Id(w.id(), "round ID"));
      r.code = w.code();
      r.name = w.name();
      r.requires_proof = w.requires_proof();
      for (const v1::Entitlement& e : w.entitlements()) {
        core::Entitlement& ent = r.entitlements.emplace_back();
        ASSIGN_OR_RETURN(ent.kit_type_id, d.Ref(e.kit_type_ref(), "entitlement's kit type"));
        ent.max_per_beneficiary = e.max_per_beneficiary();
      }
      RETURN_IF_ERROR(core::ValidateMasterData(m));
      return core::Record(std::move(r));
    }
    case v1::Change::RECORD_NOT_SET:
      break;
  }
  return Status::InvalidArgument("a change carries no record (or one of a kind this server "
                                 "does not know)");
}

}  // namespace

std::string UuidToBytes(std::string_view uuid) {
  // Every ID of every record sent goes through here: its digits are read in place, the dashes
  // stepped over, without a copy of the text without them.
  std::string out(16, '\0');
  size_t at = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (at < uuid.size() && uuid[at] == '-') ++at;
    if (at + 1 >= uuid.size()) {  // not a UUID: as many bytes as it has digits for
      out.resize(i);
      break;
    }
    out[i] = static_cast<char>(HexValue(uuid[at]) << 4 | HexValue(uuid[at + 1]));
    at += 2;
  }
  return out;
}

Result<std::string> UuidFromBytes(std::string_view bytes) {
  if (bytes.size() != 16) {
    return Status::InvalidArgument("an ID must be 16 bytes, got " + std::to_string(bytes.size()));
  }
  // Every ID of every pushed record comes through here: written straight into its text form
  // (8-4-4-4-12 lower-case hex digits) rather than assembled from substrings.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t at = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++at;  // the dashes
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[at++] = kHex[b >> 4];
    out[at++] = kHex[b & 0xf];
  }
  return out;
}

uint32_t RecordBatchWriter::Ref(const std::string& uuid) {
  // Looked up before inserting: a batch names the same few IDs hundreds of times, and emplace
  // would build a node with a copy of the ID each time only to throw it away.
  if (auto it = refs_.find(uuid); it != refs_.end()) return it->second;
  const auto ref = static_cast<uint32_t>(refs_.size() + 1);
  refs_.emplace(uuid, ref);
  batch_->add_dictionary(UuidToBytes(uuid));
  return ref;
}

void RecordBatchWriter::Add(const core::Hlc& hlc, const core::Record& record) {
  v1::Change* c = batch_->add_changes();
  const uint64_t packed = hlc.Pack();
  if (first_) {
    batch_->set_base_hlc(packed);
    first_ = false;
  } else {
    c->set_hlc_delta(static_cast<int64_t>(packed - last_hlc_));
  }
  last_hlc_ = packed;

  if (auto* b = std::get_if<core::Beneficiary>(&record)) {
    v1::Beneficiary* w = c->mutable_beneficiary();
    w->set_id(UuidToBytes(b->id));
    w->set_doc_hash(HexToBytes(b->doc_hash));
    w->set_full_name(b->full_name);
    w->set_phone(b->phone);
    w->set_household_size(static_cast<uint32_t>(b->household_size));
    w->set_post_ref(Ref(b->post_id));
    w->set_device_ref(Ref(b->device_id));
  } else if (auto* u = std::get_if<core::BeneficiaryUpdate>(&record)) {
    v1::BeneficiaryUpdate* w = c->mutable_beneficiary_update();
    w->set_id(UuidToBytes(u->id));
    w->set_beneficiary_id(UuidToBytes(u->beneficiary_id));
    if (u->full_name) w->set_full_name(*u->full_name);
    if (u->phone) w->set_phone(*u->phone);
    if (u->household_size) w->set_household_size(static_cast<uint32_t>(*u->household_size));
    w->set_base_hlc_behind(packed - u->base_hlc.Pack());
    w->set_post_ref(Ref(u->post_id));
    w->set_officer_ref(Ref(u->officer_id));
    w->set_device_ref(Ref(u->device_id));
    w->set_wall_offset_ms(u->wall_ms - hlc.physical_ms);
  } else if (auto* r = std::get_if<core::ConflictResolution>(&record)) {
    v1::ConflictResolution* w = c->mutable_conflict_resolution();
    w->set_conflict_id(UuidToBytes(r->conflict_id));
    w->set_kind(r->kind);
    w->set_action(r->action);
    for (const std::string& id : r->subject_ids) w->add_subject_ids(UuidToBytes(id));
    w->set_note(r->note);
    w->set_decided_by(r->decided_by);
    w->set_post_ref(Ref(r->post_id));
    w->set_wall_offset_ms(r->wall_ms - hlc.physical_ms);
  } else if (auto* m = std::get_if<core::BeneficiaryMerge>(&record)) {
    v1::BeneficiaryMerge* w = c->mutable_beneficiary_merge();
    w->set_id(UuidToBytes(m->id));
    w->set_retired_beneficiary_id(UuidToBytes(m->retired_id));
    w->set_kept_beneficiary_id(UuidToBytes(m->kept_id));
    w->set_base_hlc_behind(packed - m->base_hlc.Pack());
    w->set_conflict_id(UuidToBytes(m->conflict_id));
    w->set_decided_by(m->decided_by);
    w->set_device_ref(Ref(m->device_id));
    w->set_wall_offset_ms(m->wall_ms - hlc.physical_ms);
  } else if (auto* sv = std::get_if<core::ServedSummary>(&record)) {
    v1::ServedSummary* w = c->mutable_served_summary();
    w->set_doc_hash(HexToBytes(sv->doc_hash));
    w->set_round_ref(Ref(sv->round_id));
    w->set_kit_type_ref(Ref(sv->kit_type_id));
    w->set_post_ref(Ref(sv->post_id));
    w->set_quantity(static_cast<uint32_t>(sv->quantity));
  } else if (auto* h = std::get_if<core::Handover>(&record)) {
    v1::Handover* w = c->mutable_handover();
    w->set_id(UuidToBytes(h->id));
    w->set_round_ref(Ref(h->round_id));
    w->set_beneficiary_id(UuidToBytes(h->beneficiary_id));
    w->set_kit_type_ref(Ref(h->kit_type_id));
    w->set_quantity(static_cast<uint32_t>(h->quantity));
    w->set_post_ref(Ref(h->post_id));
    w->set_officer_ref(Ref(h->officer_id));
    w->set_device_ref(Ref(h->device_id));
    w->set_wall_offset_ms(h->wall_ms - hlc.physical_ms);
    w->set_proof_kind(ToWire(h->proof_kind));
    if (reader_.proof_digest && IsLowerHexDigest(h->proof_ref)) {
      w->set_proof_digest(HexToBytes(h->proof_ref));
    } else {
      w->set_proof_ref(h->proof_ref);
    }
    w->set_collector(h->collected_by == core::Collector::kProxy ? v1::COLLECTOR_PROXY
                                                                : v1::COLLECTOR_SELF);
    w->set_proxy_relation(h->proxy_relation);
    w->set_consent(h->consent);
    w->set_override_reason(h->override_reason);
    for (const std::string& warning : h->overridden_warnings) w->add_overridden_warnings(warning);
  } else if (auto* v = std::get_if<core::HandoverVoid>(&record)) {
    v1::HandoverVoid* w = c->mutable_handover_void();
    w->set_handover_id(UuidToBytes(v->handover_id));
    w->set_reason(v->reason);
    w->set_officer_ref(Ref(v->officer_id));
    w->set_device_ref(Ref(v->device_id));
    w->set_wall_offset_ms(v->wall_ms - hlc.physical_ms);
  } else if (auto* m = std::get_if<core::StockMovement>(&record)) {
    v1::StockMovement* w = c->mutable_stock_movement();
    w->set_id(UuidToBytes(m->id));
    w->set_post_ref(Ref(m->post_id));
    w->set_kit_type_ref(Ref(m->kit_type_id));
    w->set_kind(ToWire(m->kind));
    w->set_quantity(m->quantity);
    if (!m->counterpart_post_id.empty()) w->set_counterpart_post_ref(Ref(m->counterpart_post_id));
    w->set_reference(m->reference);
    w->set_reason(m->reason);
    w->set_officer_ref(Ref(m->officer_id));
    w->set_device_ref(Ref(m->device_id));
    w->set_wall_offset_ms(m->wall_ms - hlc.physical_ms);
  } else if (auto* k = std::get_if<core::KitType>(&record)) {
    v1::KitType* w = c->mutable_kit_type();
    w->set_id(UuidToBytes(k->id));
    w->set_code(k->code);
    w->set_name(k->name);
    w->set_unit(k->unit);
  } else if (auto* p = std::get_if<core::Post>(&record)) {
    v1::Post* w = c->mutable_post();
    w->set_id(UuidToBytes(p->id));
    w->set_code(p->code);
    w->set_name(p->name);
  } else if (auto* o = std::get_if<core::Officer>(&record)) {
    v1::Officer* w = c->mutable_officer();
    w->set_id(UuidToBytes(o->id));
    w->set_code(o->code);
    w->set_name(o->name);
    w->set_post_ref(Ref(o->post_id));
    w->set_role(ToWire(o->role));
  } else if (auto* r = std::get_if<core::Round>(&record)) {
    v1::Round* w = c->mutable_round();
    w->set_id(UuidToBytes(r->id));
    w->set_code(r->code);
    w->set_name(r->name);
    w->set_requires_proof(r->requires_proof);
    for (const core::Entitlement& e : r->entitlements) {
      v1::Entitlement* we = w->add_entitlements();
      we->set_kit_type_ref(Ref(e.kit_type_id));
      we->set_max_per_beneficiary(static_cast<uint32_t>(e.max_per_beneficiary));
    }
  }
}

Result<std::vector<WireChange>> ReadRecordBatch(const v1::RecordBatch& batch) {
  ASSIGN_OR_RETURN(Dictionary dictionary, Dictionary::Read(batch));
  std::vector<WireChange> out;
  out.reserve(batch.changes_size());
  uint64_t hlc = batch.base_hlc();
  for (int i = 0; i < batch.changes_size(); ++i) {
    const v1::Change& c = batch.changes(i);
    hlc += static_cast<uint64_t>(c.hlc_delta());
    const core::Hlc when = core::Hlc::Unpack(hlc);
    // Far beyond any real clock (the year 10000) means a corrupt or hostile timestamp.
    if (when.physical_ms <= 0 || when.physical_ms > 253'402'300'800'000) {
      return Status::InvalidArgument("change " + std::to_string(i + 1) +
                                     " has an impossible timestamp");
    }
    auto record = ReadRecord(c, when, dictionary);
    if (!record.ok()) {
      return Status::InvalidArgument("change " + std::to_string(i + 1) + ": " +
                                     record.status().message());
    }
    out.push_back({when, std::move(record).value()});
  }
  return out;
}

Result<std::vector<core::ChangeEntry>> ToChangeEntries(const std::vector<WireChange>& changes,
                                                       int64_t first_seq) {
  std::vector<core::ChangeEntry> out;
  out.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(changes[i].record));
    core::ChangeEntry e;
    e.seq = first_seq + static_cast<int64_t>(i);
    e.hlc = changes[i].hlc;
    e.entity = std::move(form.entity);
    e.entity_id = std::move(form.entity_id);
    e.op = "create";
    e.payload = std::move(form.payload);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace kitsync::sync

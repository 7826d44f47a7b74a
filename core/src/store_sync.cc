// What the sync engine needs of the tablet: applying pulled batches, the cursors, and the link
// to the server.
#include <algorithm>
#include <type_traits>

#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "store_impl.h"

namespace kitsync::core {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Field checks on everything in a pulled batch, before anything is written.
Status ValidatePulled(const std::vector<RemoteChange>& changes, MasterData& master) {
  for (const RemoteChange& c : changes) {
    RETURN_IF_ERROR(std::visit(
        Overloaded{
            [](const Beneficiary& b) { return ValidateBeneficiaryRecord(b); },
            [](const Handover& h) { return ValidateHandoverRecord(h); },
            [](const HandoverVoid& v) { return ValidateVoidRecord(v); },
            [](const StockMovement& m) { return ValidateMovementRecord(m); },
            [](const BeneficiaryUpdate& u) { return ValidateBeneficiaryUpdateRecord(u); },
            [](const ServedSummary& s) { return ValidateServedSummary(s); },
            [](const ConflictResolution& r) { return ValidateResolution(r); },
            [](const BeneficiaryMerge& m) { return ValidateMergeRecord(m); },
            [&](const KitType& k) {
              master.kit_types.push_back(k);
              return Status::Ok();
            },
            [&](const Post& p) {
              master.posts.push_back(p);
              return Status::Ok();
            },
            [&](const Officer& o) {
              master.officers.push_back(o);
              return Status::Ok();
            },
            [&](const Round& r) {
              master.rounds.push_back(r);
              return Status::Ok();
            },
        },
        c.record));
  }
  return ValidateMasterData(master);
}

}  // namespace

Status Store::ApplyPulled(const std::vector<RemoteChange>& changes, int64_t cursor) {
  MasterData master;
  Status valid = ValidatePulled(changes, master);
  if (!valid.ok()) return Status::InvalidArgument("pulled batch refused: " + valid.message());
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(int64_t current, ReadMetaInt(db, "pull_cursor", 0));
  if (cursor <= current) return Status::Ok();  // a batch delivered twice: already applied

  // Master data first, so facts in the same batch find what they reference.
  RETURN_IF_ERROR(impl_->UpsertMasterData(master));
  Hlc newest;
  for (const RemoteChange& c : changes) {
    newest = std::max(newest, c.hlc);
    RETURN_IF_ERROR(std::visit(
        Overloaded{
            [&](const Beneficiary& b) { return impl_->InsertBeneficiary(b); },
            [&](const Handover& h) { return impl_->InsertHandover(h); },
            [&](const HandoverVoid& v) { return impl_->InsertVoid(v); },
            [&](const StockMovement& m) { return impl_->InsertMovement(m); },
            [&](const BeneficiaryUpdate& u) { return impl_->InsertBeneficiaryUpdate(u); },
            [&](const ServedSummary& s) { return impl_->UpsertServedSummary(s); },
            [&](const ConflictResolution& r) { return impl_->InsertResolution(r); },
            [&](const BeneficiaryMerge& m) { return impl_->InsertMerge(m); },
            [](const auto&) { return Status::Ok(); },  // master data, done above
        },
        c.record));
  }
  RETURN_IF_ERROR(WriteMeta(db, "pull_cursor", std::to_string(cursor)));
  // Later local changes should order after what this tablet has now seen, unless the sender's
  // clock was far ahead: one wild clock must not drag this one into the future.
  HlcClock& clock = impl_->clock();
  Hlc before = clock.last();
  if (clock.Observe(newest, impl_->max_clock_skew_ms()).ok() && clock.last() > before) {
    RETURN_IF_ERROR(WriteMeta(db, "observed_hlc", std::to_string(clock.last().Pack())));
  }
  RETURN_IF_ERROR(tx->Commit());
  impl_->ForgetHandedOut();
  return Status::Ok();
}

Result<std::vector<ConflictResolution>> Store::ListResolutions() {
  ASSIGN_OR_RETURN(auto* stmt, impl_->db().Cached(
                                   "SELECT conflict_id, hlc, kind, action, subject_ids, note, "
                                   "decided_by, wall_ms FROM resolutions ORDER BY hlc"));
  std::vector<ConflictResolution> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ConflictResolution r;
    r.conflict_id = stmt->Text(0);
    r.hlc = Hlc::Unpack(static_cast<uint64_t>(stmt->Int(1)));
    r.kind = stmt->Text(2);
    r.action = stmt->Text(3);
    const std::string subjects = stmt->Text(4);
    for (size_t at = 0; at < subjects.size();) {
      const size_t end = std::min(subjects.find(' ', at), subjects.size());
      if (end > at) r.subject_ids.push_back(subjects.substr(at, end - at));
      at = end + 1;
    }
    r.note = stmt->Text(5);
    r.decided_by = stmt->Text(6);
    r.wall_ms = stmt->Int(7);
    out.push_back(std::move(r));
  }
  stmt->Reset();
  return out;
}

Result<int64_t> Store::PullCursor() { return ReadMetaInt(impl_->db(), "pull_cursor", 0); }

Result<std::string> Store::PullEpoch() {
  ASSIGN_OR_RETURN(auto epoch, ReadOptionalMeta(impl_->db(), "pull_epoch"));
  return epoch.value_or(std::string());
}

Status Store::SetPullEpoch(const std::string& epoch, int64_t cursor) {
  if (epoch.empty()) return Status::InvalidArgument("a feed epoch is required");
  if (cursor < 0) return Status::InvalidArgument("a pull cursor cannot be negative");
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(int64_t current, ReadMetaInt(db, "pull_cursor", 0));
  // Moving forward would mark entries received that never arrived.
  if (cursor > current) {
    return Status::InvalidArgument("the pull cursor is at " + std::to_string(current) +
                                   "; lining up with a feed epoch never moves it forward (to " +
                                   std::to_string(cursor) + ")");
  }
  RETURN_IF_ERROR(WriteMeta(db, "pull_epoch", epoch));
  RETURN_IF_ERROR(WriteMeta(db, "pull_cursor", std::to_string(cursor)));
  return tx->Commit();
}

Status Store::ResetUploadCursor(int64_t seq) {
  if (seq < 0) return Status::InvalidArgument("upload cursor cannot be negative");
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  ASSIGN_OR_RETURN(int64_t last, db.QueryInt("SELECT max(seq) FROM change_log"));
  if (seq > last) {
    return Status::OutOfRange("the server claims change " + std::to_string(seq) +
                              " but this tablet's log ends at " + std::to_string(last));
  }
  RETURN_IF_ERROR(WriteMeta(db, "acked_seq", std::to_string(seq)));
  return tx->Commit();
}

Status Store::SaveServerLink(const ServerLink& link) {
  if (link.address.empty()) return Status::InvalidArgument("server address is required");
  if (link.device_token.empty()) return Status::InvalidArgument("device credential is required");
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db));
  RETURN_IF_ERROR(WriteMeta(db, "server_address", link.address));
  RETURN_IF_ERROR(WriteMeta(db, "device_token", link.device_token));
  RETURN_IF_ERROR(WriteMeta(db, "server_ca_file", link.ca_file));
  return tx->Commit();
}

Result<ServerLink> Store::LoadServerLink() {
  sqlite::Db& db = impl_->db();
  ASSIGN_OR_RETURN(auto address, ReadOptionalMeta(db, "server_address"));
  if (!address) {
    return Status::NotFound("this tablet is not enrolled with a server (run 'kitsync enroll')");
  }
  ServerLink link;
  link.address = *address;
  ASSIGN_OR_RETURN(link.device_token, ReadMeta(db, "device_token"));
  ASSIGN_OR_RETURN(link.ca_file, ReadMeta(db, "server_ca_file"));
  return link;
}

}  // namespace kitsync::core

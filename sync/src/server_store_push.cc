// Applying a device's pushed batch: cursor, hash chain, ownership, references, and the facts
// with their feed entries, in one transaction. The rows written for every pushed record bind
// their text without a copy (BindView): each bind chain ends in Run(), within the lifetime of
// what it binds.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "kitsync/core/change_log.h"
#include "kitsync/core/handover_row.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using core::sqlite::Statement;
using core::sqlite::Transaction;

std::string N(int64_t v) { return std::to_string(v); }

// The post a fact belongs to and the device that made it, for the ownership check; a void's post
// is that of the handover it voids and is checked when it is applied.
struct Owner {
  const std::string* post_id = nullptr;
  const std::string* device_id = nullptr;
};

Result<Owner> OwnerOf(const core::Record& record) {
  if (auto* b = std::get_if<core::Beneficiary>(&record)) return Owner{&b->post_id, &b->device_id};
  if (auto* h = std::get_if<core::Handover>(&record)) return Owner{&h->post_id, &h->device_id};
  if (auto* v = std::get_if<core::HandoverVoid>(&record)) return Owner{nullptr, &v->device_id};
  if (auto* m = std::get_if<core::StockMovement>(&record)) return Owner{&m->post_id, &m->device_id};
  if (auto* u = std::get_if<core::BeneficiaryUpdate>(&record)) {
    return Owner{&u->post_id, &u->device_id};
  }
  if (std::holds_alternative<core::BeneficiaryMerge>(record)) {
    return Status::PermissionDenied("only the central office merges beneficiaries");
  }
  return Status::PermissionDenied("a device may not push master data or served summaries");
}

Status CheckOwnership(const core::RemoteChange& change, int64_t seq, const Principal& device) {
  ASSIGN_OR_RETURN(Owner owner, OwnerOf(change.record));
  if (*owner.device_id != device.device_id) {
    return Status::PermissionDenied("change " + N(seq) + " was made by device " + *owner.device_id +
                                    ", not by the device pushing it");
  }
  if (owner.post_id && *owner.post_id != device.post_id) {
    return Status::PermissionDenied("change " + N(seq) + " belongs to post " + *owner.post_id +
                                    "; this device may write only records of post " +
                                    device.post_code);
  }
  return Status::Ok();
}

// Almost every handover overrides no warning: the same "[]" nlohmann would write, without
// building a JSON value for each.
std::string WarningsJson(const std::vector<std::string>& warnings) {
  if (warnings.empty()) return "[]";
  return nlohmann::json(warnings).dump();
}

Status Conflict(const std::string& what, const std::string& id) {
  return Status::AlreadyExists(what + " " + id +
                               " is already held by the server with different content");
}

// A JSON array of IDs for json_each(). The IDs were checked as UUIDs when the batch was read:
// nothing in them needs escaping.
std::string JsonIdArray(const std::vector<std::string_view>& ids) {
  std::string out;
  out.reserve(2 + ids.size() * 39);
  out.push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(',');
    out.push_back('"');
    out.append(ids[i]);
    out.push_back('"');
  }
  out.push_back(']');
  return out;
}

// A handover's columns in the order HandoverFromRow reads them.
#define KITSYNC_SERVER_HANDOVER_COLUMNS                                                      \
  "h.id, h.round_id, h.beneficiary_id, h.kit_type_id, h.quantity, h.post_id, h.officer_id, " \
  "h.device_id, h.hlc, h.wall_ms, h.proof_kind, h.proof_ref, h.collected_by, "               \
  "h.proxy_relation, h.consent, h.override_reason, h.overridden_warnings"

Result<core::Handover> HandoverFromRow(const Statement& row, int first) {
  core::Handover h = core::ReadHandoverFields(row, first);
  const std::string_view warnings = row.TextView(first + 16);
  if (warnings != "[]") {
    try {
      h.overridden_warnings = nlohmann::json::parse(warnings).get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      return Status::DataLoss("handover " + h.id + " has malformed warnings: " + e.what());
    }
  }
  return h;
}

// What a handover held under a pushed ID encodes to, for comparing it with the pushed one.
Result<std::string> HeldPayload(core::Handover held) {
  ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(core::Record(std::move(held))));
  return std::move(form.payload);
}

constexpr char kDocHashSql[] = "SELECT doc_hash FROM beneficiaries WHERE id = ?";

}  // namespace

Result<PushOutcome> SqliteServerStore::ApplyPush(const Principal& device, const PushInput& in) {
  std::vector<Result<PushOutcome>> outcomes = ApplyPushes(device, {&in});
  return std::move(outcomes.front());
}

std::vector<Result<PushOutcome>> SqliteServerStore::ApplyPushes(
    const Principal& device, const std::vector<const PushInput*>& inputs) {
  std::vector<Result<PushOutcome>> out;
  if (inputs.empty()) return out;
  if (device.is_admin()) {
    out.push_back(Status::PermissionDenied("only a device pushes its change log"));
    return out;
  }
  std::lock_guard lock(mu_);
  auto tx = Transaction::Begin(*db_);
  if (!tx.ok()) {
    out.push_back(tx.status());
    return out;
  }
  for (const PushInput* in : inputs) {
    if (Status s = db_->Exec("SAVEPOINT push_batch"); !s.ok()) {
      out.push_back(s);
      break;
    }
    Result<PushOutcome> outcome = ApplyPushLocked(device, *in);
    if (outcome.ok()) {
      if (Status s = db_->Exec("RELEASE push_batch"); !s.ok()) outcome = s;
    }
    if (!outcome.ok()) {
      // The refused batch goes; those before it stay, unless the database cannot say so.
      Status undone = db_->Exec("ROLLBACK TO push_batch");
      if (undone.ok()) undone = db_->Exec("RELEASE push_batch");
      out.push_back(std::move(outcome));
      if (!undone.ok()) {
        for (Result<PushOutcome>& earlier : out) {
          if (earlier.ok()) earlier = undone;
        }
        return out;  // the transaction rolls back whole
      }
      break;
    }
    out.push_back(std::move(outcome));
  }
  if (Status committed = (*tx)->Commit(); !committed.ok()) {
    for (Result<PushOutcome>& outcome : out) {
      if (outcome.ok()) outcome = committed;
    }
  }
  return out;
}

Result<PushOutcome> SqliteServerStore::ApplyPushLocked(const Principal& device,
                                                       const PushInput& in) {
  ASSIGN_OR_RETURN(Statement * cursor,
                   db_->Cached("SELECT acked_seq, tip_hash, revoked_ms FROM devices WHERE id = ?"));
  ASSIGN_OR_RETURN(bool known, cursor->Bind(1, device.device_id).Step());
  if (!known) return Status::Unauthenticated("unknown device " + device.device_id);
  const int64_t acked = cursor->Int(0);
  const std::string stored_tip = cursor->Text(1);
  const bool revoked = !cursor->IsNull(2);
  cursor->Reset();
  // Checked again here: a revocation may land while a push stream is open.
  if (revoked) return Status::Unauthenticated("device " + device.device_id + " was revoked");

  PushOutcome out{acked, 0, 0};
  const int64_t n = static_cast<int64_t>(in.changes.size());
  if (n == 0) return out;  // nothing sent: the ack says where the server stands
  if (in.first_seq < 1) return Status::InvalidArgument("a batch's first sequence must be >= 1");
  const int64_t last = in.first_seq + n - 1;
  // A retry after a lost ack: acknowledged again, applied never.
  if (last <= acked) return out;
  if (in.first_seq > acked + 1) {
    return Status::FailedPrecondition("gap: this batch starts at change " + N(in.first_seq) +
                                      " but the server holds this device's changes only up to " +
                                      N(acked) + "; send from change " + N(acked + 1));
  }

  // Facts from here on are this batch's own (served summaries tell them apart).
  ASSIGN_OR_RETURN(const int64_t first_new_seq, FirstNewSeq());
  RETURN_IF_ERROR(KeepServedFilterCurrent());

  // Re-hash what is new, from the hash the server holds; the last must be the tip the device
  // sent. The prefix already held was verified when it arrived. Hashes worked out before the
  // lock count only from a change whose predecessor's hash is the one held here.
  const size_t skip = static_cast<size_t>(acked + 1 - in.first_seq);
  std::string prev = acked == 0 ? core::GenesisHash(device.device_id) : stored_tip;
  const PrehashedChanges* ahead =
      in.prehashed && in.prehashed->forms.size() == in.changes.size() &&
              (in.prehashed->after.empty() || in.prehashed->after.size() == in.changes.size())
          ? &*in.prehashed
          : nullptr;
  const bool hashed_ahead = ahead && !ahead->after.empty() &&
                            (skip == 0 ? ahead->chain_from : ahead->after[skip - 1]) == prev;
  std::vector<core::LoggedForm> own_forms;
  if (!ahead) own_forms.reserve(in.changes.size() - skip);
  for (size_t i = skip; i < in.changes.size(); ++i) {
    const int64_t seq = in.first_seq + static_cast<int64_t>(i);
    RETURN_IF_ERROR(CheckOwnership(in.changes[i], seq, device));
    if (!ahead) {
      ASSIGN_OR_RETURN(core::LoggedForm form, core::ToLoggedForm(in.changes[i].record));
      own_forms.push_back(std::move(form));
    }
    if (!hashed_ahead) {
      const core::LoggedForm& form = ahead ? ahead->forms[i] : own_forms.back();
      prev = core::ChainHash(seq, in.changes[i].hlc, form.entity, form.entity_id, "create",
                             form.payload, prev);
    }
  }
  if (hashed_ahead) prev = ahead->after.back();
  // The form of change i (i >= skip).
  auto form_of = [&](size_t i) -> const core::LoggedForm& {
    return ahead ? ahead->forms[i] : own_forms[i - skip];
  };
  if (prev != in.tip_hash) {
    return Status::FailedPrecondition(
        "hash chain broken: changes " + N(acked + 1) + ".." + N(last) +
        " do not hash to the tip hash the device sent (altered or corrupt changes)");
  }

  const int64_t ahead_limit = in.now_ms + in.max_clock_skew_ms;
  BatchLookups lookups;
  RETURN_IF_ERROR(LookUpBatch(in.changes, skip, lookups));
  Situations touched;
  HeldRefs refs;
  HandedOut handed;
  // A batch holding one handover ID twice writes each handover with its own entry, in order.
  HandoverRun run;
  HandoverRun* const deferred = lookups.held_known ? &run : nullptr;
  // A family's first kits of a round and kit type are known from the batch itself, unless a
  // void in the batch may have voided one of them (rare: then every family is read back).
  const bool voids = std::any_of(in.changes.begin() + static_cast<std::ptrdiff_t>(skip),
                                 in.changes.end(), [](const core::RemoteChange& c) {
                                   return std::holds_alternative<core::HandoverVoid>(c.record);
                                 });
  FirstKits first_kits;
  FirstKits* const known_first = deferred && !voids ? &first_kits : nullptr;
  for (size_t i = skip; i < in.changes.size(); ++i) {
    const core::RemoteChange& change = in.changes[i];
    const bool clock_ahead = change.hlc.physical_ms > ahead_limit;
    // A void looks for the handover it voids.
    if (std::holds_alternative<core::HandoverVoid>(change.record)) {
      RETURN_IF_ERROR(WriteHandoverRun(run, device.device_id));
    }
    auto applied =
        ApplyFact(change, form_of(i), clock_ahead, device, touched, refs, lookups, deferred);
    if (!applied.ok()) {
      const Status& s = applied.status();
      return Status(s.code(),
                    "change " + N(in.first_seq + static_cast<int64_t>(i)) + ": " + s.message());
    }
    if (*applied) {
      ++out.applied;
      if (clock_ahead) ++out.flagged;
      if (auto* h = std::get_if<core::Handover>(&change.record)) {
        handed[{h->post_id, h->kit_type_id}] += h->quantity;
      }
    }
    if (!clock_ahead) ObserveHlc(change.hlc);
  }
  RETURN_IF_ERROR(WriteHandoverRun(run, device.device_id, known_first));
  // Before the stock situations read them.
  RETURN_IF_ERROR(AddHandedOut(handed));
  for (const auto& [key, quantity] : handed) {
    touched.insert(StockSituation{std::string(key.first), std::string(key.second)});
  }

  // Conflicts never refuse a batch: they are recorded beside it, in the same transaction.
  RETURN_IF_ERROR(
      RefreshConflicts(touched, in.now_ms, first_new_seq, /*summarise_all=*/false, known_first));
  // Every situation a handover of this batch is in holds one now. (Added before the commit: a
  // rollback leaves a "maybe" too many, never a wrong "no".)
  for (const Situation& situation : touched) {
    if (auto* e = std::get_if<EntitlementSituation>(&situation)) {
      served_filter_.Add(e->doc_hash, e->round_id, e->kit_type_id);
    }
  }

  ASSIGN_OR_RETURN(Statement * advance,
                   db_->Cached("UPDATE devices SET acked_seq = ?, tip_hash = ?, last_push_ms = ?, "
                               "last_seen_ms = ?, pending_reported = ? WHERE id = ?"));
  RETURN_IF_ERROR(advance->Bind(1, last)
                      .BindBlob(2, in.tip_hash)
                      .Bind(3, in.now_ms)
                      .Bind(4, in.now_ms)
                      .Bind(5, in.pending_reported)
                      .Bind(6, device.device_id)
                      .Run());
  RETURN_IF_ERROR(SaveHlc());
  out.acked_seq = last;
  return out;
}

Status SqliteServerStore::AddHandedOut(const HandedOut& handed) {
  for (const auto& [key, quantity] : handed) {
    ASSIGN_OR_RETURN(Statement * add,
                     db_->Cached("INSERT INTO handover_totals (post_id, kit_type_id, quantity) "
                                 "VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                                 "SET quantity = quantity + excluded.quantity"));
    RETURN_IF_ERROR(add->Bind(1, key.first).Bind(2, key.second).Bind(3, quantity).Run());
  }
  return Status::Ok();
}

Status SqliteServerStore::LookUpBatch(const std::vector<core::RemoteChange>& changes, size_t from,
                                      BatchLookups& out) {
  std::vector<std::string_view> handover_ids;
  std::vector<std::string_view> beneficiary_ids;
  for (size_t i = from; i < changes.size(); ++i) {
    if (auto* h = std::get_if<core::Handover>(&changes[i].record)) {
      handover_ids.push_back(h->id);
      beneficiary_ids.push_back(h->beneficiary_id);
    }
  }
  if (handover_ids.empty()) return Status::Ok();
  std::sort(handover_ids.begin(), handover_ids.end());
  out.held_known =
      std::adjacent_find(handover_ids.begin(), handover_ids.end()) == handover_ids.end();
  if (out.held_known) {
    ASSIGN_OR_RETURN(std::vector<std::optional<core::Handover>> held,
                     HeldHandovers(handover_ids));
    for (std::optional<core::Handover>& h : held) {
      if (!h) continue;
      std::string id = h->id;
      ASSIGN_OR_RETURN(std::string payload, HeldPayload(std::move(*h)));
      out.held.emplace(std::move(id), std::move(payload));
    }
  }
  std::sort(beneficiary_ids.begin(), beneficiary_ids.end());
  beneficiary_ids.erase(std::unique(beneficiary_ids.begin(), beneficiary_ids.end()),
                        beneficiary_ids.end());
  ASSIGN_OR_RETURN(Statement * families,
                   db_->Cached("SELECT b.id, b.doc_hash FROM json_each(?1) j "
                               "CROSS JOIN beneficiaries b ON b.id = j.value"));
  const std::string ids = JsonIdArray(beneficiary_ids);
  families->BindView(1, ids);
  out.doc_hashes.reserve(beneficiary_ids.size());
  while (true) {
    ASSIGN_OR_RETURN(bool row, families->Step());
    if (!row) break;
    out.doc_hashes.emplace(families->Text(0), families->Text(1));
  }
  families->Reset();
  return Status::Ok();
}

Result<std::optional<std::string>> SqliteServerStore::QueryText(const char* sql,
                                                                const std::string& key1,
                                                                const std::string& key2) {
  ASSIGN_OR_RETURN(Statement * stmt, db_->Cached(sql));
  stmt->BindView(1, key1);
  if (!key2.empty()) stmt->BindView(2, key2);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  std::optional<std::string> out;
  if (row) out = stmt->Text(0);
  stmt->Reset();
  return out;
}

Result<std::optional<core::Handover>> SqliteServerStore::HeldHandover(const std::string& id) {
  ASSIGN_OR_RETURN(Statement * stmt, db_->Cached("SELECT " KITSYNC_SERVER_HANDOVER_COLUMNS
                                                 " FROM handovers h WHERE h.id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->BindView(1, id).Step());
  std::optional<core::Handover> out;
  if (row) {
    auto handover = HandoverFromRow(*stmt, 0);
    if (!handover.ok()) {
      stmt->Reset();
      return handover.status();
    }
    out = std::move(handover).value();
  }
  stmt->Reset();
  return out;
}

Result<std::vector<std::optional<core::Handover>>> SqliteServerStore::HeldHandovers(
    const std::vector<std::string_view>& ids) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT j.key, " KITSYNC_SERVER_HANDOVER_COLUMNS
                               " FROM json_each(?1) j CROSS JOIN handovers h ON h.id = j.value"));
  const std::string array = JsonIdArray(ids);
  stmt->BindView(1, array);
  std::vector<std::optional<core::Handover>> out(ids.size());
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    const int64_t at = stmt->Int(0);
    auto handover = HandoverFromRow(*stmt, 1);
    if (!handover.ok() || at < 0 || static_cast<size_t>(at) >= out.size()) {
      stmt->Reset();
      return handover.ok() ? Status::Internal("json_each gave position " + std::to_string(at))
                           : handover.status();
    }
    out[static_cast<size_t>(at)] = std::move(handover).value();
  }
  stmt->Reset();
  return out;
}

Status SqliteServerStore::KeepServedFilterCurrent() {
  ASSIGN_OR_RETURN(int64_t version, db_->QueryInt("PRAGMA data_version"));
  if (version == served_filter_version_ && !served_filter_.Crowded()) return Status::Ok();
  RETURN_IF_ERROR(served_filter_.Rebuild(*db_));
  served_filter_version_ = version;
  return Status::Ok();
}

Status SqliteServerStore::WriteHandoverRun(HandoverRun& run, const std::string& origin_device,
                                           FirstKits* first_kits) {
  if (run.empty()) return Status::Ok();
  std::string ids;
  ids.reserve(run.size() * 37);
  core::Hlc newest;
  for (const PendingHandover& p : run) {
    if (!ids.empty()) ids.push_back('\n');
    ids += p.handover->id;
    newest = std::max(newest, p.handover->hlc);
  }
  // Every handover of a batch is of the pushing device's post (CheckOwnership).
  const core::LoggedForm entry{kHandoversEntity, N(static_cast<int64_t>(run.size())),
                               std::move(ids)};
  ASSIGN_OR_RETURN(int64_t seq,
                   AppendFeed(run.front().handover->post_id, entry, newest, origin_device));
  for (const PendingHandover& p : run) {
    const core::Handover& h = *p.handover;
    const Status inserted = InsertHandover(h, p.clock_ahead, seq);
    if (!inserted.ok()) {
      return Status(inserted.code(), "handover " + h.id + ": " + inserted.message());
    }
    if (first_kits &&
        !served_filter_.MayHold(p.situation->doc_hash, h.round_id, h.kit_type_id)) {
      Gathered& g = (*first_kits)[p.situation];
      g.served.push_back({h.id, h.beneficiary_id, h.post_id, h.device_id, h.hlc, h.wall_ms,
                          h.quantity, /*voided=*/false, p.clock_ahead, h.override_reason});
      g.seqs.push_back({seq, 0});
    }
  }
  run.clear();
  return Status::Ok();
}

Status SqliteServerStore::InsertHandover(const core::Handover& h, bool clock_ahead,
                                         int64_t server_seq) {
  ASSIGN_OR_RETURN(
      Statement * stmt,
      db_->Cached("INSERT INTO handovers (id, round_id, beneficiary_id, kit_type_id, quantity, "
                  "post_id, officer_id, device_id, hlc, wall_ms, proof_kind, proof_ref, "
                  "collected_by, proxy_relation, consent, override_reason, "
                  "overridden_warnings, clock_ahead, server_seq) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return core::BindHandoverFields(*stmt, h)
      .BindView(17, WarningsJson(h.overridden_warnings))
      .Bind(18, int64_t{clock_ahead})
      .Bind(19, server_seq)
      .Run();
}

Result<int64_t> SqliteServerStore::AppendFeed(const std::string& channel,
                                              const core::LoggedForm& form, core::Hlc hlc,
                                              const std::string& origin_device) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("INSERT INTO feed (channel, entity, entity_id, hlc, origin_device, "
                               "payload) VALUES (?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt->BindView(1, channel)
                      .BindView(2, form.entity)
                      .BindView(3, form.entity_id)
                      .Bind(4, static_cast<int64_t>(hlc.Pack()))
                      .BindView(5, origin_device)
                      .BindBlobView(6, form.payload)
                      .Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

Status SqliteServerStore::InsertMovement(const core::StockMovement& m, bool clock_ahead,
                                         int64_t server_seq) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("INSERT INTO stock_movements (id, post_id, kit_type_id, kind, "
                               "quantity, counterpart_post_id, reference, reason, officer_id, "
                               "device_id, hlc, wall_ms, clock_ahead, server_seq) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return stmt->BindView(1, m.id)
      .BindView(2, m.post_id)
      .BindView(3, m.kit_type_id)
      .BindView(4, core::ToString(m.kind))
      .Bind(5, m.quantity)
      .BindView(6, m.counterpart_post_id)
      .BindView(7, m.reference)
      .BindView(8, m.reason)
      .BindView(9, m.officer_id)
      .BindView(10, m.device_id)
      .Bind(11, static_cast<int64_t>(m.hlc.Pack()))
      .Bind(12, m.wall_ms)
      .Bind(13, int64_t{clock_ahead})
      .Bind(14, server_seq)
      .Run();
}

Result<bool> SqliteServerStore::ApplyFact(const core::RemoteChange& change,
                                          const core::LoggedForm& form, bool clock_ahead,
                                          const Principal& device, Situations& touched,
                                          HeldRefs& refs, const BatchLookups& lookups,
                                          HandoverRun* run) {
  const int64_t ahead = clock_ahead ? 1 : 0;
  auto held = [&](const char* sql, const std::string& k1, const std::string& k2,
                  const char* what) -> Result<bool> {
    ASSIGN_OR_RETURN(auto payload, QueryText(sql, k1, k2));
    if (!payload) return false;
    if (*payload != form.payload) return Conflict(what, form.entity_id);
    return true;
  };

  if (auto* b = std::get_if<core::Beneficiary>(&change.record)) {
    ASSIGN_OR_RETURN(bool same, held("SELECT f.payload FROM beneficiaries b JOIN feed f "
                                     "ON f.server_seq = b.server_seq WHERE b.id = ?",
                                     b->id, {}, "beneficiary"));
    if (same) return false;
    ASSIGN_OR_RETURN(int64_t seq, AppendFeed(b->post_id, form, change.hlc, device.device_id));
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO beneficiaries (id, doc_hash, full_name, phone, "
                                 "household_size, post_id, device_id, hlc, clock_ahead, "
                                 "server_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(stmt->BindView(1, b->id)
                        .BindView(2, b->doc_hash)
                        .BindView(3, b->full_name)
                        .BindView(4, b->phone)
                        .Bind(5, b->household_size)
                        .BindView(6, b->post_id)
                        .BindView(7, b->device_id)
                        .Bind(8, static_cast<int64_t>(b->hlc.Pack()))
                        .Bind(9, ahead)
                        .Bind(10, seq)
                        .Run());
    touched.insert(DuplicateSituation{b->doc_hash});
    return true;
  }

  if (auto* h = std::get_if<core::Handover>(&change.record)) {
    if (lookups.held_known) {
      auto it = lookups.held.find(h->id);
      if (it != lookups.held.end()) {
        if (it->second != form.payload) return Conflict("handover", form.entity_id);
        return false;
      }
    } else {
      ASSIGN_OR_RETURN(std::optional<core::Handover> stored, HeldHandover(h->id));
      if (stored) {
        ASSIGN_OR_RETURN(core::LoggedForm held_form, core::ToLoggedForm(std::move(*stored)));
        if (held_form.payload != form.payload) return Conflict("handover", form.entity_id);
        return false;
      }
    }
    RETURN_IF_ERROR(RequireRef("SELECT 1 FROM rounds WHERE id = ?", h->round_id, "round", refs));
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM kit_types WHERE id = ?", h->kit_type_id, "kit type", refs));
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM officers WHERE id = ?", h->officer_id, "officer", refs));
    // The family's document hash names the entitlement situation the handover touches; reading
    // it here also checks that the beneficiary is held.
    std::optional<std::string> doc_hash;
    if (auto it = lookups.doc_hashes.find(h->beneficiary_id); it != lookups.doc_hashes.end()) {
      doc_hash = it->second;
    } else {
      ASSIGN_OR_RETURN(doc_hash, QueryText(kDocHashSql, h->beneficiary_id));
    }
    if (!doc_hash) {
      return Status::InvalidArgument("beneficiary " + h->beneficiary_id +
                                     " is not known to the server");
    }
    if (!run) {
      // The entry refers to the row written next: the record is rebuilt from it.
      const core::LoggedForm reference{form.entity, form.entity_id, {}};
      ASSIGN_OR_RETURN(int64_t seq,
                       AppendFeed(h->post_id, reference, change.hlc, device.device_id));
      RETURN_IF_ERROR(InsertHandover(*h, clock_ahead, seq));
    }
    // What TouchHandover would read back from the row once written. The stock situation is
    // the caller's to add, once per post and kit type the batch handed out.
    auto [situation, added] =
        touched.insert(EntitlementSituation{std::move(*doc_hash), h->round_id, h->kit_type_id});
    if (run) run->push_back({h, clock_ahead, &std::get<EntitlementSituation>(*situation)});
    return true;
  }

  if (auto* v = std::get_if<core::HandoverVoid>(&change.record)) {
    ASSIGN_OR_RETURN(bool same, held("SELECT f.payload FROM handover_voids v JOIN feed f "
                                     "ON f.server_seq = v.server_seq "
                                     "WHERE v.handover_id = ? AND v.device_id = ?",
                                     v->handover_id, v->device_id, "void of handover"));
    if (same) return false;
    ASSIGN_OR_RETURN(auto handover_post,
                     QueryText("SELECT post_id FROM handovers WHERE id = ?", v->handover_id));
    if (!handover_post || *handover_post != device.post_id) {
      return Status::FailedPrecondition("the void names handover " + v->handover_id +
                                        ", which the server does not hold at post " +
                                        device.post_code);
    }
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM officers WHERE id = ?", v->officer_id, "officer", refs));
    ASSIGN_OR_RETURN(int64_t seq, AppendFeed(device.post_id, form, change.hlc, device.device_id));
    ASSIGN_OR_RETURN(Statement * stmt,
                     db_->Cached("INSERT INTO handover_voids (handover_id, device_id, post_id, "
                                 "reason, officer_id, hlc, wall_ms, clock_ahead, server_seq) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    RETURN_IF_ERROR(stmt->BindView(1, v->handover_id)
                        .BindView(2, v->device_id)
                        .BindView(3, device.post_id)
                        .BindView(4, v->reason)
                        .BindView(5, v->officer_id)
                        .Bind(6, static_cast<int64_t>(v->hlc.Pack()))
                        .Bind(7, v->wall_ms)
                        .Bind(8, ahead)
                        .Bind(9, seq)
                        .Run());
    RETURN_IF_ERROR(TouchHandover(v->handover_id, touched));
    return true;
  }

  if (auto* m = std::get_if<core::StockMovement>(&change.record)) {
    ASSIGN_OR_RETURN(bool same, held("SELECT f.payload FROM stock_movements m JOIN feed f "
                                     "ON f.server_seq = m.server_seq WHERE m.id = ?",
                                     m->id, {}, "stock movement"));
    if (same) return false;
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM kit_types WHERE id = ?", m->kit_type_id, "kit type", refs));
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM officers WHERE id = ?", m->officer_id, "officer", refs));
    if (!m->counterpart_post_id.empty()) {
      RETURN_IF_ERROR(RequireRef("SELECT 1 FROM posts WHERE id = ?", m->counterpart_post_id,
                                 "other post of the transfer", refs));
    }
    ASSIGN_OR_RETURN(int64_t seq, AppendFeed(m->post_id, form, change.hlc, device.device_id));
    RETURN_IF_ERROR(InsertMovement(*m, clock_ahead, seq));
    touched.insert(StockSituation{m->post_id, m->kit_type_id});
    return true;
  }
  if (auto* u = std::get_if<core::BeneficiaryUpdate>(&change.record)) {
    ASSIGN_OR_RETURN(bool same, held("SELECT f.payload FROM beneficiary_updates u JOIN feed f "
                                     "ON f.server_seq = u.server_seq WHERE u.id = ?",
                                     u->id, {}, "correction"));
    if (same) return false;
    ASSIGN_OR_RETURN(auto registered_at, QueryText("SELECT post_id FROM beneficiaries WHERE id = ?",
                                                   u->beneficiary_id));
    if (!registered_at) {
      return Status::FailedPrecondition("the correction names beneficiary " + u->beneficiary_id +
                                        ", which the server does not hold");
    }
    if (*registered_at != u->post_id) {
      return Status::PermissionDenied("beneficiary " + u->beneficiary_id +
                                      " belongs to another post; this device corrects only "
                                      "records of post " +
                                      device.post_code);
    }
    RETURN_IF_ERROR(
        RequireRef("SELECT 1 FROM officers WHERE id = ?", u->officer_id, "officer", refs));
    RETURN_IF_ERROR(InsertCorrection(*u, form, clock_ahead, device.device_id));
    touched.insert(CorrectionSituation{u->beneficiary_id});
    // A correction of a beneficiary the office merged away may have missed the merge.
    ASSIGN_OR_RETURN(bool retired, Exists("SELECT 1 FROM beneficiary_merges WHERE retired_id = ?",
                                          u->beneficiary_id));
    if (retired) touched.insert(MergedSituation{u->beneficiary_id});
    return true;
  }
  return Status::PermissionDenied("a device may not push master data");
}

}  // namespace kitsync::sync

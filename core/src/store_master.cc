// Master data from the centre (kit types, posts, officers, rounds), and the lookups that turn
// the codes officers type into the IDs records reference.
#include <algorithm>
#include <set>

#include "kitsync/core/store.h"
#include "kitsync/core/validation.h"
#include "store_impl.h"

namespace kitsync::core {
namespace {

// A UNIQUE violation on a code means the centre sent two records claiming one code.
Status Explain(Status s, const std::string& what, const std::string& code) {
  if (s.code() == Code::kAlreadyExists) {
    return Status::AlreadyExists(what + " code " + code + " already belongs to another " + what);
  }
  if (s.code() == Code::kInternal && s.message().find("FOREIGN KEY") != std::string::npos) {
    return Status::InvalidArgument(what + " " + code + " refers to a record that does not exist");
  }
  return s;
}

}  // namespace

Status Store::ImportMasterData(const MasterData& data) {
  RETURN_IF_ERROR(ValidateMasterData(data));
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(impl_->db()));
  RETURN_IF_ERROR(impl_->UpsertMasterData(data));
  return tx->Commit();
}

Status Store::Impl::UpsertMasterData(const MasterData& data) {
  sqlite::Db& db = *db_;
  for (const KitType& k : data.kit_types) {
    ASSIGN_OR_RETURN(auto* stmt, db.Cached("INSERT INTO kit_types (id, code, name, unit) "
                                           "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                                           "code = excluded.code, name = excluded.name, "
                                           "unit = excluded.unit"));
    RETURN_IF_ERROR(Explain(stmt->Bind(1, k.id).Bind(2, k.code).Bind(3, k.name).Bind(4, k.unit)
                                .Run(), "kit type", k.code));
  }
  for (const Post& p : data.posts) {
    ASSIGN_OR_RETURN(auto* stmt, db.Cached("INSERT INTO posts (id, code, name) VALUES (?, ?, ?) "
                                           "ON CONFLICT (id) DO UPDATE SET code = excluded.code, "
                                           "name = excluded.name"));
    RETURN_IF_ERROR(
        Explain(stmt->Bind(1, p.id).Bind(2, p.code).Bind(3, p.name).Run(), "post", p.code));
  }
  for (const core::Officer& o : data.officers) {
    ASSIGN_OR_RETURN(auto* stmt,
                     db.Cached("INSERT INTO officers (id, code, name, post_id, role) "
                               "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                               "code = excluded.code, name = excluded.name, "
                               "post_id = excluded.post_id, role = excluded.role"));
    RETURN_IF_ERROR(Explain(stmt->Bind(1, o.id)
                                .Bind(2, o.code)
                                .Bind(3, o.name)
                                .Bind(4, o.post_id)
                                .Bind(5, ToString(o.role))
                                .Run(),
                            "officer", o.code));
  }
  for (const core::Round& r : data.rounds) {
    ASSIGN_OR_RETURN(auto* stmt,
                     db.Cached("INSERT INTO rounds (id, code, name, requires_proof) "
                               "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                               "code = excluded.code, name = excluded.name, "
                               "requires_proof = excluded.requires_proof"));
    RETURN_IF_ERROR(Explain(stmt->Bind(1, r.id)
                                .Bind(2, r.code)
                                .Bind(3, r.name)
                                .Bind(4, int64_t{r.requires_proof})
                                .Run(),
                            "round", r.code));
    // A round's entitlements are replaced whole: the centre's list is the truth.
    ASSIGN_OR_RETURN(auto* clear, db.Cached("DELETE FROM round_entitlements WHERE round_id = ?"));
    RETURN_IF_ERROR(clear->Bind(1, r.id).Run());
    for (const Entitlement& e : r.entitlements) {
      ASSIGN_OR_RETURN(auto* add, db.Cached("INSERT INTO round_entitlements (round_id, "
                                            "kit_type_id, max_per_beneficiary) VALUES (?, ?, ?)"));
      RETURN_IF_ERROR(
          Explain(add->Bind(1, r.id).Bind(2, e.kit_type_id).Bind(3, e.max_per_beneficiary).Run(),
                  "round", r.code));
    }
  }
  return Status::Ok();
}

Result<MasterData> Store::LoadMasterData() {
  sqlite::Db& db = impl_->db();
  MasterData out;
  ASSIGN_OR_RETURN(auto kits, db.Prepare("SELECT id, code, name, unit FROM kit_types ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, kits->Step());
    if (!row) break;
    out.kit_types.push_back({kits->Text(0), kits->Text(1), kits->Text(2), kits->Text(3)});
  }
  ASSIGN_OR_RETURN(auto posts, db.Prepare("SELECT id, code, name FROM posts ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, posts->Step());
    if (!row) break;
    out.posts.push_back({posts->Text(0), posts->Text(1), posts->Text(2)});
  }
  ASSIGN_OR_RETURN(auto officers,
                   db.Prepare("SELECT id, code, name, post_id, role FROM officers ORDER BY code"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, officers->Step());
    if (!row) break;
    out.officers.push_back({officers->Text(0), officers->Text(1), officers->Text(2),
                            officers->Text(3),
                            ParseOfficerRole(officers->Text(4)).value_or(OfficerRole::kOfficer)});
  }
  ASSIGN_OR_RETURN(auto rounds,
                   db.Prepare("SELECT id, code, name, requires_proof FROM rounds ORDER BY code"));
  ASSIGN_OR_RETURN(auto ents, db.Prepare("SELECT kit_type_id, max_per_beneficiary FROM "
                                         "round_entitlements WHERE round_id = ? "
                                         "ORDER BY kit_type_id"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, rounds->Step());
    if (!row) break;
    Round r{rounds->Text(0), rounds->Text(1), rounds->Text(2), rounds->Int(3) != 0, {}};
    ents->Reset();
    ents->Bind(1, r.id);
    while (true) {
      ASSIGN_OR_RETURN(bool erow, ents->Step());
      if (!erow) break;
      r.entitlements.push_back({ents->Text(0), ents->Int(1)});
    }
    out.rounds.push_back(std::move(r));
  }
  return out;
}

namespace {

// "Unknown kit type 'HYG-KTI'. Known kit types: HYG-KIT, PPE-SET."
Status UnknownCode(sqlite::Db& db, const char* list_sql, const std::string& what,
                   const std::string& code) {
  std::string known;
  if (auto stmt = db.Prepare(list_sql); stmt.ok()) {
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok() || !*row) break;
      known += known.empty() ? "" : ", ";
      known += (*stmt)->Text(0);
    }
  }
  std::string message = "unknown " + what + " '" + code + "'";
  message += known.empty() ? " (no " + what + "s are known on this tablet; import master data)"
                           : ". Known " + what + "s: " + known;
  return Status::InvalidArgument(message);
}

}  // namespace

Result<std::string> Store::Impl::KitTypeId(const std::string& code) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT id FROM kit_types WHERE code = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, code).Step());
  if (!row) return UnknownCode(*db_, "SELECT code FROM kit_types ORDER BY code", "kit type", code);
  std::string id = stmt->Text(0);
  stmt->Reset();
  return id;
}

Result<std::string> Store::Impl::PostId(const std::string& code) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT id FROM posts WHERE code = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, code).Step());
  if (!row) return UnknownCode(*db_, "SELECT code FROM posts ORDER BY code", "post", code);
  std::string id = stmt->Text(0);
  stmt->Reset();
  return id;
}

Result<std::string> Store::Impl::OwnPostId() {
  auto id = PostId(identity_.post_code);
  if (!id.ok()) {
    return Status::FailedPrecondition("this tablet's post " + identity_.post_code +
                                      " is not in its master data; import master data first");
  }
  return id;
}

Result<RoundInfo> Store::Impl::Round(const std::string& code) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT id, requires_proof FROM rounds WHERE code = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, code).Step());
  if (!row) return UnknownCode(*db_, "SELECT code FROM rounds ORDER BY code", "round", code);
  RoundInfo info{stmt->Text(0), code, stmt->Int(1) != 0, {}};
  stmt->Reset();
  ASSIGN_OR_RETURN(auto* ents, db_->Cached("SELECT kit_type_id, max_per_beneficiary FROM "
                                           "round_entitlements WHERE round_id = ?"));
  ents->Bind(1, info.id);
  while (true) {
    ASSIGN_OR_RETURN(bool erow, ents->Step());
    if (!erow) break;
    info.max_per_kit_type[ents->Text(0)] = ents->Int(1);
  }
  ents->Reset();
  return info;
}

Result<OfficerInfo> Store::Impl::Officer(const std::string& code) {
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT id, post_id FROM officers WHERE code = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, code).Step());
  if (!row) return UnknownCode(*db_, "SELECT code FROM officers ORDER BY code", "officer", code);
  OfficerInfo info{stmt->Text(0), stmt->Text(1)};
  stmt->Reset();
  return info;
}

Result<std::string> Store::Impl::CodeOf(const char* table, const std::string& id) {
  // `table` is one of the compiled-in master tables, never user input.
  ASSIGN_OR_RETURN(auto stmt,
                   db_->Prepare(std::string("SELECT code FROM ") + table + " WHERE id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, id).Step());
  if (!row) return std::string("?");
  return stmt->Text(0);
}

}  // namespace kitsync::core

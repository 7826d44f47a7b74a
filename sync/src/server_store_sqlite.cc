// The SQLite server store: creating and opening the data directory, credentials, enrolment and
// devices.
#include "server_store_sqlite.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "kitsync/core/durable_file.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/server_auth.h"
#include "server_schema.h"

namespace kitsync::sync {
namespace {

namespace fs = std::filesystem;
using core::Result;
using core::Status;
using core::sqlite::Db;
using core::sqlite::Statement;
using core::sqlite::Transaction;

constexpr char kDatabaseFile[] = "server.db";
constexpr char kAdminTokenFile[] = "admin.token";
// Last-seen is for people ("this tablet synced an hour ago"); a minute's precision spares a
// durable write on every call.
constexpr int64_t kLastSeenPrecisionMs = 60'000;

std::string AdminTokenPath(const std::string& dir) {
  return (fs::path(dir) / kAdminTokenFile).string();
}

// O_EXCL: never overwrite a credential someone may already hold.
Status WriteSecretFile(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    const std::string why = "cannot create " + path + ": " + std::strerror(err);
    return err == EEXIST ? Status::AlreadyExists(why) : Status::Internal(why);
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Status::Internal("cannot write " + path + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Status::Internal("cannot sync " + path);
  return Status::Ok();
}

// `version_before`, when given, receives the schema version the file had before migrating.
Result<std::unique_ptr<Db>> OpenDatabase(const std::string& path, bool create,
                                         int busy_timeout_ms, int64_t* version_before = nullptr) {
  ASSIGN_OR_RETURN(auto db, Db::Open(path, create));
  RETURN_IF_ERROR(ConfigureServerConnection(*db, busy_timeout_ms));
  ASSIGN_OR_RETURN(int64_t version, db->QueryInt("PRAGMA user_version"));
  if (version_before != nullptr) *version_before = version;
  RETURN_IF_ERROR(MigrateServerSchema(*db));
  return db;
}

Status CreateDatabase(const std::string& path, const std::string& admin_token, int64_t now_ms) {
  ASSIGN_OR_RETURN(auto db, OpenDatabase(path, /*create=*/true, 5000));
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db));
  ASSIGN_OR_RETURN(int64_t existing, db->QueryInt("SELECT count(*) FROM meta"));
  if (existing > 0) return Status::AlreadyExists(path + " already holds a server database");
  ASSIGN_OR_RETURN(std::string programme_key, RandomBytes(32));
  RETURN_IF_ERROR(WriteServerMeta(*db, "admin_token_sha256", Sha256(admin_token)));
  RETURN_IF_ERROR(WriteServerMeta(*db, "programme_key", programme_key));
  RETURN_IF_ERROR(WriteServerMeta(*db, "server_device_id", core::NewUuidV7()));
  RETURN_IF_ERROR(WriteServerMeta(*db, "created_ms", std::to_string(now_ms)));
  RETURN_IF_ERROR(WriteServerMeta(*db, "server_hlc", "0"));
  RETURN_IF_ERROR(AppendFeedEpoch(*db, 0, now_ms).status());
  return tx->Commit();
}

Result<std::string> RequiredMeta(Db& db, const char* key) {
  ASSIGN_OR_RETURN(auto value, ReadServerMeta(db, key));
  if (!value) return Status::DataLoss(std::string("server database has no '") + key + "' setting");
  return *value;
}

Status Unauthenticated(const std::string& why) { return Status::Unauthenticated(why); }

}  // namespace

Result<std::optional<std::string>> ReadServerMeta(Db& db, const char* key) {
  ASSIGN_OR_RETURN(Statement * stmt, db.Cached("SELECT value FROM meta WHERE key = ?"));
  stmt->Bind(1, std::string_view(key));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  std::optional<std::string> out;
  if (row) out = stmt->Text(0);
  stmt->Reset();
  return out;
}

Status WriteServerMeta(Db& db, const char* key, std::string_view value) {
  ASSIGN_OR_RETURN(Statement * stmt,
                   db.Cached("INSERT INTO meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  return stmt->Bind(1, std::string_view(key)).BindBlob(2, value).Run();
}

std::string ServerDatabasePath(const std::string& dir) {
  return (fs::path(dir) / kDatabaseFile).string();
}

Result<InitResult> InitSqliteServerStore(const std::string& dir, int64_t now_ms) {
  if (dir.empty()) return Status::InvalidArgument("a data directory is required");
  std::error_code ec;
  const std::string db_path = ServerDatabasePath(dir);
  const std::string token_path = AdminTokenPath(dir);
  for (const std::string& p : {db_path, token_path}) {
    if (fs::exists(p, ec)) {
      return Status::AlreadyExists(p +
                                   " already exists; refusing to initialise over an "
                                   "existing server");
    }
  }
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Status::Internal("cannot create " + dir + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  ASSIGN_OR_RETURN(std::string token, NewAdminToken());
  // The token file first: a database whose admin credential nobody holds would be useless.
  RETURN_IF_ERROR(WriteSecretFile(token_path, token + "\n"));
  // The database holds the programme key: it is created readable by this user alone before
  // SQLite opens it (an empty file is an empty database; its WAL files inherit the mode).
  Status created = WriteSecretFile(db_path, "");
  if (!created.ok()) {
    fs::remove(token_path, ec);
    return created;
  }
  created = CreateDatabase(db_path, token, now_ms);
  if (!created.ok()) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_path + suffix, ec);
    fs::remove(token_path, ec);
    return created;
  }
  return InitResult{token, token_path};
}

Result<InitResult> ReplaceAdminToken(const std::string& dir, int64_t now_ms) {
  std::error_code ec;
  if (!fs::exists(ServerDatabasePath(dir), ec)) {
    return Status::NotFound("no kitsync server database in " + dir);
  }
  SqliteServerStoreOptions options;
  options.background_checkpoints = false;
  ASSIGN_OR_RETURN(auto store, SqliteServerStore::Open(dir, options));
  ASSIGN_OR_RETURN(std::string token, NewAdminToken());
  RETURN_IF_ERROR(store->SetAdminTokenDigest(Sha256(token), now_ms));
  const std::string token_path = AdminTokenPath(dir);
  // After the commit: the token is returned, and so shown, even if the file cannot be written.
  Status kept = core::ReplaceFileDurably(token_path, token + "\n");
  if (!kept.ok()) {
    return Status::Internal("the new admin credential is " + token + " (now in force), but " +
                            kept.message());
  }
  return InitResult{token, token_path};
}

Status SqliteServerStore::SetAdminTokenDigest(const std::string& token_sha256, int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  RETURN_IF_ERROR(WriteServerMeta(*db_, "admin_token_sha256", token_sha256));
  RETURN_IF_ERROR(AppendAudit(now_ms, "operator", "new-admin-token", "-",
                              "the admin credential was replaced from the data directory"));
  return tx->Commit();
}

Result<std::unique_ptr<ServerStore>> OpenSqliteServerStore(const std::string& dir,
                                                           SqliteServerStoreOptions options) {
  ASSIGN_OR_RETURN(auto store, SqliteServerStore::Open(dir, options));
  return std::unique_ptr<ServerStore>(std::move(store));
}

Result<std::unique_ptr<SqliteServerStore>> SqliteServerStore::Open(
    const std::string& dir, const SqliteServerStoreOptions& options) {
  const std::string path = ServerDatabasePath(dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::NotFound("no server database in " + dir + " (run 'kitsync-server init --data " +
                            dir + "' first)");
  }
  return OpenFile(path, options);
}

Result<std::unique_ptr<SqliteServerStore>> SqliteServerStore::OpenFile(
    const std::string& path, const SqliteServerStoreOptions& options) {
  int64_t version_before = 0;
  ASSIGN_OR_RETURN(auto db, OpenDatabase(path, /*create=*/false, options.busy_timeout_ms,
                                         &version_before));
  std::unique_ptr<SqliteServerStore> store(new SqliteServerStore(std::move(db)));
  RETURN_IF_ERROR(RequiredMeta(*store->db_, "admin_token_sha256").status());
  ASSIGN_OR_RETURN(store->programme_key_, RequiredMeta(*store->db_, "programme_key"));
  ASSIGN_OR_RETURN(store->server_device_id_, RequiredMeta(*store->db_, "server_device_id"));
  ASSIGN_OR_RETURN(std::string hlc_text, RequiredMeta(*store->db_, "server_hlc"));
  uint64_t packed = 0;
  std::from_chars(hlc_text.data(), hlc_text.data() + hlc_text.size(), packed);
  store->hlc_ = core::Hlc::Unpack(packed);
  ASSIGN_OR_RETURN(store->feed_epochs_, ReadFeedEpochs(*store->db_));
  if (version_before > 0 && version_before < kServerSchemaVersion) {
    // Upgraded: the facts already here have not been seen by the rules the new steps came with.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    // Step 4 brought served summaries: a database from before it holds facts no tablet has had
    // a summary of.
    RETURN_IF_ERROR(store->RefreshAllSituations(now_ms, /*summaries_sent=*/version_before >= 4));
  }
  if (options.background_checkpoints) {
    CheckpointerOptions checkpoints;
    checkpoints.soft_pages = options.checkpoint_soft_pages;
    checkpoints.hard_pages = options.checkpoint_hard_pages;
    checkpoints.period = std::chrono::milliseconds(options.checkpoint_period_ms);
    checkpoints.busy_timeout_ms = options.busy_timeout_ms;
    ASSIGN_OR_RETURN(store->checkpointer_,
                     ServerCheckpointer::Start(*store->db_, path, checkpoints));
  }
  return store;
}

Result<Principal> SqliteServerStore::Authenticate(const std::string& token, int64_t now_ms) {
  if (token.empty()) {
    return Unauthenticated("no credential; send 'authorization: Bearer <token>'");
  }
  const std::string digest = Sha256(token);
  std::lock_guard lock(mu_);
  // Read on every call rather than once at start, so that a credential replaced by
  // `kitsync-server new-admin-token` stops working on a running server too.
  ASSIGN_OR_RETURN(std::string admin_digest, RequiredMeta(*db_, "admin_token_sha256"));
  if (DigestsEqual(digest, admin_digest)) {
    Principal admin;
    admin.kind = Principal::Kind::kAdmin;
    return admin;
  }
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT d.id, d.post_id, p.code, d.revoked_ms, d.revoke_reason, "
                               "d.last_seen_ms FROM devices d JOIN posts p ON p.id = d.post_id "
                               "WHERE d.token_sha256 = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->BindBlob(1, digest).Step());
  if (!row) return Unauthenticated("unknown credential");
  Principal p{Principal::Kind::kDevice, stmt->Text(0), stmt->Text(1), stmt->Text(2)};
  const bool revoked = !stmt->IsNull(3);
  const std::string reason = stmt->Text(4);
  const int64_t last_seen = stmt->Int(5);
  stmt->Reset();
  if (revoked) return Unauthenticated("device " + p.device_id + " was revoked: " + reason);
  if (now_ms - last_seen >= kLastSeenPrecisionMs) {
    ASSIGN_OR_RETURN(Statement * seen,
                     db_->Cached("UPDATE devices SET last_seen_ms = ? WHERE id = ?"));
    // Bookkeeping only: a busy database must not turn a valid credential away.
    (void)seen->Bind(1, now_ms).Bind(2, p.device_id).Run();
  }
  return p;
}

Result<EnrolmentCode> SqliteServerStore::CreateEnrolmentCode(const std::string& post_code,
                                                             int64_t valid_minutes,
                                                             int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(std::string post_id, IdByCode("posts", "post", post_code));
  ASSIGN_OR_RETURN(std::string code, NewEnrolmentCode());
  const int64_t expires = now_ms + valid_minutes * 60'000;
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("INSERT INTO enrolment_codes (code_sha256, post_id, created_ms, "
                               "expires_ms) VALUES (?, ?, ?, ?)"));
  RETURN_IF_ERROR(stmt->BindBlob(1, Sha256(NormalizeEnrolmentCode(code)))
                      .Bind(2, post_id)
                      .Bind(3, now_ms)
                      .Bind(4, expires)
                      .Run());
  RETURN_IF_ERROR(AppendAudit(now_ms, "admin", "create-enrolment-code", post_code,
                              "valid_minutes=" + std::to_string(valid_minutes)));
  RETURN_IF_ERROR(tx->Commit());
  return EnrolmentCode{code, expires};
}

Result<Enrolment> SqliteServerStore::Enroll(const std::string& code, const std::string& device_name,
                                            const std::string& offered_token, int64_t now_ms) {
  const std::string digest = Sha256(NormalizeEnrolmentCode(code));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(Statement * find,
                   db_->Cached("SELECT c.post_id, p.code, c.expires_ms, c.used_ms, d.id, "
                               "d.token_sha256, d.revoked_ms "
                               "FROM enrolment_codes c JOIN posts p ON p.id = c.post_id "
                               "LEFT JOIN devices d ON d.id = c.used_by "
                               "WHERE c.code_sha256 = ?"));
  ASSIGN_OR_RETURN(bool row, find->BindBlob(1, digest).Step());
  if (!row) return Unauthenticated("unknown enrolment code");
  Enrolment e;
  e.post_id = find->Text(0);
  e.post_code = find->Text(1);
  e.programme_key = programme_key_;
  const int64_t expires = find->Int(2);
  const bool used = !find->IsNull(3);
  const std::string used_by = find->Text(4);
  const std::string used_by_token = find->Text(5);
  const bool used_by_revoked = !find->IsNull(6);
  find->Reset();
  if (used) {
    // The same tablet asking again after its reply was lost: it already holds the credential,
    // so answering again hands nothing to anyone new.
    const bool same_tablet = !offered_token.empty() && !used_by.empty() &&
                             DigestsEqual(Sha256(offered_token), used_by_token);
    if (!same_tablet) {
      return Unauthenticated("this enrolment code was already used; ask for a new one");
    }
    if (used_by_revoked) {
      return Unauthenticated("the tablet enrolled with this code has been revoked");
    }
    e.device_id = used_by;
    e.device_token = offered_token;
    e.repeated = true;
    return e;
  }
  if (now_ms >= expires) return Unauthenticated("this enrolment code expired; ask for a new one");

  if (offered_token.empty()) {
    ASSIGN_OR_RETURN(e.device_token, NewDeviceToken());
  } else {
    e.device_token = offered_token;
  }
  const std::string token_digest = Sha256(e.device_token);
  ASSIGN_OR_RETURN(Statement * taken,
                   db_->Cached("SELECT 1 FROM devices WHERE token_sha256 = ?"));
  ASSIGN_OR_RETURN(bool clash, taken->BindBlob(1, token_digest).Step());
  taken->Reset();
  if (clash) {
    return Status::InvalidArgument(
        "this credential is already held by another device; the tablet must make a new one");
  }
  e.device_id = core::NewUuidV7();
  ASSIGN_OR_RETURN(Statement * add,
                   db_->Cached("INSERT INTO devices (id, name, post_id, token_sha256, "
                               "enrolled_ms) VALUES (?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(add->Bind(1, e.device_id)
                      .Bind(2, device_name)
                      .Bind(3, e.post_id)
                      .BindBlob(4, token_digest)
                      .Bind(5, now_ms)
                      .Run());
  ASSIGN_OR_RETURN(Statement * spend,
                   db_->Cached("UPDATE enrolment_codes SET used_ms = ?, used_by = ? "
                               "WHERE code_sha256 = ?"));
  RETURN_IF_ERROR(spend->Bind(1, now_ms).Bind(2, e.device_id).BindBlob(3, digest).Run());
  RETURN_IF_ERROR(tx->Commit());
  return e;
}

Result<std::vector<DeviceInfo>> SqliteServerStore::ListDevices() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT d.id, d.name, d.post_id, p.code, d.enrolled_ms, "
                               "d.last_seen_ms, d.last_push_ms, d.acked_seq, d.pending_reported, "
                               "d.revoked_ms, d.revoke_reason FROM devices d "
                               "JOIN posts p ON p.id = d.post_id ORDER BY p.code, d.enrolled_ms"));
  std::vector<DeviceInfo> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    DeviceInfo d;
    d.id = stmt->Text(0);
    d.name = stmt->Text(1);
    d.post_id = stmt->Text(2);
    d.post_code = stmt->Text(3);
    d.enrolled_ms = stmt->Int(4);
    d.last_seen_ms = stmt->Int(5);
    d.last_push_ms = stmt->Int(6);
    d.acked_seq = stmt->Int(7);
    d.pending_reported = stmt->Int(8);
    if (!stmt->IsNull(9)) d.revoked_ms = stmt->Int(9);
    d.revoke_reason = stmt->Text(10);
    out.push_back(std::move(d));
  }
  stmt->Reset();
  return out;
}

Status SqliteServerStore::RevokeDevice(const std::string& device_id, const std::string& reason,
                                       int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(bool known, Exists("SELECT 1 FROM devices WHERE id = ?", device_id));
  if (!known) return Status::NotFound("no device " + device_id);
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("UPDATE devices SET revoked_ms = ?, revoke_reason = ? "
                               "WHERE id = ? AND revoked_ms IS NULL"));
  RETURN_IF_ERROR(stmt->Bind(1, now_ms).Bind(2, reason).Bind(3, device_id).Run());
  RETURN_IF_ERROR(AppendAudit(now_ms, "admin", "revoke-device", device_id, "reason=" + reason));
  return tx->Commit();
}

Result<bool> SqliteServerStore::Exists(const char* sql, const std::string& id) {
  ASSIGN_OR_RETURN(Statement * stmt, db_->Cached(sql));
  ASSIGN_OR_RETURN(bool row, stmt->BindView(1, id).Step());
  stmt->Reset();
  return row;
}

Status SqliteServerStore::RequireRef(const char* sql, const std::string& id,
                                     const std::string& what) {
  ASSIGN_OR_RETURN(bool held, Exists(sql, id));
  if (!held) return Status::InvalidArgument(what + " " + id + " is not known to the server");
  return Status::Ok();
}

Status SqliteServerStore::RequireRef(const char* sql, const std::string& id,
                                     const std::string& what, HeldRefs& held) {
  std::set<std::string, std::less<>>& ids = held[sql];
  if (ids.contains(id)) return Status::Ok();
  RETURN_IF_ERROR(RequireRef(sql, id, what));
  ids.insert(id);
  return Status::Ok();
}

Result<std::string> SqliteServerStore::IdByCode(const char* table, const char* noun,
                                                const std::string& code) {
  const std::string select = std::string("SELECT id FROM ") + table + " WHERE code = ?";
  ASSIGN_OR_RETURN(auto stmt, db_->Prepare(select));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, code).Step());
  if (row) return stmt->Text(0);
  ASSIGN_OR_RETURN(
      auto all, db_->Prepare(std::string("SELECT code FROM ") + table + " ORDER BY code LIMIT 50"));
  std::string known;
  while (true) {
    ASSIGN_OR_RETURN(bool more, all->Step());
    if (!more) break;
    known += (known.empty() ? "" : ", ") + all->Text(0);
  }
  return Status::NotFound(std::string("unknown ") + noun + " '" + code + "'. Known " + noun +
                          "s: " + (known.empty() ? "none" : known));
}

core::Hlc SqliteServerStore::NextHlc(int64_t now_ms) {
  if (now_ms > hlc_.physical_ms) {
    hlc_ = {now_ms, 0};
  } else if (hlc_.logical < core::Hlc::kMaxLogical) {
    ++hlc_.logical;
  } else {
    hlc_ = {hlc_.physical_ms + 1, 0};
  }
  return hlc_;
}

void SqliteServerStore::ObserveHlc(core::Hlc hlc) {
  if (hlc > hlc_) hlc_ = hlc;
}

Status SqliteServerStore::SaveHlc() {
  return WriteServerMeta(*db_, "server_hlc", std::to_string(hlc_.Pack()));
}

}  // namespace kitsync::sync

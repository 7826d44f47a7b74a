#include "kitsync/core/sqlite.h"

#include <mutex>

namespace kitsync::core::sqlite {

Status StatusFromSqlite(int rc, std::string_view context, sqlite3* db) {
  std::string message(context);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(message + " (the database is busy; try again)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::DataLoss(message);
    case SQLITE_FULL:
      return {Code::kResourceExhausted, message};
    case SQLITE_CANTOPEN:
      return Status::NotFound(message);
    case SQLITE_CONSTRAINT:
      return Status::AlreadyExists(message);
    default:
      return Status::Internal(message);
  }
}

Statement& Statement::Checked(int rc) {
  clean_ = false;
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = StatusFromSqlite(rc, "bind", db_);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  return Checked(sqlite3_bind_int64(stmt_.get(), index, value));
}

Statement& Statement::Bind(int index, std::string_view text) {
  return Checked(sqlite3_bind_text(stmt_.get(), index, text.data(),
                                   static_cast<int>(text.size()), SQLITE_TRANSIENT));
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  return Checked(sqlite3_bind_blob(stmt_.get(), index, bytes.data(),
                                   static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
}

Statement& Statement::BindView(int index, std::string_view text) {
  return Checked(sqlite3_bind_text(stmt_.get(), index, text.data(),
                                   static_cast<int>(text.size()), SQLITE_STATIC));
}

Statement& Statement::BindBlobView(int index, std::string_view bytes) {
  return Checked(sqlite3_bind_blob(stmt_.get(), index, bytes.data(),
                                   static_cast<int>(bytes.size()), SQLITE_STATIC));
}

Statement& Statement::BindNull(int index) {
  return Checked(sqlite3_bind_null(stmt_.get(), index));
}

Statement& Statement::BindOptional(int index, const std::optional<int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  clean_ = false;
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFromSqlite(rc, sqlite3_sql(stmt_.get()), db_);
}

Status Statement::Run() {
  Result<bool> row = Step();
  Reset();
  return row.status();
}

void Statement::Reset() {
  // A statement is fetched from the cache, bound, run and reset for every row a bulk import
  // writes; resetting it again when nothing was bound or stepped since would undo nothing.
  if (clean_) return;
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = Status::Ok();
  clean_ = true;
}

std::string Statement::Text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_.get(), column));
  int n = sqlite3_column_bytes(stmt_.get(), column);
  return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}

std::string_view Statement::TextView(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_.get(), column));
  int n = sqlite3_column_bytes(stmt_.get(), column);
  return p ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}

namespace {

// SQLite counts every allocation it makes under a global mutex, for sqlite3_memory_used() and a
// soft heap limit, neither of which kitsync uses; each statement step allocates, so a bulk
// import pays for the count on every row. It can be turned off only before SQLite initialises,
// which the first connection does: a process whose SQLite was started elsewhere keeps counting.
void StopCountingAllocations() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Result<std::unique_ptr<Db>> Db::OpenWithFlags(const std::string& path, int flags) {
  StopCountingAllocations();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  std::unique_ptr<Db> db(new Db(raw));  // owns the handle even when opening failed
  if (rc != SQLITE_OK) return StatusFromSqlite(rc, "cannot open " + path, raw);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool create) {
  return OpenWithFlags(
      path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0));
}

Result<std::unique_ptr<Db>> Db::OpenReadOnly(const std::string& path) {
  return OpenWithFlags(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
}

Status Db::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) return StatusFromSqlite(rc, sql, db_.get());
  return Status::Ok();
}

Result<std::unique_ptr<Statement>> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return StatusFromSqlite(rc, "prepare", db_.get());
  }
  return std::make_unique<Statement>(db_.get(), stmt);
}

Result<Statement*> Db::Cached(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  it->second->Reset();
  return it->second.get();
}

Result<int64_t> Db::QueryInt(const char* sql, int64_t fallback) {
  ASSIGN_OR_RETURN(Statement * stmt, Cached(sql));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  int64_t value = row && !stmt->IsNull(0) ? stmt->Int(0) : fallback;
  stmt->Reset();
  return value;
}

Status Db::Error(std::string_view context) const {
  return StatusFromSqlite(sqlite3_errcode(db_.get()), context, db_.get());
}

Result<std::unique_ptr<Transaction>> Transaction::Begin(Db& db) {
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return std::unique_ptr<Transaction>(new Transaction(db));
}

Result<std::unique_ptr<Transaction>> Transaction::BeginUnsynced(Db& db) {
  constexpr int64_t kNormal = 1;  // PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
  ASSIGN_OR_RETURN(const int64_t level, db.QueryInt("PRAGMA synchronous"));
  if (level <= kNormal) return Begin(db);
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=NORMAL"));
  auto tx = Begin(db);
  if (!tx.ok()) {
    (void)db.Exec(("PRAGMA synchronous=" + std::to_string(level)).c_str());
    return tx.status();
  }
  (*tx)->restore_synchronous_ = level;
  return tx;
}

Transaction::~Transaction() {
  if (open_) (void)db_.Exec("ROLLBACK");
  (void)RestoreSynchronous();
}

Status Transaction::Commit() {
  Status s = db_.Exec("COMMIT");
  // A failed COMMIT leaves the transaction open; the destructor then rolls it back.
  if (!s.ok()) return s;
  open_ = false;
  return RestoreSynchronous();
}

// The level can only change outside a transaction, so this runs after COMMIT or ROLLBACK.
Status Transaction::RestoreSynchronous() {
  if (!restore_synchronous_) return Status::Ok();
  const std::string pragma = "PRAGMA synchronous=" + std::to_string(*restore_synchronous_);
  RETURN_IF_ERROR(db_.Exec(pragma.c_str()));
  restore_synchronous_.reset();
  return Status::Ok();
}

}  // namespace kitsync::core::sqlite

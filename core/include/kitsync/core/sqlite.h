// A small RAII layer over the SQLite C API, shared by the tablet store and the server store.
// Statements finalise themselves, transactions roll back unless committed, and every failure
// comes back as a Status.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kitsync/core/status.h"

namespace kitsync::core::sqlite {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  // Chainable binds; indexes start at 1 as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  // Without a copy, for the rows written on every handover. REQUIRES: `text` outlives the
  // statement's next Step() or Run(); Run() resets the statement, so a chain of binds ending
  // in Run() qualifies.
  Statement& BindView(int index, std::string_view text);
  Statement& BindBlobView(int index, std::string_view bytes);
  Statement& BindNull(int index);
  Statement& BindOptional(int index, const std::optional<int64_t>& value);

  // true: a row is ready; false: done.
  Result<bool> Step();
  // For statements that return no rows; resets the statement, releasing what it bound.
  Status Run();
  // Resets the statement and clears its bindings; does nothing when it is already reset.
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }
  std::string Text(int column) const;
  // The same text without a copy, valid until the statement steps again or is reset.
  std::string_view TextView(int column) const;
  int ColumnCount() const { return sqlite3_column_count(stmt_.get()); }

 private:
  // Keeps the first failed bind's error for Step() to return.
  Statement& Checked(int rc);

  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
  Status bind_error_;
  bool clean_ = true;  // reset and unbound since it last stepped or was bound
};

class Db {
 public:
  // Opens (and with `create`, creates) a database file.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool create);
  // Opens an existing file for reading only: nothing this connection does can change the file
  // (a copy being checked or restored from stays exactly as it was).
  static Result<std::unique_ptr<Db>> OpenReadOnly(const std::string& path);

  Status Exec(const char* sql);
  // A prepared statement kept for the life of the connection, reset and unbound for reuse.
  Result<Statement*> Cached(const char* sql);
  Result<std::unique_ptr<Statement>> Prepare(std::string_view sql);

  // First column of the first row as an integer, or `fallback` when there is no row.
  Result<int64_t> QueryInt(const char* sql, int64_t fallback = 0);

  sqlite3* handle() const { return db_.get(); }
  Status Error(std::string_view context) const;

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit Db(sqlite3* db) : db_(db) {}
  static Result<std::unique_ptr<Db>> OpenWithFlags(const std::string& path, int flags);
  std::unique_ptr<sqlite3, Close> db_;
  // Declared after db_ so statements are finalised before the connection closes.
  std::unordered_map<const char*, std::unique_ptr<Statement>> cache_;
};

Status StatusFromSqlite(int rc, std::string_view context, sqlite3* db);

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half-way on a
// lock upgrade. Rolls back on destruction unless committed.
class Transaction {
 public:
  static Result<std::unique_ptr<Transaction>> Begin(Db& db);
  // For a write that a later step always redoes when it is missing, such as the tablet's upload
  // cursor (every sync pass first asks the server what it holds): its commit does not wait for
  // the disk (`synchronous=NORMAL`). In WAL mode, which every kitsync connection uses, a power
  // cut may undo such a commit but never tears it, and the next commit that waits for the disk
  // makes it durable along with its own. The connection's level is restored when the
  // transaction ends, so nothing committed after it waits any less. A connection that already
  // waits less is left as it is.
  static Result<std::unique_ptr<Transaction>> BeginUnsynced(Db& db);
  ~Transaction();
  // When the connection's level cannot be restored after an unsynced commit, the commit stands
  // and this returns the error: nothing may be committed on the connection before that is dealt
  // with.
  Status Commit();

 private:
  explicit Transaction(Db& db) : db_(db) {}
  Status RestoreSynchronous();
  Db& db_;
  bool open_ = true;
  std::optional<int64_t> restore_synchronous_;  // set by BeginUnsynced
};

}  // namespace kitsync::core::sqlite

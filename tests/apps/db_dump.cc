#include "db_dump.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace kitsync::testing {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

StmtPtr Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    std::string message = sqlite3_errmsg(db);
    sqlite3_finalize(raw);
    throw std::runtime_error("cannot prepare '" + sql + "': " + message);
  }
  return StmtPtr(raw);
}

std::string Value(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_NULL:
      return "NULL";
    case SQLITE_INTEGER:
      return "i:" + std::to_string(sqlite3_column_int64(stmt, column));
    case SQLITE_FLOAT: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "f:%.17g", sqlite3_column_double(stmt, column));
      return buf;
    }
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      return "t:'" + std::string(text, sqlite3_column_bytes(stmt, column)) + "'";
    }
    default: {
      const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, column));
      const int n = sqlite3_column_bytes(stmt, column);
      std::string out = "b:";
      constexpr char kHex[] = "0123456789abcdef";
      for (int i = 0; i < n; ++i) {
        out.push_back(kHex[bytes[i] >> 4]);
        out.push_back(kHex[bytes[i] & 0xf]);
      }
      return out;
    }
  }
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string CanonicalDump(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("cannot open " + path + ": " +
                             (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  std::string dump;
  {
    StmtPtr version = Prepare(db.get(), "PRAGMA user_version");
    if (sqlite3_step(version.get()) == SQLITE_ROW) {
      dump += "user_version " + Value(version.get(), 0) + "\n";
    }
  }
  std::vector<std::string> tables;
  {
    StmtPtr schema = Prepare(db.get(),
                             "SELECT type, name, tbl_name, sql FROM sqlite_master "
                             "ORDER BY type, name");
    while (sqlite3_step(schema.get()) == SQLITE_ROW) {
      dump += "schema";
      for (int c = 0; c < 4; ++c) dump += " " + Value(schema.get(), c);
      dump += "\n";
      if (std::string(reinterpret_cast<const char*>(sqlite3_column_text(schema.get(), 0))) ==
          "table") {
        tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(schema.get(), 1)));
      }
    }
  }
  std::sort(tables.begin(), tables.end());
  for (const std::string& table : tables) {
    StmtPtr probe = Prepare(db.get(), "SELECT * FROM " + QuoteIdentifier(table));
    const int columns = sqlite3_column_count(probe.get());
    std::string order;
    for (int c = 1; c <= columns; ++c) order += (c > 1 ? ", " : "") + std::to_string(c);
    StmtPtr rows =
        Prepare(db.get(), "SELECT * FROM " + QuoteIdentifier(table) + " ORDER BY " + order);
    dump += "table " + table + "\n";
    int step;
    while ((step = sqlite3_step(rows.get())) == SQLITE_ROW) {
      dump += " ";
      for (int c = 0; c < columns; ++c) dump += " " + Value(rows.get(), c);
      dump += "\n";
    }
    if (step != SQLITE_DONE) {
      throw std::runtime_error("cannot read table " + table + ": " + sqlite3_errmsg(db.get()));
    }
  }
  return dump;
}

}  // namespace kitsync::testing

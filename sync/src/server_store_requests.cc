// The office's writes remembered by the request ID its tool chose (server schema step 6): a
// request repeated because its answer was lost gets the first outcome back, and nothing is
// written twice. Checked and recorded inside the write's own transaction, so a crash can never
// leave one without the other.
#include <sstream>

#include "server_store_sqlite.h"

namespace kitsync::sync {

using core::Result;
using core::Status;
using core::sqlite::Statement;

Result<std::optional<std::vector<std::string>>> SqliteServerStore::PriorOutcome(
    const RequestKey& request, std::string_view kind) {
  if (request.id.empty()) return std::optional<std::vector<std::string>>();
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT kind, fingerprint, outcome FROM admin_requests "
                               "WHERE request_id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, request.id).Step());
  if (!row) {
    stmt->Reset();
    return std::optional<std::vector<std::string>>();
  }
  const std::string stored_kind = stmt->Text(0);
  const std::string fingerprint = stmt->Text(1);
  const std::string outcome = stmt->Text(2);
  stmt->Reset();
  if (stored_kind != kind || fingerprint != request.fingerprint) {
    return Status::InvalidArgument("request ID '" + request.id +
                                   "' was already used for a different request; a new decision "
                                   "needs a new ID");
  }
  std::vector<std::string> ids;
  std::istringstream lines(outcome);
  for (std::string id; std::getline(lines, id);) ids.push_back(id);
  return std::optional<std::vector<std::string>>(std::move(ids));
}

Status SqliteServerStore::RememberOutcome(const RequestKey& request, std::string_view kind,
                                          const std::vector<std::string>& ids, int64_t now_ms) {
  if (request.id.empty()) return Status::Ok();
  std::string outcome;
  for (const std::string& id : ids) outcome += (outcome.empty() ? "" : "\n") + id;
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("INSERT INTO admin_requests (request_id, kind, fingerprint, "
                               "outcome, at_ms) VALUES (?, ?, ?, ?, ?)"));
  return stmt->Bind(1, request.id)
      .Bind(2, std::string(kind))
      .Bind(3, request.fingerprint)
      .Bind(4, outcome)
      .Bind(5, now_ms)
      .Run();
}

}  // namespace kitsync::sync

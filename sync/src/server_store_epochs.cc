// The feed's epochs: which run of the feed this server is (docs/server.md, "Feed epochs").
#include "kitsync/core/ids.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {

using core::Result;
using core::Status;
using core::sqlite::Db;

Result<std::vector<FeedEpoch>> ReadFeedEpochs(Db& db) {
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT epoch, start_seq FROM feed_epochs ORDER BY seq"));
  std::vector<FeedEpoch> epochs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    epochs.push_back({stmt->Text(0), stmt->Int(1)});
  }
  if (epochs.empty()) return Status::DataLoss("the server database names no feed epoch");
  return epochs;
}

Result<FeedEpoch> AppendFeedEpoch(Db& db, int64_t start_seq, int64_t now_ms) {
  FeedEpoch epoch{core::NewUuidV7(), start_seq};
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO feed_epochs (epoch, start_seq, started_ms) "
                                         "VALUES (?, ?, ?)"));
  RETURN_IF_ERROR(stmt->Bind(1, epoch.id).Bind(2, start_seq).Bind(3, now_ms).Run());
  return epoch;
}

}  // namespace kitsync::sync

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

Result<FeedEpoch> SqliteServerStore::StartFeedEpoch(int64_t start_seq, int64_t now_ms) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, core::sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(int64_t head, db_->QueryInt("SELECT max(server_seq) FROM feed"));
  // Entries after `start_seq` would be claimed by the new epoch and by the old one at once.
  if (start_seq < 0 || start_seq > head) {
    return Status::InvalidArgument("a feed epoch cannot begin at " + std::to_string(start_seq) +
                                   " in a feed whose head is " + std::to_string(head));
  }
  if (start_seq < feed_epochs_.back().start_seq) {
    return Status::InvalidArgument("a feed epoch cannot begin before the one it follows");
  }
  ASSIGN_OR_RETURN(FeedEpoch epoch, AppendFeedEpoch(*db_, start_seq, now_ms));
  RETURN_IF_ERROR(tx->Commit());
  feed_epochs_.push_back(epoch);
  return epoch;
}

Status SqliteServerStore::FoldLogIntoFile() {
  std::lock_guard lock(mu_);
  if (checkpointer_) {
    return Status::FailedPrecondition("the store checkpoints from a thread of its own");
  }
  // Leaving WAL mode copies the whole log into the database and removes it; it needs the only
  // connection to the file, which this store's is.
  ASSIGN_OR_RETURN(auto mode, db_->Prepare("PRAGMA journal_mode=DELETE"));
  ASSIGN_OR_RETURN(bool row, mode->Step());
  if (!row || mode->Text(0) != "delete") {
    return Status::Internal("the database did not leave write-ahead logging");
  }
  return Status::Ok();
}

}  // namespace kitsync::sync

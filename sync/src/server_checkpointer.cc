#include "server_checkpointer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "server_schema.h"

namespace kitsync::sync {

using core::Result;
using core::Status;

Result<std::unique_ptr<ServerCheckpointer>> ServerCheckpointer::Start(
    core::sqlite::Db& writer, const std::string& path, const CheckpointerOptions& options) {
  if (options.soft_pages < 1 || options.hard_pages < options.soft_pages) {
    return Status::InvalidArgument("checkpoint thresholds: need 1 <= soft <= hard pages");
  }
  ASSIGN_OR_RETURN(auto own, core::sqlite::Db::Open(path, /*create=*/false));
  // The same settings as the writer: a checkpoint syncs the log before copying it and the
  // database after, as synchronous=FULL asks.
  RETURN_IF_ERROR(ConfigureServerConnection(*own, options.busy_timeout_ms));
  // This connection never commits; its own automatic checkpoint would never fire anyway.
  RETURN_IF_ERROR(own->Exec("PRAGMA wal_autocheckpoint=0"));
  std::unique_ptr<ServerCheckpointer> self(
      new ServerCheckpointer(writer, std::move(own), options));
  sqlite3_wal_hook(writer.handle(), &ServerCheckpointer::OnCommit, self.get());
  return self;
}

ServerCheckpointer::ServerCheckpointer(core::sqlite::Db& writer,
                                       std::unique_ptr<core::sqlite::Db> own,
                                       const CheckpointerOptions& options)
    : writer_(writer), db_(std::move(own)), options_(options), thread_([this] { Run(); }) {
  // Named for ps, top and perf, and for the tests that look for it; named here rather than by
  // the thread itself, so that it bears the name by the time the store is open.
  pthread_setname_np(thread_.native_handle(), kCheckpointThreadName);
}

ServerCheckpointer::~ServerCheckpointer() {
  // No commit may report to an object going away; closing the writer later checkpoints what is
  // left, as the last connection to a database always does.
  sqlite3_wal_hook(writer_.handle(), nullptr, nullptr);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  spdlog::info("event=checkpoints passive={} restart={} busy={} failed={} max_wal_pages={}",
               counts_.passive, counts_.restart, counts_.busy, counts_.failed,
               counts_.max_pages);
}

// Runs on the committing thread, inside the commit, with the store's lock held: it notes the
// log's size and wakes the thread, unless the log reached the hard limit.
int ServerCheckpointer::OnCommit(void* arg, sqlite3* db, const char* schema, int pages) {
  auto* self = static_cast<ServerCheckpointer*>(arg);
  bool restart = false;
  bool due = false;
  {
    std::lock_guard lock(self->mu_);
    // Fewer pages than after the last commit: the commit started the log again, and nothing
    // in it was copied yet.
    if (pages < self->log_pages_) {
      self->copied_pages_ = 0;
      ++self->restarts_seen_;
    }
    self->log_pages_ = pages;
    self->counts_.max_pages = std::max<int64_t>(self->counts_.max_pages, pages);
    restart = pages >= self->options_.hard_pages;
    due = self->Due();
  }
  if (restart) {
    // Only the writer can start the log again, and only when a checkpoint has copied all of it
    // before its next transaction; under a steady push no PASSIVE checkpoint finishes in such
    // a gap. RESTART waits for the thread's checkpoint in progress, copies what is left and
    // makes the next transaction start the log. The thread copied most of it already.
    int rc = SQLITE_OK;
    {
      // SQLite refuses a second checkpoint at once without waiting: wait for the thread's.
      std::lock_guard one_at_a_time(self->checkpoint_mu_);
      // A reader outside the store (a backup's snapshot) would make RESTART wait out the busy
      // timeout on every commit while it reads: give up at once instead, let the log grow until
      // the reader is done, and try again at the next commit.
      sqlite3_busy_timeout(db, 0);
      rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
      sqlite3_busy_timeout(db, self->options_.busy_timeout_ms);
    }
    std::lock_guard lock(self->mu_);
    if (rc == SQLITE_OK) {
      ++self->counts_.restart;
      self->log_pages_ = 0;
      self->copied_pages_ = 0;
    } else {
      ++self->counts_.busy;
    }
  } else if (due) {
    self->wake_.notify_one();
  }
  return SQLITE_OK;
}

bool ServerCheckpointer::Due() const {
  return log_pages_ - copied_pages_ >= options_.soft_pages;
}

void ServerCheckpointer::Run() {
  // A log left by a server that was killed is reported by no commit of this one: copy it now.
  if (Checkpoint() >= 0) {
    std::lock_guard lock(mu_);
    ++counts_.passive;
  }
  std::unique_lock lock(mu_);
  while (!stop_) {
    const bool woken = wake_.wait_for(lock, options_.period, [this] { return stop_ || Due(); });
    if (stop_) break;
    // Woken by the period: copy whatever the log holds that was not copied yet.
    if (!woken && log_pages_ <= copied_pages_) continue;
    const int64_t restarts_before = restarts_seen_;
    lock.unlock();
    const int64_t copied = Checkpoint();
    lock.lock();
    if (copied < 0) {
      // Busy or failed: try again at the next period rather than spin on the log.
      if (!stop_) wake_.wait_for(lock, options_.period, [this] { return stop_; });
      continue;
    }
    ++counts_.passive;
    // Commits made while copying are in the log but not among the pages copied; a log started
    // again meanwhile holds none of them.
    if (restarts_seen_ == restarts_before) copied_pages_ = std::min(copied, log_pages_);
  }
}

int64_t ServerCheckpointer::Checkpoint() {
  int log = 0;
  int copied = 0;
  std::unique_lock one_at_a_time(checkpoint_mu_);
  const int rc =
      sqlite3_wal_checkpoint_v2(db_->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  one_at_a_time.unlock();
  if (rc == SQLITE_OK) return copied;
  std::lock_guard lock(mu_);
  if ((rc & 0xff) == SQLITE_BUSY) {
    ++counts_.busy;
  } else {
    ++counts_.failed;
    spdlog::warn("event=checkpoint code={} message=\"{}\"", rc, sqlite3_errmsg(db_->handle()));
  }
  return -1;
}

}  // namespace kitsync::sync

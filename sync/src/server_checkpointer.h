// Checkpoints the server database's write-ahead log from a thread and a connection of its own.
//
// SQLite's automatic checkpoint runs inside the commit of whichever transaction takes the log
// past its threshold: a push batch then waited for thousands of pages to be copied into the
// database file and synced before it could be acknowledged. Here the store's connection only
// reports the log's size after each commit (a WAL hook); this thread copies the log PASSIVEly,
// which never blocks the writer, and the writer restarts the log once everything was copied.
//
// A PASSIVE checkpoint lets the writer start the log again only if it copied everything before
// the writer's next transaction, which a steady push rarely leaves time for, so the log would
// keep growing: once it holds `hard_pages`, the committing connection runs a RESTART checkpoint
// itself, which copies what the thread has not (little, as the thread keeps up) and makes the
// next transaction start the log again.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kitsync/core/sqlite.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

inline constexpr char kCheckpointThreadName[] = "kitsync-wal";

struct CheckpointerOptions {
  // A PASSIVE checkpoint once this many pages were committed since the last one.
  int64_t soft_pages = 4000;
  // A RESTART checkpoint by the committing connection once the log holds this many pages.
  int64_t hard_pages = 16000;
  // While nothing reaches `soft_pages`, what the log holds is copied at least this often.
  std::chrono::milliseconds period{1000};
  int busy_timeout_ms = 5000;
};

// For the log, when the store closes.
struct CheckpointerCounts {
  int64_t passive = 0;    // PASSIVE checkpoints run by the thread
  int64_t restart = 0;    // RESTART checkpoints the committing connection ran
  int64_t busy = 0;       // checkpoints (either kind) that found the log busy, left for later
  int64_t failed = 0;     // checkpoints that failed otherwise (logged)
  int64_t max_pages = 0;  // the most pages the log held after a commit
};

class ServerCheckpointer {
 public:
  // Opens a second connection to `path` and starts the thread; installs the WAL hook on
  // `writer`, the store's connection, which must outlive this object.
  static core::Result<std::unique_ptr<ServerCheckpointer>> Start(core::sqlite::Db& writer,
                                                                 const std::string& path,
                                                                 const CheckpointerOptions& options);
  // Removes the hook, stops the thread and joins it; logs what it did.
  ~ServerCheckpointer();
  ServerCheckpointer(const ServerCheckpointer&) = delete;
  ServerCheckpointer& operator=(const ServerCheckpointer&) = delete;

 private:
  ServerCheckpointer(core::sqlite::Db& writer, std::unique_ptr<core::sqlite::Db> own,
                     const CheckpointerOptions& options);
  static int OnCommit(void* self, sqlite3* db, const char* schema, int pages);
  void Run();
  // REQUIRES mu_: a checkpoint is called for now.
  bool Due() const;
  // One PASSIVE checkpoint; the frames it copied, or -1 when it did not complete.
  int64_t Checkpoint();

  core::sqlite::Db& writer_;
  std::unique_ptr<core::sqlite::Db> db_;  // used by the thread alone once it runs
  const CheckpointerOptions options_;

  // Held while either connection checkpoints; never while holding mu_.
  std::mutex checkpoint_mu_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  // Pages in the log after the last commit, and how many of them the last checkpoint copied.
  int64_t log_pages_ = 0;
  int64_t copied_pages_ = 0;
  int64_t restarts_seen_ = 0;  // commits that found the log started again
  CheckpointerCounts counts_;
  std::thread thread_;  // last: started once everything above is set
};

}  // namespace kitsync::sync

// The server store's write-ahead log checkpoints, made from a thread of the store's own: the log
// stays bounded while batches are pushed, committed pages reach the database file without any
// commit copying them, and closing the store stops the thread with nothing lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kPageBytes = 4096;
constexpr int64_t kFrameBytes = kPageBytes + 24;  // a WAL frame: a page and its header
constexpr int64_t kBatch = 200;                   // changes per pushed batch

uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// The log as the write-ahead log file holds it now: its salts (which change whenever the log
// starts again) and how many frames from the start carry them. Frames past those are left from
// an earlier, longer log; the file never shrinks.
struct LogState {
  std::string salts;
  int64_t frames = 0;
};
LogState ReadLog(const std::string& path) {
  constexpr size_t kHeaderBytes = 32;
  constexpr size_t kFrameHeaderBytes = 24;
  std::ifstream in(path, std::ios::binary);
  std::string header(kHeaderBytes, '\0');
  LogState out;
  if (!in.read(header.data(), kHeaderBytes)) return out;
  out.salts = header.substr(16, 8);
  std::string frame(kFrameHeaderBytes, '\0');
  while (in.read(frame.data(), kFrameHeaderBytes) && frame.substr(8, 8) == out.salts) {
    ++out.frames;
    in.seekg(kPageBytes, std::ios::cur);
  }
  return out;
}

// Threads of this process named as the store names its checkpointing thread.
int CheckpointThreads() {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "kitsync-wal") ++n;
  }
  return n;
}

class ServerCheckpointTest : public ::testing::Test {
 protected:
  void Start(const sync::SqliteServerStoreOptions& options) {
    server_ = std::make_unique<TestServer>(sync::ServerLogicOptions{}, options);
    server_->LoadMasterData();
    tablet_ = server_->EnrolTablet("ENT", "ENT tablet");
    ASSERT_NE(tablet_.store, nullptr);
  }

  // `n` families registered and served at the tablet: 2n changes.
  void Record(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_FALSE(RecordHandover(tablet_, "P" + std::to_string(1'000'000 + recorded_++)).empty());
    }
  }

  // One batch of at most kBatch changes; false when nothing was left to push.
  bool PushOne() {
    v1::PushBatch batch = NextPushBatch(*tablet_.store, kBatch, server_->clock().now());
    if (batch.records().changes_size() == 0) return false;
    auto ack = server_->logic().Push(tablet_.token, batch);
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    if (!ack.ok()) return false;
    EXPECT_TRUE(tablet_.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());
    return true;
  }

  // What the server holds of the tablet, read from its tables by a connection of the test's.
  void ExpectServerHolds(int64_t families) {
    RawDb db(server_->db_path());
    EXPECT_EQ(db.QueryText("PRAGMA integrity_check"), "ok");
    const std::string device = "'" + tablet_.device_id + "'";
    EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers WHERE device_id = " + device), families);
    EXPECT_EQ(db.QueryInt("SELECT count(*) FROM beneficiaries WHERE device_id = " + device),
              families);
    // The receipt the tablet was enrolled with, then two changes a family.
    EXPECT_EQ(db.QueryInt("SELECT acked_seq FROM devices WHERE id = " + device), 1 + 2 * families);
    EXPECT_EQ(db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = " + device),
              1 + 2 * families);
  }

  std::string wal() const { return server_->db_path() + "-wal"; }

  std::unique_ptr<TestServer> server_;
  Tablet tablet_;
  int recorded_ = 0;
};

TEST_F(ServerCheckpointTest, TheWriteAheadLogStaysBoundedWhileBatchesArePushed) {
  sync::SqliteServerStoreOptions options;
  options.checkpoint_soft_pages = 32;
  options.checkpoint_hard_pages = 128;
  options.checkpoint_period_ms = 20;
  Start(options);
  Record(2000);
  // The log may reach the hard limit, plus the pages of the batch that took it there. A
  // batch's pages are counted in the log itself: once the log has started again, a batch may
  // be written over an earlier log's frames without the file growing at all.
  int64_t largest_batch = 0;
  int64_t longest_log = 0;
  uintmax_t largest_wal = 0;
  int pushes = 0;
  while (true) {
    const LogState before = ReadLog(wal());
    if (!PushOne()) break;
    ++pushes;
    const LogState after = ReadLog(wal());
    const int64_t added =
        after.salts == before.salts ? after.frames - before.frames : after.frames;
    largest_batch = std::max(largest_batch, added);
    longest_log = std::max(longest_log, after.frames);
    largest_wal = std::max(largest_wal, FileSize(wal()));
  }
  ASSERT_EQ(pushes, (1 + 2 * 2000 + kBatch - 1) / kBatch);
  EXPECT_LT(longest_log, options.checkpoint_hard_pages + largest_batch)
      << "the largest batch added " << largest_batch << " pages";
  const auto bound = static_cast<uintmax_t>(
      32 + (options.checkpoint_hard_pages + largest_batch) * kFrameBytes);
  EXPECT_LE(largest_wal, bound) << "the largest batch added " << largest_batch << " pages";
  // Far more than the bound went through the log: the database file holds it all.
  EXPECT_GT(FileSize(server_->db_path()), 3 * bound);
  EXPECT_GT(largest_batch, 0);
  ExpectServerHolds(2000);
}

// A backup reads one snapshot while pushes go on. At the log's limit the committing connection
// would wait for that reader in every commit (the busy timeout, here 60 s) before giving up; it
// must give up at once and let the log grow until the reader is done.
TEST_F(ServerCheckpointTest, AReaderHoldingASnapshotDoesNotHoldUpPushesAtTheLogsLimit) {
  sync::SqliteServerStoreOptions options;
  options.busy_timeout_ms = 60'000;
  options.checkpoint_soft_pages = 16;
  options.checkpoint_hard_pages = 64;
  options.checkpoint_period_ms = 20;
  Start(options);
  Record(1500);
  RawDb reader(server_->db_path());
  reader.Exec("BEGIN");
  ASSERT_GT(reader.QueryInt("SELECT count(*) FROM feed"), 0);  // the snapshot is taken here

  std::atomic<bool> done{false};
  int pushes = 0;
  std::thread pusher([&] {
    while (PushOne()) ++pushes;
    done = true;
  });
  for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(100ms);
  const bool finished_while_reading = done;
  reader.Exec("COMMIT");
  pusher.join();
  EXPECT_TRUE(finished_while_reading) << "pushes waited for the reader's snapshot";
  EXPECT_EQ(pushes, (1 + 2 * 1500 + kBatch - 1) / kBatch);
  // The log outgrew its limit while the reader held it back, and everything is there.
  EXPECT_GT(FileSize(wal()), static_cast<uintmax_t>(options.checkpoint_hard_pages * kFrameBytes));
  ExpectServerHolds(1500);
}

TEST_F(ServerCheckpointTest, CommittedPagesReachTheDatabaseFileWithoutACommitCopyingThem) {
  sync::SqliteServerStoreOptions options;
  options.checkpoint_soft_pages = 16;
  // Never reached: no commit copies the log itself, so only the store's thread can.
  options.checkpoint_hard_pages = 1'000'000;
  options.checkpoint_period_ms = 20;
  Start(options);
  Record(500);
  const uintmax_t initial = FileSize(server_->db_path());
  while (PushOne()) {
  }
  // The database grows by what the checkpoints copy, a period or so after the commits.
  for (int i = 0; i < 500 && FileSize(server_->db_path()) < initial + 100 * kPageBytes; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(FileSize(server_->db_path()), initial + 100 * kPageBytes);
  ExpectServerHolds(500);
}

TEST_F(ServerCheckpointTest, ClosingTheStoreStopsItsCheckpointsWithNothingLost) {
  const int before = CheckpointThreads();
  sync::SqliteServerStoreOptions options;
  // A checkpoint after every commit, so that closing lands on one under way.
  options.checkpoint_soft_pages = 1;
  options.checkpoint_hard_pages = 64;
  options.checkpoint_period_ms = 1;
  Start(options);
  EXPECT_EQ(CheckpointThreads(), before + 1);
  Record(1000);
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(PushOne());
    ASSERT_TRUE(PushOne());
    server_->Reopen(options);
    EXPECT_EQ(CheckpointThreads(), before + 1) << "the closed store's thread is still running";
  }
  while (PushOne()) {
  }
  ExpectServerHolds(1000);
  server_.reset();
  EXPECT_EQ(CheckpointThreads(), before);
}

TEST_F(ServerCheckpointTest, WithoutBackgroundCheckpointsNoThreadRuns) {
  const int before = CheckpointThreads();
  sync::SqliteServerStoreOptions options;
  options.background_checkpoints = false;
  Start(options);
  EXPECT_EQ(CheckpointThreads(), before);
  Record(100);
  while (PushOne()) {
  }
  ExpectServerHolds(100);
}

}  // namespace
}  // namespace kitsync::synctest

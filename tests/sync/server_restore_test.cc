// Feed epochs and restoring a copy, in process over real SQLite files: a data directory starts
// with one epoch; a restored copy goes on under a new one that begins at the copy's feed head,
// with nothing else of the copy changed; a pull naming another epoch is refused; a restore
// refuses what it cannot use without creating anything; and one cut by a crash runs again into
// the same directory, while a second one at the same time is refused.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/sqlite.h"
#include "kitsync/sync/server_copy.h"
#include "kitsync/sync/server_store.h"
#include "sync_test_support.h"
#include "test_support.h"

namespace kitsync::synctest {
namespace {

namespace fs = std::filesystem;

class ServerRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.LoadMasterData();
    ent_ = server_.EnrolTablet("ENT", "ENT tablet");
    ASSERT_NE(ent_.store, nullptr);
  }

  void Push(Tablet& t) { PushUntilDrained(server_, t); }

  // A copy of the running server's database, as `kitsync-server backup` writes it.
  std::string Backup(const std::string& name) {
    const std::string path = server_.dir().File(name);
    auto db = core::sqlite::Db::Open(server_.db_path(), /*create=*/false);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    if (db.ok()) {
      const core::Status written = core::WriteSnapshot(**db, path);
      EXPECT_TRUE(written.ok()) << written.ToString();
    }
    return path;
  }

  v1::StatusResponse Status(sync::ServerLogic& logic, const Tablet& t) {
    auto status = logic.GetStatus(t.token, {});
    EXPECT_TRUE(status.ok()) << status.status().ToString();
    return status.ok() ? *status : v1::StatusResponse();
  }

  core::Status PullWithEpoch(sync::ServerLogic& logic, const Tablet& t, const std::string& epoch) {
    v1::PullRequest request;
    request.set_feed_epoch(epoch);
    return logic.Pull(t.token, request).status();
  }

  TestServer server_;
  Tablet ent_;
};

// Every row of every table but the epochs', in a canonical order.
std::string DumpWithoutEpochs(const std::string& db_path) {
  std::string dump = testing::CanonicalDump(db_path);
  const size_t from = dump.find("== feed_epochs\n");
  if (from == std::string::npos) return dump;
  const size_t to = dump.find("== ", from + 1);
  return dump.erase(from, to == std::string::npos ? std::string::npos : to - from);
}

TEST_F(ServerRestoreTest, ADataDirectoryStartsWithOneEpochThatStatusReports) {
  const v1::StatusResponse status = Status(server_.logic(), ent_);
  EXPECT_FALSE(status.feed_epoch().empty());
  EXPECT_EQ(status.feed_epoch_start_seq(), 0u);
  EXPECT_EQ(status.earlier_feed_epochs_size(), 0);
  server_.Reopen();
  EXPECT_EQ(Status(server_.logic(), ent_).feed_epoch(), status.feed_epoch());
  TestServer other;
  EXPECT_NE(other.store().feed_epochs().back().id, status.feed_epoch());
}

TEST_F(ServerRestoreTest, ARestoredCopyGoesOnUnderANewEpochFromItsHeadWithNothingElseChanged) {
  for (int i = 0; i < 5; ++i) RecordHandover(ent_, "P" + std::to_string(7'000'000 + i));
  Push(ent_);
  const std::string copy = Backup("copy.db");
  const std::string copy_bytes = ReadFileBytes(copy);
  for (int i = 5; i < 8; ++i) RecordHandover(ent_, "P" + std::to_string(7'000'000 + i));
  Push(ent_);  // the original goes on past the copy
  const int64_t copy_head = RawDb(copy).QueryInt("SELECT max(server_seq) FROM feed");
  const std::string copy_epoch = server_.store().feed_epochs().back().id;
  ASSERT_GT(copy_head, 0);

  const std::string restored_dir = server_.dir().File("restored");
  auto restored = sync::RestoreServerCopy(copy, restored_dir, server_.clock().now());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->copy.feed_head, copy_head);
  EXPECT_EQ(restored->copy.feed_epoch, copy_epoch);
  EXPECT_EQ(restored->epoch.start_seq, copy_head);
  EXPECT_NE(restored->epoch.id, copy_epoch);
  EXPECT_EQ(restored->database, sync::ServerDatabasePath(restored_dir));

  // The copy was only read; the restored database is the copy plus one epoch.
  EXPECT_EQ(ReadFileBytes(copy), copy_bytes);
  EXPECT_EQ(DumpWithoutEpochs(restored->database), DumpWithoutEpochs(copy));
  EXPECT_EQ(RawDb(restored->database).QueryInt("PRAGMA user_version"),
            RawDb(copy).QueryInt("PRAGMA user_version"));
  EXPECT_EQ(testing::RawDb(restored->database)
                .QueryColumn("SELECT epoch || '@' || start_seq FROM feed_epochs"),
            (std::set<std::string>{copy_epoch + "@0",
                                   restored->epoch.id + "@" + std::to_string(copy_head)}));
  // Nothing beside it: no partial file, no log; readable by the owner alone.
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(restored_dir)) {
    names.insert(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::set<std::string>{"server.db"});
  struct stat st {};
  ASSERT_EQ(::stat(restored->database.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Served: the tablet is known, its upload cursor is the copy's, the feed is the new epoch.
  auto store = sync::OpenSqliteServerStore(restored_dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  sync::ServerLogic logic(store->get(), server_.clock().AsWallClock());
  const v1::StatusResponse status = Status(logic, ent_);
  const int64_t copied_cursor =
      RawDb(copy).QueryInt("SELECT acked_seq FROM devices WHERE id = '" + ent_.device_id + "'");
  EXPECT_GE(copied_cursor, 10);  // five families and five handovers at least
  EXPECT_EQ(status.acked_seq(), static_cast<uint64_t>(copied_cursor));
  EXPECT_EQ(status.feed_head(), static_cast<uint64_t>(copy_head));
  EXPECT_EQ(status.feed_epoch(), restored->epoch.id);
  EXPECT_EQ(status.feed_epoch_start_seq(), static_cast<uint64_t>(copy_head));
  ASSERT_EQ(status.earlier_feed_epochs_size(), 1);
  EXPECT_EQ(status.earlier_feed_epochs(0).id(), copy_epoch);
  EXPECT_EQ(status.earlier_feed_epochs(0).start_seq(), 0u);
}

TEST_F(ServerRestoreTest, APullNamingAnotherEpochThanTheCurrentIsRefused) {
  RecordHandover(ent_, "P7000001");
  Push(ent_);
  const std::string first = server_.store().feed_epochs().back().id;
  auto restored =
      sync::RestoreServerCopy(Backup("copy.db"), server_.dir().File("new"), server_.clock().now());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();

  // The original, never restored: its epoch, or none (a tablet from before epochs).
  EXPECT_TRUE(PullWithEpoch(server_.logic(), ent_, first).ok());
  EXPECT_TRUE(PullWithEpoch(server_.logic(), ent_, "").ok());
  EXPECT_EQ(PullWithEpoch(server_.logic(), ent_, restored->epoch.id).code(),
            core::Code::kFailedPrecondition);
  EXPECT_EQ(PullWithEpoch(server_.logic(), ent_, std::string(65, 'e')).code(),
            core::Code::kInvalidArgument);

  // The restored server serves its own epoch only.
  auto store = sync::OpenSqliteServerStore(server_.dir().File("new"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  sync::ServerLogic logic(store->get(), server_.clock().AsWallClock());
  const core::Status stale = PullWithEpoch(logic, ent_, first);
  EXPECT_EQ(stale.code(), core::Code::kFailedPrecondition) << stale.ToString();
  EXPECT_NE(stale.message().find(restored->epoch.id), std::string::npos) << stale.message();
  EXPECT_EQ(PullWithEpoch(logic, ent_, "").code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(PullWithEpoch(logic, ent_, "some-other-epoch").code(), core::Code::kFailedPrecondition);
  EXPECT_TRUE(PullWithEpoch(logic, ent_, restored->epoch.id).ok());
}

TEST_F(ServerRestoreTest, RestoreRefusesWhatItCannotUseAndCreatesNothing) {
  const std::string copy = Backup("copy.db");
  const int64_t now = server_.clock().now();
  auto refused = [&](const std::string& from, const std::string& dir) {
    auto r = sync::RestoreServerCopy(from, dir, now);
    EXPECT_FALSE(r.ok());
    return r.status();
  };

  // A directory with something in it is left as it was.
  const std::string used = server_.dir().File("used");
  fs::create_directory(used);
  std::ofstream(used + "/notes.txt") << "kept";
  EXPECT_EQ(refused(copy, used).code(), core::Code::kAlreadyExists);
  EXPECT_EQ(ReadFileBytes(used + "/notes.txt"), "kept");
  EXPECT_EQ(std::distance(fs::directory_iterator(used), fs::directory_iterator()), 1);
  EXPECT_EQ(refused(copy, server_.data_dir()).code(), core::Code::kAlreadyExists);

  const std::string target = server_.dir().File("target");
  EXPECT_EQ(refused(server_.dir().File("no-such.db"), target).code(), core::Code::kNotFound);
  EXPECT_FALSE(fs::exists(target));

  const std::string garbage = server_.dir().File("garbage.db");
  WriteFile(garbage, std::string(8192, 'x'));
  EXPECT_EQ(refused(garbage, target).code(), core::Code::kDataLoss);
  EXPECT_FALSE(fs::exists(target));

  // A database, but a tablet's, not a server's.
  EXPECT_EQ(refused(ent_.db_path, target).code(), core::Code::kDataLoss);
  EXPECT_FALSE(fs::exists(target));

  // A server copy with pages overwritten.
  const std::string damaged = server_.dir().File("damaged.db");
  std::string bytes = ReadFileBytes(copy);
  ASSERT_GT(bytes.size(), 4u * 4096);
  std::fill(bytes.begin() + 2 * 4096, bytes.begin() + 4 * 4096, '\xff');
  WriteFile(damaged, bytes);
  const core::Status corrupt = refused(damaged, target);
  EXPECT_EQ(corrupt.code(), core::Code::kDataLoss) << corrupt.ToString();
  EXPECT_FALSE(fs::exists(target));

  // From a newer kitsync-server.
  const std::string newer = server_.dir().File("newer.db");
  fs::copy_file(copy, newer);
  RawDb(newer).Exec("PRAGMA user_version = 999");
  EXPECT_EQ(refused(newer, target).code(), core::Code::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(target));

  // An empty directory is as good as a new one.
  fs::create_directory(target);
  EXPECT_TRUE(sync::RestoreServerCopy(copy, target, now).ok());
}

// What a restore cut by a crash leaves in the directory (the partial database, half written,
// and SQLite's journal beside it) goes when the restore is run again, and the copy arrives
// whole.
TEST_F(ServerRestoreTest, ARestoreCutByACrashRunsAgainIntoTheSameDirectory) {
  ASSERT_FALSE(RecordHandover(ent_, "A1000001").empty());
  Push(ent_);
  const std::string copy = Backup("copy.db");
  const std::string target = server_.dir().File("target");
  fs::create_directory(target);
  const std::string partial = sync::ServerDatabasePath(target) + core::kPartialSuffix;
  const std::string bytes = ReadFileBytes(copy);
  WriteFile(partial, bytes.substr(0, bytes.size() / 2));
  WriteFile(partial + "-journal", std::string(512, '\0'));

  auto restored = sync::RestoreServerCopy(copy, target, server_.clock().now());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(DumpWithoutEpochs(sync::ServerDatabasePath(target)), DumpWithoutEpochs(copy));
  EXPECT_EQ(RawDb(sync::ServerDatabasePath(target)).QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(partial + "-journal"));
}

// Two restores into one directory: the second is refused while the first holds the directory,
// and leaves the first's partial file alone.
TEST_F(ServerRestoreTest, ASecondRestoreIntoADirectoryBeingRestoredIsRefusedAndTouchesNothing) {
  const std::string copy = Backup("copy.db");
  const std::string target = server_.dir().File("target");
  fs::create_directory(target);
  const std::string partial = sync::ServerDatabasePath(target) + core::kPartialSuffix;
  WriteFile(partial, "being written");
  const int held = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);  // as the running restore holds it

  auto refused = sync::RestoreServerCopy(copy, target, server_.clock().now());
  ::close(held);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), core::Code::kFailedPrecondition)
      << refused.status().ToString();
  EXPECT_EQ(ReadFileBytes(partial), "being written");
  EXPECT_FALSE(fs::exists(sync::ServerDatabasePath(target)));
}

// A server from before feed epochs, and a copy of it taken then, agree on the epoch the feed
// had: the server device ID both hold. The restored copy goes on from there under a new one.
TEST(ServerRestoreFromBeforeEpochsTest, TheCopyAndItsServerAgreeOnTheFirstEpoch) {
  TempDir dir;
  const std::string original = dir.File("original");
  fs::create_directory(original);
  testing::LoadSqlFile(sync::ServerDatabasePath(original),
                       std::string(KITSYNC_FIXTURES_DIR) + "/server_schema_v1.sql");
  const std::string copy = dir.File("copy.db");
  fs::copy_file(sync::ServerDatabasePath(original), copy);
  const std::string device_id =
      RawDb(copy).QueryText("SELECT value FROM meta WHERE key = 'server_device_id'");
  const int64_t head = RawDb(copy).QueryInt("SELECT max(server_seq) FROM feed");

  auto upgraded = sync::OpenSqliteServerStore(original);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status().ToString();
  ASSERT_EQ((*upgraded)->feed_epochs().size(), 1u);
  EXPECT_EQ((*upgraded)->feed_epochs()[0].id, device_id);
  EXPECT_EQ((*upgraded)->feed_epochs()[0].start_seq, 0);

  auto restored = sync::RestoreServerCopy(copy, dir.File("restored"), 1'790'000'000'000);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->copy.schema_version, 1);
  EXPECT_EQ(restored->copy.feed_epoch, "");
  EXPECT_EQ(restored->epoch.start_seq, head);
  auto store = sync::OpenSqliteServerStore(dir.File("restored"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::vector<sync::FeedEpoch>& epochs = (*store)->feed_epochs();
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0].id, device_id);
  EXPECT_EQ(epochs[0].start_seq, 0);
  EXPECT_EQ(epochs[1].id, restored->epoch.id);
  EXPECT_EQ(epochs[1].start_seq, head);
}

}  // namespace
}  // namespace kitsync::synctest

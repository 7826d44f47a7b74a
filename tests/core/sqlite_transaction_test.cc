// Transactions of the SQLite layer: an unsynced commit relaxes the wait for the disk for itself
// alone, and every commit after it waits as the connection was set up to.
#include <gtest/gtest.h>

#include "kitsync/core/sqlite.h"
#include "test_support.h"

namespace kitsync::core::sqlite {
namespace {

using testing::TempDir;

constexpr int64_t kOff = 0;
constexpr int64_t kNormal = 1;
constexpr int64_t kFull = 2;

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(dir_.File("t.db"), /*create=*/true);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Exec("PRAGMA journal_mode=WAL").ok());
    ASSERT_TRUE(db_->Exec("PRAGMA synchronous=FULL").ok());
    ASSERT_TRUE(db_->Exec("CREATE TABLE t (v INTEGER)").ok());
  }

  int64_t Level() { return *db_->QueryInt("PRAGMA synchronous", -1); }
  int64_t Rows() { return *db_->QueryInt("SELECT count(*) FROM t", -1); }

  TempDir dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(TransactionTest, AnUnsyncedCommitWaitsLessAndTheNextTransactionWaitsAgain) {
  {
    auto tx = Transaction::BeginUnsynced(*db_);
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    EXPECT_EQ(Level(), kNormal);
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
    EXPECT_EQ(Level(), kFull);
  }
  EXPECT_EQ(Level(), kFull);
  auto tx = Transaction::Begin(*db_);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(Level(), kFull);
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (2)").ok());
  ASSERT_TRUE((*tx)->Commit().ok());
  EXPECT_EQ(Rows(), 2);
}

TEST_F(TransactionTest, AnUnsyncedTransactionRolledBackLeavesNothingAndTheLevelRestored) {
  {
    auto tx = Transaction::BeginUnsynced(*db_);
    ASSERT_TRUE(tx.ok()) << tx.status().ToString();
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(Rows(), 0);
  EXPECT_EQ(Level(), kFull);
}

TEST_F(TransactionTest, AnUnsyncedTransactionThatCannotBeginLeavesTheLevelRestored) {
  auto other = Db::Open(dir_.File("t.db"), /*create=*/false);
  ASSERT_TRUE(other.ok());
  auto writer = Transaction::Begin(**other);  // holds the write lock; this one finds it busy
  ASSERT_TRUE(writer.ok());
  EXPECT_FALSE(Transaction::BeginUnsynced(*db_).ok());
  EXPECT_EQ(Level(), kFull);
}

TEST_F(TransactionTest, AConnectionThatNeverWaitsIsLeftAsItIs) {
  ASSERT_TRUE(db_->Exec("PRAGMA synchronous=OFF").ok());
  auto tx = Transaction::BeginUnsynced(*db_);
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  EXPECT_EQ(Level(), kOff);
  ASSERT_TRUE((*tx)->Commit().ok());
  EXPECT_EQ(Level(), kOff);
}

}  // namespace
}  // namespace kitsync::core::sqlite

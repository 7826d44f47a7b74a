// A central server upgraded with every post's records in its database: opening it migrates the
// schema step by step, keeps every fact, feed entry, device and cursor, and looks at the old
// facts with the rules the old server did not have, so no conflict in them goes unrecorded.
// The fixture is a database written by kitsync-server at schema version 1.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "kitsync/sync/server_store.h"
#include "sync_test_support.h"
#include "test_support.h"

namespace kitsync::sync {
namespace {

using synctest::TempDir;

// The device credentials of the fixture's two tablets (ENT, NUN), as their tablets hold them.
constexpr char kEntToken[] = "ksd_lK4sndd84lKkaDb8ZA6yRLBW2AvhROs-PRaj2jZ2dx8";
constexpr char kNunToken[] = "ksd_Ep-G7B2iO34dtXrK98IAF3yzfngvrV_XVkK-7z92eVs";

std::set<std::string> Column(const std::string& path, const std::string& query) {
  return testing::RawDb(path).QueryColumn(query);
}

class ServerMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::LoadSqlFile(db_, std::string(KITSYNC_FIXTURES_DIR) + "/server_schema_v1.sql");
    ASSERT_EQ(Column(db_, "PRAGMA user_version"), std::set<std::string>{"1"});
  }

  TempDir dir_;
  const std::string data_ = dir_.path().string();
  const std::string db_ = ServerDatabasePath(data_);
};

TEST_F(ServerMigrationTest, VersionOneServerOpensUpgradedWithFeedDevicesAndCursorsKept) {
  const std::set<std::string> feed = Column(db_, "SELECT server_seq || '/' || payload FROM feed");
  const std::set<std::string> handovers = Column(db_, "SELECT id FROM handovers");
  ASSERT_EQ(handovers.size(), 11u);

  auto store = OpenSqliteServerStore(data_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_NE(Column(db_, "PRAGMA user_version"), std::set<std::string>{"1"});
  EXPECT_EQ(Column(db_, "SELECT id FROM handovers"), handovers);
  // The old feed is kept entry for entry; anything the upgrade adds comes after it.
  std::set<std::string> kept = Column(db_, "SELECT server_seq || '/' || payload FROM feed");
  for (const std::string& entry : feed) EXPECT_EQ(kept.count(entry), 1u) << entry;

  auto ent = (*store)->Authenticate(kEntToken, 1);
  ASSERT_TRUE(ent.ok()) << ent.status().ToString();
  EXPECT_EQ(ent->post_code, "ENT");
  auto cursor = (*store)->GetCursor(*ent);
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(cursor->acked_seq, 10);  // what the ENT tablet had pushed before the upgrade
  auto nun = (*store)->Authenticate(kNunToken, 1);
  ASSERT_TRUE(nun.ok()) << nun.status().ToString();
  auto nun_cursor = (*store)->GetCursor(*nun);
  ASSERT_TRUE(nun_cursor.ok());
  EXPECT_EQ(nun_cursor->acked_seq, 12);

  auto handouts = (*store)->ReportHandouts({});
  ASSERT_TRUE(handouts.ok()) << handouts.status().ToString();
  std::map<std::string, int64_t> by_post;
  for (const HandoutLine& line : *handouts) by_post[line.post_code] += line.quantity;
  EXPECT_EQ(by_post, (std::map<std::string, int64_t>{{"ENT", 5}, {"NUN", 6}}));
}

// Schema step 11 edits the handovers table's text in place: an upgraded database and a new one
// both end with a whole file, handovers that no longer name their feed entry as a foreign key,
// and every other table's references as they were.
TEST_F(ServerMigrationTest, HandoversLoseOnlyTheirFeedReferenceAndTheFileStaysWhole) {
  auto references = [](const std::string& db, const std::string& table) {
    return Column(db, "SELECT \"table\" || '.' || \"to\" FROM pragma_foreign_key_list('" +
                          table + "')");
  };
  ASSERT_EQ(references(db_, "handovers"), std::set<std::string>{"feed.server_seq"});
  const std::set<std::string> columns = Column(db_, "SELECT name FROM pragma_table_info('handovers')");
  ASSERT_EQ(columns.size(), 19u);
  const std::set<std::string> voids = references(db_, "handover_voids");

  ASSERT_TRUE(OpenSqliteServerStore(data_).ok());
  TempDir fresh_dir;
  ASSERT_TRUE(InitSqliteServerStore(fresh_dir.path().string(), 1).ok());
  const std::string fresh = ServerDatabasePath(fresh_dir.path().string());
  for (const std::string& db : {db_, fresh}) {
    EXPECT_EQ(Column(db, "PRAGMA integrity_check"), std::set<std::string>{"ok"}) << db;
    EXPECT_EQ(Column(db, "PRAGMA foreign_key_check"), std::set<std::string>{}) << db;
    EXPECT_TRUE(references(db, "handovers").empty()) << db;
    EXPECT_EQ(Column(db, "SELECT name FROM pragma_table_info('handovers')"), columns) << db;
    EXPECT_EQ(references(db, "handover_voids"), voids) << db;
    EXPECT_EQ(references(db, "beneficiaries"), std::set<std::string>{"feed.server_seq"}) << db;
  }
  // The old handovers are all still there, under the same keys.
  EXPECT_EQ(testing::RawDb(db_).QueryInt("SELECT count(*) FROM handovers h JOIN feed f "
                                         "ON f.server_seq = h.server_seq"),
            11);
}

TEST_F(ServerMigrationTest, ConflictsInFactsFromBeforeTheUpgradeAreRecordedWhenItOpens) {
  auto store = OpenSqliteServerStore(data_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto listed = (*store)->ListConflicts({});
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::multiset<std::string> kinds;
  for (const ConflictRecord& c : *listed) {
    kinds.insert(std::string(core::ToString(c.conflict.kind)));
    EXPECT_EQ(c.status, core::ConflictStatus::kOpen);
  }
  // The family served at both posts (registered twice), and NUN's 6 kits against 3 received.
  EXPECT_EQ(kinds, (std::multiset<std::string>{"duplicate-beneficiary", "entitlement-exceeded",
                                                "stock-deficit"}));
  // What the rules say of all the facts, and what is stored, agree.
  auto recomputed = (*store)->RecomputeConflicts();
  ASSERT_TRUE(recomputed.ok());
  EXPECT_EQ(recomputed->size(), listed->size());

  // Each post's tablets learn what the other post handed out to the family they share.
  auto ent = (*store)->Authenticate(kEntToken, 1);
  ASSERT_TRUE(ent.ok());
  auto cursor = (*store)->GetCursor(*ent);
  ASSERT_TRUE(cursor.ok());
  auto page = (*store)->ReadFeed(*ent, 0, 1000, std::nullopt);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  int summaries = 0;
  for (const core::RemoteChange& change : page->changes) {
    summaries += std::holds_alternative<core::ServedSummary>(change.record);
  }
  EXPECT_GE(summaries, 1) << "ENT's tablets never learn of the kit the family got at NUN";

  // Opening again changes nothing more, and sends no summary again.
  const std::set<std::string> conflicts = Column(db_, "SELECT id || status FROM conflicts");
  const int64_t feed_head = testing::RawDb(db_).QueryInt("SELECT max(server_seq) FROM feed");
  store->reset();
  auto again = OpenSqliteServerStore(data_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Column(db_, "SELECT id || status FROM conflicts"), conflicts);
  EXPECT_EQ(testing::RawDb(db_).QueryInt("SELECT max(server_seq) FROM feed"), feed_head);
}

}  // namespace
}  // namespace kitsync::sync

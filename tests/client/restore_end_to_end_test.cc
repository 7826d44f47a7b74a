// A server restored from a copy, with the real binaries: two `kitsync` tablets at one post, a
// copy taken with `kitsync-server backup`, more records pushed and pulled after it, then the
// server's disk lost and `kitsync-server restore` run into a new data directory. The tablet
// that pushed after the copy sends its records again by itself; the tablet that pulled after it
// goes back to where the feeds agree; both end with exactly what the restored server holds.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "end_to_end_fixture.h"
#include "kitsync/core/store.h"
#include "process.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

class RestoreEndToEndTest : public EndToEndFixture {
 protected:
  RestoreEndToEndTest() : EndToEndFixture(kTwoPostMasterJson) {}

  // Registers someone and hands over a kit: two changes.
  void Serve(const std::string& db, const std::string& doc_number) {
    const json person =
        KitsyncJson(db, {"register", "--doc-number", doc_number, "--name", "Person " + doc_number});
    const std::string beneficiary = person.value("/beneficiary/id"_json_pointer, std::string());
    KitsyncJson(
        db, {"record", "--round", "HYG-2026-11", "--beneficiary", beneficiary, "--kit", "HYG-KIT",
             "--officer", "ENT-OF-01", "--proof", "signature:sig-" + doc_number, "--consent"});
  }

  ProcessResult Server(std::vector<std::string> args) {
    return RunProcess(KITSYNC_SERVER_BIN, args, dir_.path().string(), kCommandTimeout);
  }

  int64_t PullCursorOf(const std::string& db) {
    return ReadOnlyDb(dir_.File(db)).QueryInt("SELECT value FROM meta WHERE key = 'pull_cursor'");
  }

  std::string DigestOf(const std::string& db) {
    auto store = core::Store::Open(dir_.File(db));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return {};
    auto digest = (*store)->DigestFacts();
    EXPECT_TRUE(digest.ok()) << digest.status().ToString();
    return digest.ok() ? digest->sha256_hex : std::string();
  }
};

TEST_F(RestoreEndToEndTest, TabletsThatPushedAndPulledAfterTheCopyEndWithTheRestoredServersFacts) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("b.db", "ENT tablet 2"));
  KitsyncJson("a.db", {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "20", "--officer",
                       "ENT-OF-01"});
  Serve("a.db", "A-1001");
  KitsyncJson("a.db", {"sync"});
  KitsyncJson("b.db", {"sync"});  // B learns of the post's stock
  Serve("b.db", "B-2001");
  KitsyncJson("b.db", {"sync"});
  KitsyncJson("a.db", {"sync"});

  const std::string copy = dir_.File("central-copy.db");
  const ProcessResult backup = Server({"backup", "--data", data_dir_, "--to", copy});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe({"backup"});
  const int64_t copy_head = ReadOnlyDb(copy).QueryInt("SELECT max(server_seq) FROM feed");

  // After the copy: A records and pushes more; B pulls it, past the copy's head.
  Serve("a.db", "A-1002");
  Serve("a.db", "A-1003");
  EXPECT_EQ(KitsyncJson("a.db", {"sync"}).value("pushed", -1), 4);
  EXPECT_EQ(KitsyncJson("b.db", {"sync"}).value("pulled", -1), 4);
  ASSERT_GT(PullCursorOf("b.db"), copy_head);
  const std::string first_epoch = KitsyncJson("b.db", {"status"}).value("pull_epoch", "");
  EXPECT_FALSE(first_epoch.empty());

  // The server's disk is lost; the copy is restored into a new data directory and served on
  // the address the tablets know.
  const std::string port = address_.substr(address_.rfind(':') + 1);
  server_->Stop();
  const std::string restored = dir_.File("restored");
  const ProcessResult restore = Server({"restore", "--from", copy, "--data", restored});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe({"restore"});
  EXPECT_NE(restore.out.find("new feed epoch"), std::string::npos) << restore.out;
  data_dir_ = restored;
  ASSERT_NO_FATAL_FAILURE(StartServer("127.0.0.1:" + port));

  // B first: its cursor lies beyond the restored feed's head. It lines up, and is not refused.
  const json b_lined_up = KitsyncJson("b.db", {"sync"});
  EXPECT_TRUE(b_lined_up.value("server_restored", false)) << b_lined_up.dump();
  EXPECT_EQ(PullCursorOf("b.db"), copy_head);
  // `kitsync status` says where B's pulls stand, under the restored server's new epoch.
  const json b_status = KitsyncJson("b.db", {"status"});
  EXPECT_EQ(b_status.value("pull_cursor", int64_t{-1}), copy_head) << b_status.dump();
  EXPECT_EQ(b_status.value("pull_epoch", ""),
            ReadOnlyDb(restored + "/server.db")
                .QueryText("SELECT epoch FROM feed_epochs ORDER BY seq DESC LIMIT 1"))
      << b_status.dump();
  EXPECT_NE(b_status.value("pull_epoch", ""), first_epoch);
  // The office writes at the post: an entry numbered right after the copy's head, which B's old
  // cursor would have stepped over.
  const ProcessResult receipt = Admin({"stock", "receive", "--post", "ENT", "--kit", "HYG-KIT",
                                       "--quantity", "40", "--officer", "ENT-OF-01"});
  ASSERT_EQ(receipt.exit_code, 0) << receipt.Describe({"stock", "receive"});
  // A's line-up finds the server lacking its last four changes and sends them again.
  const json a_again = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(a_again.value("pushed", -1), 4) << a_again.dump();
  EXPECT_TRUE(a_again.value("server_restored", false)) << a_again.dump();
  const json b_again = KitsyncJson("b.db", {"sync"});
  EXPECT_GE(b_again.value("pulled", -1), 5) << b_again.dump();  // the receipt and A's four

  // What the restored server holds for the post: a tablet enrolled there now, synced once.
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("c.db", "ENT tablet 3"));
  const std::string server_view = DigestOf("c.db");
  ASSERT_FALSE(server_view.empty());
  EXPECT_EQ(DigestOf("b.db"), server_view) << "B differs from the restored server";
  KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(DigestOf("a.db"), server_view) << "A differs from the restored server";
  const json stock = KitsyncJson("b.db", {"stock", "show"});
  ASSERT_EQ(stock["stock"].size(), 1u) << stock.dump();
  EXPECT_EQ(stock["stock"][0].value("received", -1), 60) << stock.dump();
  EXPECT_EQ(stock["stock"][0].value("handed_out", -1), 4) << stock.dump();
}

}  // namespace
}  // namespace kitsync::testing

// `kitsync backup` through the real binary: the copy is a tablet that shows what the original
// held, and a refused backup writes nothing anywhere.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kitsync_cli_fixture.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

TEST_F(KitsyncCliTest, BackupIsATabletWithTheSameHandoversAndPendingUploads) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string siti = Register("A1234567", "Siti Aminah");
  const std::string handover = RecordHygieneKit(siti);
  ASSERT_FALSE(handover.empty());

  const std::string copy = (dir_ / "card" / "tablet-backup.db").string();
  std::filesystem::create_directory(dir_ / "card");
  const json written = KitsyncJson({"backup", "--to", copy});
  EXPECT_EQ(written["backup"], copy);
  EXPECT_TRUE(written["chain"]["ok"].get<bool>());

  const json original = KitsyncJson({"status"});
  EXPECT_EQ(written["last_seq"], original["last_seq"]);
  EXPECT_EQ(written["pending"], original["pending"]);

  RunResult listed = KitsyncRaw({"--db", copy, "--json", "handovers"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const json handovers = json::parse(listed.out);
  ASSERT_EQ(handovers["count"], 1);
  EXPECT_EQ(handovers["handovers"][0]["id"], handover);
  // Written under a partial name, then renamed: nothing is left under that name.
  EXPECT_FALSE(std::filesystem::exists(copy + ".kitsync-partial"));
}

TEST_F(KitsyncCliTest, BackupOverAnExistingFileIsRefusedAndTheFileKept) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string copy = WriteFile("monday.db", "monday's backup");
  EXPECT_TRUE(RefusedUnchanged({"backup", "--to", copy}, 2,
                               {"backup not written", "already exists", "choose a new name"}));
  std::ifstream in(copy);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "monday's backup");
}

TEST_F(KitsyncCliTest, BackupToAMissingCardIsRefusedAndWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  const std::string copy = (dir_ / "sdcard" / "backup.db").string();
  EXPECT_TRUE(RefusedUnchanged({"backup", "--to", copy}, 4, {"backup not written", "sdcard"}));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "sdcard"));
}

TEST_F(KitsyncCliTest, BackupWithoutADestinationIsAUsageError) {
  ASSERT_NO_FATAL_FAILURE(SetUpStockedPost());
  EXPECT_TRUE(RefusedUnchanged({"backup"}, 2, {"--to"}));
}

}  // namespace
}  // namespace kitsync::testing

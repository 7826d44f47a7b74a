// Small files replaced whole: what a reader finds, who may read it, and the limits of reading.
#include "kitsync/core/durable_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::TempDir;

std::string Read(const std::string& path) {
  auto r = ReadSmallFile(path, 1 << 20);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && r->has_value() ? **r : std::string("<none>");
}

TEST(DurableFileTest, ReplacingLeavesTheNewContentReadableByTheOwnerAlone) {
  TempDir dir;
  const std::string path = dir.File("attempt");
  ASSERT_TRUE(ReplaceFileDurably(path, "first\n").ok());
  EXPECT_EQ(Read(path), "first\n");
  ASSERT_TRUE(ReplaceFileDurably(path, "second, longer\n").ok());
  EXPECT_EQ(Read(path), "second, longer\n");
  ASSERT_TRUE(ReplaceFileDurably(path, "").ok());
  EXPECT_EQ(Read(path), "");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(DurableFileTest, ALeftoverTemporaryFileFromACutWriteIsOverwritten) {
  TempDir dir;
  const std::string path = dir.File("attempt");
  std::ofstream(path + ".tmp") << "half a wri";
  ASSERT_TRUE(ReplaceFileDurably(path, "whole\n").ok());
  EXPECT_EQ(Read(path), "whole\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(DurableFileTest, AMissingDirectoryIsAnErrorAndCreatesNothing) {
  TempDir dir;
  const Status s = ReplaceFileDurably(dir.File("no-such-dir/attempt"), "x");
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_NE(s.message().find("no-such-dir"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.File("no-such-dir")));
}

TEST(DurableFileTest, ReadingTellsAMissingFileFromAnEmptyOneAndRefusesALargeOne) {
  TempDir dir;
  auto missing = ReadSmallFile(dir.File("none"), 10);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  std::ofstream(dir.File("empty")).flush();
  auto empty = ReadSmallFile(dir.File("empty"), 10);
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->has_value());
  EXPECT_EQ(**empty, "");
  std::ofstream(dir.File("large")) << std::string(11, 'x');
  EXPECT_EQ(ReadSmallFile(dir.File("large"), 10).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(ReadSmallFile(dir.File("large"), 11).ok());
}

}  // namespace
}  // namespace kitsync::core

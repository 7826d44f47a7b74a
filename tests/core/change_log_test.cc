#include "kitsync/core/change_log.h"

#include <gtest/gtest.h>

namespace kitsync::core {
namespace {

ChangeEntry Entry() {
  ChangeEntry e;
  e.seq = 1;
  e.hlc = {1000, 0};
  e.entity = "handover";
  e.entity_id = "x";
  e.op = "create";
  e.payload = "{}";
  return e;
}

TEST(ChangeLogTest, GenesisDiffersPerDevice) {
  EXPECT_NE(GenesisHash("device-a"), GenesisHash("device-b"));
  EXPECT_EQ(GenesisHash("device-a").size(), 32u);
}

TEST(ChangeLogTest, HashCoversEveryFieldAndThePreviousHash) {
  const std::string prev = GenesisHash("d");
  const std::string base = ChainHash(Entry(), prev);
  auto changed = [&](auto mutate) {
    ChangeEntry e = Entry();
    mutate(e);
    return ChainHash(e, prev) != base;
  };
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.seq = 2; }));
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.hlc.logical = 1; }));
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.entity = "beneficiary"; }));
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.entity_id = "y"; }));
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.op = "update"; }));
  EXPECT_TRUE(changed([](ChangeEntry& e) { e.payload = "{ }"; }));
  EXPECT_NE(ChainHash(Entry(), GenesisHash("other")), base);
}

TEST(ChangeLogTest, FieldBoundariesCannotBeShifted) {
  ChangeEntry a = Entry(), b = Entry();
  a.entity = "hand";
  a.entity_id = "overx";
  b.entity = "handover";
  b.entity_id = "x";
  EXPECT_NE(ChainHash(a, ""), ChainHash(b, ""));
}

}  // namespace
}  // namespace kitsync::core

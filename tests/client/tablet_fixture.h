// Real tablet databases for the client tests: one tablet under test and, for the feed, records
// made by a second tablet at the same post.
#pragma once

#include <memory>
#include <string>

#include "fake_transport.h"
#include "kitsync/core/store.h"
#include "test_support.h"

namespace kitsync::testing {

// Registers `n` beneficiaries (one change each) with document numbers "<prefix>-<i>".
void RegisterMany(core::Store& store, const std::string& prefix, int n);

// Puts every change of `other`'s log into the server's feed, as if `other` had pushed it.
void FeedFrom(core::Store& other, FakeServer& server);

// The sample master data as feed changes, so a pull brings it.
void FeedMasterData(FakeServer& server);

class TabletTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Opens another connection to the tablet's database, as another process would.
  std::unique_ptr<core::Store> OpenAgain() const;
  core::TabletStatus LocalStatus() const;
  int64_t PullCursor() const;

  TempDir dir_;
  std::string db_path_;
  std::unique_ptr<core::Store> tablet_;
  std::shared_ptr<FakeServer> server_;
  std::shared_ptr<FakeTransport> transport_;
};

}  // namespace kitsync::testing

#include "tablet_fixture.h"

#include "kitsync/core/canonical.h"

namespace kitsync::testing {

void RegisterMany(core::Store& store, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    core::BeneficiaryInput in;
    in.doc_number = prefix + "-" + std::to_string(i);
    in.full_name = "Person " + std::to_string(i);
    in.household_size = 1 + i % 5;
    auto b = store.RegisterBeneficiary(in);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
  }
}

void FeedFrom(core::Store& other, FakeServer& server) {
  auto entries = other.PendingChanges(1'000'000);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  for (const core::ChangeEntry& e : *entries) {
    auto record = core::DecodeLogged(e.entity, e.payload);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    server.AddToFeed(e.hlc, *record);
  }
}

void FeedMasterData(FakeServer& server) {
  const core::MasterData m = SampleMasterData();
  const core::Hlc when{1'790'000'000'000, 0};
  for (const auto& k : m.kit_types) server.AddToFeed(when, k);
  for (const auto& p : m.posts) server.AddToFeed(when, p);
  for (const auto& o : m.officers) server.AddToFeed(when, o);
  for (const auto& r : m.rounds) server.AddToFeed(when, r);
}

void TabletTest::SetUp() {
  db_path_ = dir_.File("tablet.db");
  core::StoreOptions options;
  options.durable = false;  // these tests are about protocol, not power loss
  tablet_ = MakeTablet(db_path_, options);
  ASSERT_NE(tablet_, nullptr);
  server_ = std::make_shared<FakeServer>(tablet_->identity().device_id);
  transport_ = std::make_shared<FakeTransport>(server_);
}

std::unique_ptr<core::Store> TabletTest::OpenAgain() const {
  auto store = core::Store::Open(db_path_);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

core::TabletStatus TabletTest::LocalStatus() const {
  auto status = tablet_->GetStatus();
  EXPECT_TRUE(status.ok()) << status.status().ToString();
  return status.ok() ? *status : core::TabletStatus();
}

int64_t TabletTest::PullCursor() const {
  auto cursor = tablet_->PullCursor();
  EXPECT_TRUE(cursor.ok());
  return cursor.ok() ? *cursor : -1;
}

}  // namespace kitsync::testing

// Stock at the post is derived from movements and handovers.
#include <gtest/gtest.h>

#include "kitsync/core/store.h"
#include "test_support.h"

namespace kitsync::core {
namespace {

using testing::CanonicalDump;
using testing::SampleHandover;

class StockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("tablet.db");
    store_ = testing::MakeTablet(path_);
    ASSERT_NE(store_, nullptr);
  }

  Status Move(MovementKind kind, const std::string& kit, int64_t qty,
              const std::string& other = "", const std::string& reason = "") {
    return store_->RecordMovement({kind, kit, qty, other, "REF-1", reason, "ENT-OF-1"}).status();
  }

  StockLine Line(const std::string& kit) {
    auto stock = store_->Stock();
    EXPECT_TRUE(stock.ok());
    for (const StockLine& l : *stock) {
      if (l.kit_type_code == kit) return l;
    }
    ADD_FAILURE() << "no stock line for " << kit;
    return {};
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(StockTest, BalanceIsReceiptsLessTransfersAdjustmentsAndHandovers) {
  ASSERT_TRUE(Move(MovementKind::kReceipt, "HYG-KIT", 100).ok());
  ASSERT_TRUE(Move(MovementKind::kTransferIn, "HYG-KIT", 20, "NUN").ok());
  ASSERT_TRUE(Move(MovementKind::kTransferOut, "HYG-KIT", 30, "NUN").ok());
  ASSERT_TRUE(Move(MovementKind::kAdjustment, "HYG-KIT", -3, "", "torn in transit").ok());
  auto b = store_->RegisterBeneficiary({"B7654321", "Siti", "", 1});
  ASSERT_TRUE(b.ok());
  auto h = store_->RecordHandover(SampleHandover(b->id));
  ASSERT_TRUE(h.ok());

  StockLine l = Line("HYG-KIT");
  EXPECT_EQ(l.received, 120);
  EXPECT_EQ(l.transferred, 30);
  EXPECT_EQ(l.adjusted, -3);
  EXPECT_EQ(l.handed_out, 1);
  EXPECT_EQ(l.balance, 86);
  EXPECT_EQ(Line("PPE-SET").balance, 0);

  ASSERT_TRUE(store_->VoidHandover({h->handover.id, "wrong person", "ENT-OF-1"}).ok());
  EXPECT_EQ(Line("HYG-KIT").balance, 87);
}

TEST_F(StockTest, PhysicalCountIsShownButDoesNotMoveTheBalance) {
  ASSERT_TRUE(Move(MovementKind::kReceipt, "HYG-KIT", 10).ok());
  ASSERT_TRUE(Move(MovementKind::kCount, "HYG-KIT", 9).ok());
  StockLine l = Line("HYG-KIT");
  EXPECT_EQ(l.balance, 10);
  ASSERT_TRUE(l.last_count.has_value());
  EXPECT_EQ(*l.last_count, 9);
}

TEST_F(StockTest, BadMovementsAreRefusedAndWriteNothing) {
  ASSERT_TRUE(Move(MovementKind::kReceipt, "HYG-KIT", 10).ok());
  const std::string before = CanonicalDump(path_);
  EXPECT_EQ(Move(MovementKind::kReceipt, "HYG-KIT", 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kReceipt, "NOPE", 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kAdjustment, "HYG-KIT", -1).code(), Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kAdjustment, "HYG-KIT", 0, "", "x").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kTransferOut, "HYG-KIT", 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kTransferOut, "HYG-KIT", 1, "XYZ").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kTransferOut, "HYG-KIT", 1, "ENT").code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Move(MovementKind::kTransferOut, "HYG-KIT", 11, "NUN").code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(Move(MovementKind::kReceipt, "HYG-KIT", 1, "NUN").code(), Code::kInvalidArgument);
  EXPECT_EQ(CanonicalDump(path_), before);
}

TEST_F(StockTest, BalanceFollowsWritesMadeThroughAnotherConnection) {
  ASSERT_TRUE(Move(MovementKind::kReceipt, "HYG-KIT", 10).ok());
  auto b = store_->RegisterBeneficiary({"B7654321", "Siti", "", 1});
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(store_->RecordHandover(SampleHandover(b->id)).ok());
  EXPECT_EQ(Line("HYG-KIT").balance, 9);  // this connection has now summed the handovers

  auto other = Store::Open(path_);  // e.g. the sync daemon beside the CLI
  ASSERT_TRUE(other.ok());
  auto c = (*other)->RegisterBeneficiary({"C1112223", "Ani", "", 1});
  ASSERT_TRUE(c.ok());
  auto h = (*other)->RecordHandover(SampleHandover(c->id));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(Line("HYG-KIT").balance, 8);
  ASSERT_TRUE((*other)->VoidHandover({h->handover.id, "duplicate", "ENT-OF-1"}).ok());
  EXPECT_EQ(Line("HYG-KIT").balance, 9);
}

TEST_F(StockTest, StockNeedsTheTabletsPostInMasterData) {
  auto bare = Store::Create(dir_.File("bare.db"), {"DUM", "t", "programme-key-0123", ""});
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ((*bare)->Stock().status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace kitsync::core

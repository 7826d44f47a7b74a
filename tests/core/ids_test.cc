#include "kitsync/core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace kitsync::core {
namespace {

TEST(IdsTest, UuidV7HasVersionAndVariantBits) {
  const std::string id = NewUuidV7();
  ASSERT_TRUE(IsValidUuid(id)) << id;
  EXPECT_EQ(id[14], '7');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
}

TEST(IdsTest, UuidV7IsStrictlyIncreasingWithinAProcess) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20'000; ++i) ids.push_back(NewUuidV7());
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << "at " << i;
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
}

TEST(IdsTest, RejectsMalformedUuids) {
  EXPECT_FALSE(IsValidUuid(""));
  EXPECT_FALSE(IsValidUuid("not-a-uuid"));
  EXPECT_FALSE(IsValidUuid("0192F5E4-7C3A-7B1E-9F00-3C5D2E1A4B6F"));  // upper case
  EXPECT_FALSE(IsValidUuid("0192f5e47c3a7b1e9f003c5d2e1a4b6f"));      // no dashes
  EXPECT_FALSE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6"));    // short
  EXPECT_FALSE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6g"));
  EXPECT_FALSE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4-6f"));  // a dash out of place
  EXPECT_FALSE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6/"));  // just below '0'
  EXPECT_FALSE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6:"));  // just above '9'
  EXPECT_FALSE(IsValidUuid(std::string("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6\0", 36)));
  EXPECT_TRUE(IsValidUuid("0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f"));
}

// Digits are checked a word at a time: every byte value at every digit position must be judged
// as a byte-by-byte check judges it.
TEST(IdsTest, EveryDigitPositionAcceptsExactlyLowerCaseHex) {
  const std::string valid = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f";
  for (size_t at = 0; at < valid.size(); ++at) {
    if (valid[at] == '-') continue;
    for (int c = 0; c < 256; ++c) {
      std::string id = valid;
      id[at] = static_cast<char>(c);
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      ASSERT_EQ(IsValidUuid(id), hex) << "byte " << c << " at " << at;
    }
  }
}

TEST(IdsTest, DocumentNumbersTypedDifferentlyNormalizeAlike) {
  EXPECT_EQ(NormalizeDocumentNumber(" a 123-456 7 "), "A1234567");
  EXPECT_EQ(NormalizeDocumentNumber("A1234567"), "A1234567");
}

TEST(IdsTest, DocumentHashIsHmacSha256OfTheNormalizedNumber) {
  // Reference value from an independent HMAC-SHA256 implementation.
  EXPECT_EQ(DocumentHash("programme-key-0123", "a 123-4567"),
            "5d04c02ca223859ac3bfd70fbb78c3c55c152a4f0796d342386aeb2ffd6d0353");
}

TEST(IdsTest, DocumentHashDependsOnTheProgrammeKey) {
  EXPECT_NE(DocumentHash("programme-key-0123", "A1234567"),
            DocumentHash("programme-key-0124", "A1234567"));
}

}  // namespace
}  // namespace kitsync::core

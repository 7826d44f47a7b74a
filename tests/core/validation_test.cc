#include "kitsync/core/validation.h"

#include <gtest/gtest.h>

#include <limits>

#include "kitsync/core/domain.h"

namespace kitsync::core {
namespace {

TEST(ValidationTest, CodesAreShortCapitalsDigitsAndDashes) {
  EXPECT_TRUE(ValidateCode("kit type code", "HYG-KIT").ok());
  EXPECT_EQ(ValidateCode("kit type code", "").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateCode("kit type code", "hyg-kit").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateCode("kit type code", "HYG KIT").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateCode("kit type code", std::string(kMaxCodeLength + 1, 'A')).code(),
            Code::kInvalidArgument);
}

TEST(ValidationTest, ErrorsNameTheField) {
  Status s = ValidateCode("kit type code", "bad code");
  EXPECT_NE(s.message().find("kit type code"), std::string::npos) << s.message();
}

TEST(ValidationTest, TextLengthCountsCharactersNotBytes) {
  std::string name;
  for (size_t i = 0; i < kMaxNameLength; ++i) name += "\xC3\xA9";  // é, two bytes each
  EXPECT_TRUE(ValidateText("name", name, kMaxNameLength, true).ok());
  EXPECT_EQ(ValidateText("name", name + "e", kMaxNameLength, true).code(),
            Code::kInvalidArgument);
}

TEST(ValidationTest, RefusesMissingRequiredTextAndBrokenUtf8) {
  EXPECT_EQ(ValidateText("name", "   ", 10, true).code(), Code::kInvalidArgument);
  EXPECT_TRUE(ValidateText("phone", "", 10, false).ok());
  EXPECT_EQ(ValidateText("name", "\xC3", 10, true).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateText("name", "\xFF\xFE", 10, true).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateText("name", "line\nbreak", 20, true).code(), Code::kInvalidArgument);
}

// A text checked in one pass reports the first of its faults in a fixed order: missing, broken
// UTF-8, a control character, too long.
TEST(ValidationTest, TextReportsItsFirstFaultInOrder) {
  auto problem = [](std::string_view text, size_t max_length, bool required) {
    const Status s = ValidateText("note", text, max_length, required);
    return s.ok() ? std::string("ok") : s.message().substr(std::string("note ").size());
  };
  EXPECT_EQ(problem(" \t ", 10, true), "is required");
  EXPECT_EQ(problem(" \t ", 10, false), "ok");
  EXPECT_EQ(problem("\t\x01", 10, true), "contains a control character");
  EXPECT_EQ(problem("ab\x01\xff", 10, true), "is not valid UTF-8 text");
  EXPECT_EQ(problem("\x01 \xe0\xb8", 10, true), "is not valid UTF-8 text");  // cut short
  EXPECT_EQ(problem("\xe0\xb8\x41", 10, true), "is not valid UTF-8 text");  // not continued
  EXPECT_EQ(problem("\x80", 10, false), "is not valid UTF-8 text");          // no lead byte
  EXPECT_EQ(problem("\xf8\x88\x80\x80\x80", 10, false), "is not valid UTF-8 text");
  EXPECT_EQ(problem("line\nbreak that is far too long", 5, true),
            "contains a control character");
  EXPECT_EQ(problem("\xf0\x9f\x98\x80\xe0\xb8\x81\xc3\xa9", 3, true), "ok");
  EXPECT_EQ(problem("\xf0\x9f\x98\x80\xe0\xb8\x81\xc3\xa9", 2, true), "is longer than 2 characters");
  EXPECT_EQ(problem("\x7f", 1, true), "ok");
}

TEST(ValidationTest, QuantityMustBePositiveAndSane) {
  EXPECT_TRUE(ValidateQuantity("quantity", 1).ok());
  EXPECT_TRUE(ValidateQuantity("quantity", kMaxQuantity).ok());
  EXPECT_EQ(ValidateQuantity("quantity", 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateQuantity("quantity", -1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateQuantity("quantity", kMaxQuantity + 1).code(), Code::kInvalidArgument);
}

TEST(ValidationTest, AnAdjustmentOfTheMostNegativeNumberIsRefusedNotNegated) {
  StockMovement m{"0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b60",
                  "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b61", MovementKind::kAdjustment,
                  std::numeric_limits<int64_t>::min(), "", "", "lost",
                  "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b62", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b63",
                  {1, 0}, 1};
  EXPECT_EQ(ValidateMovementRecord(m).code(), Code::kInvalidArgument);
  m.quantity = -kMaxQuantity;
  EXPECT_TRUE(ValidateMovementRecord(m).ok()) << ValidateMovementRecord(m).ToString();
}

TEST(ValidationTest, ADocumentHashIsSixtyFourLowerCaseHexDigits) {
  ServedSummary s{std::string(64, 'a'), "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f",
                  "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b70", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b71",
                  1};
  EXPECT_TRUE(ValidateServedSummary(s).ok());
  for (const std::string& bad : {std::string(63, 'a'), std::string(65, 'a'),
                                std::string(63, 'a') + "A", std::string(63, 'a') + "g",
                                std::string(63, 'a') + "/", std::string(63, 'a') + ":",
                                std::string(63, 'a') + std::string(1, '\0')}) {
    s.doc_hash = bad;
    EXPECT_EQ(ValidateServedSummary(s).code(), Code::kInvalidArgument) << bad;
  }
}

TEST(ValidationTest, IdsMustBeCanonicalUuids) {
  EXPECT_TRUE(ValidateId("beneficiary ID", "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f").ok());
  EXPECT_EQ(ValidateId("beneficiary ID", "42").code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateId("beneficiary ID", "").code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kitsync::core

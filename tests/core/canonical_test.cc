#include "kitsync/core/canonical.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kitsync::core {
namespace {

Handover FullHandover() {
  Handover h;
  h.id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f";
  h.round_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b60";
  h.beneficiary_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b61";
  h.kit_type_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b62";
  h.quantity = 2;
  h.post_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b63";
  h.officer_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b64";
  h.device_id = "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b65";
  h.hlc = {1'790'000'000'123, 4};
  h.wall_ms = 1'790'000'000'120;
  h.proof_kind = ProofKind::kVoucher;
  h.proof_ref = "QR-7781";
  h.collected_by = Collector::kProxy;
  h.proxy_relation = "spouse";
  h.consent = true;
  h.override_reason = "kit already given";
  h.overridden_warnings = {"stock-exceeded"};
  return h;
}

TEST(CanonicalTest, HandoverRoundTripsExactly) {
  const Handover h = FullHandover();
  const std::string bytes = EncodeHandover(h);
  auto back = DecodeHandover(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeHandover(*back), bytes);
  EXPECT_EQ(back->proxy_relation, "spouse");
  EXPECT_EQ(back->hlc, h.hlc);
  EXPECT_EQ(back->overridden_warnings, h.overridden_warnings);
}

TEST(CanonicalTest, EncodingIsIndependentOfFieldAssignmentOrder) {
  Handover a = FullHandover();
  Handover b;
  b.overridden_warnings = a.overridden_warnings;
  b.override_reason = a.override_reason;
  b.consent = a.consent;
  b.proxy_relation = a.proxy_relation;
  b.collected_by = a.collected_by;
  b.proof_ref = a.proof_ref;
  b.proof_kind = a.proof_kind;
  b.wall_ms = a.wall_ms;
  b.hlc = a.hlc;
  b.device_id = a.device_id;
  b.officer_id = a.officer_id;
  b.post_id = a.post_id;
  b.quantity = a.quantity;
  b.kit_type_id = a.kit_type_id;
  b.beneficiary_id = a.beneficiary_id;
  b.round_id = a.round_id;
  b.id = a.id;
  EXPECT_EQ(EncodeHandover(a), EncodeHandover(b));
}

TEST(CanonicalTest, MovementAndVoidAndBeneficiaryRoundTrip) {
  StockMovement m{"0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", "p", "k", MovementKind::kAdjustment,
                  -3, "", "", "water damage", "o", "d", {5, 1}, 9};
  auto m2 = DecodeMovement(EncodeMovement(m));
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(EncodeMovement(*m2), EncodeMovement(m));
  EXPECT_EQ(m2->quantity, -3);

  HandoverVoid v{"h", "wrong family", "o", "d", {7, 0}, 8};
  auto v2 = DecodeHandoverVoid(EncodeHandoverVoid(v));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(EncodeHandoverVoid(*v2), EncodeHandoverVoid(v));

  Beneficiary b{"b", "abc", "Siti", "", 4, "p", "d", {1, 2}};
  auto b2 = DecodeBeneficiary(EncodeBeneficiary(b));
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(EncodeBeneficiary(*b2), EncodeBeneficiary(b));
}

// The hand-written encoder must produce exactly a sorted-key JSON dump, or a receiver that
// re-encodes a decoded record would compute a different hash.
TEST(CanonicalTest, EncodingEqualsASortedKeyJsonDump) {
  Handover h = FullHandover();
  h.proxy_relation = "son \"Budi\" \\ \t\x01 ibu";  // quotes, backslash, control characters
  for (const std::string& bytes :
       {EncodeHandover(h), EncodeHandover(Handover{}),
        EncodeBeneficiary({"b", "abc", "Siti", "0812", 4, "p", "d", {1, 2}}),
        EncodeHandoverVoid({"h", "wrong \n family", "o", "d", {7, 0}, 8}),
        EncodeMovement({"m", "p", "k", MovementKind::kTransferOut, 3, "c", "WB-1", "", "o", "d",
                        {5, 1}, 9})}) {
    EXPECT_EQ(nlohmann::json::parse(bytes).dump(), bytes);
  }
}

// Text is scanned for characters to escape a word at a time: each such character must be
// found wherever it falls in a word, and the text around it copied unchanged.
TEST(CanonicalTest, EveryCharacterIsQuotedAsAJsonDumpQuotesItAtEveryPositionInAWord) {
  for (size_t length = 1; length <= 19; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (int c = 0; c < 0x80; ++c) {
        HandoverVoid v{"h", std::string(length, 'r'), "o", "d", {7, 0}, 8};
        v.reason[at] = static_cast<char>(c);
        const std::string bytes = EncodeHandoverVoid(v);
        ASSERT_EQ(nlohmann::json::parse(bytes).dump(), bytes)
            << "character " << c << " at " << at << " of " << length;
      }
    }
  }
  // Beyond ASCII, UTF-8 text is written as it is.
  const std::string name = "S\xc3\xadti \xe0\xb8\x81\xe0\xb8\xa5\xe0\xb8\xb2 \"Budi\"";
  HandoverVoid v{"h", name, "o", "d", {7, 0}, 8};
  EXPECT_EQ(nlohmann::json::parse(EncodeHandoverVoid(v)).dump(), EncodeHandoverVoid(v));
  EXPECT_EQ(DecodeHandoverVoid(EncodeHandoverVoid(v))->reason, name);
}

// Registrations are read without a DOM when their text is exactly as the encoder writes it, and
// through the DOM otherwise: every form JSON allows reads as the same record, and every malformed
// one is refused, whichever reader took it.
TEST(CanonicalTest, ARegistrationReadsTheSameWhateverFormItsJsonTakes) {
  const Beneficiary b{"0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f", "9f86d081884c7d65", "Siti/Nur",
                      "0812", 4, "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b63",
                      "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b65", {1'790'000'000'123, 7}};
  const std::string canonical = EncodeBeneficiary(b);
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string out = canonical;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  nlohmann::ordered_json reversed;
  const nlohmann::json sorted = nlohmann::json::parse(canonical);
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) reversed[it.key()] = it.value();
  for (const std::string& form :
       {canonical, sorted.dump(2), reversed.dump(), replaced("Siti/Nur", "Siti\\/Nur"),
        replaced("Siti", "\\u0053iti"), replaced("{", "{\"zzz_later\":\"x\",")}) {
    auto read = DecodeBeneficiary(form);
    ASSERT_TRUE(read.ok()) << form << ": " << read.status().ToString();
    EXPECT_EQ(EncodeBeneficiary(*read), canonical) << form;
  }

  // Every character a name may hold, escaped or not, and text beyond ASCII.
  for (int c = 1; c < 0x80; ++c) {
    Beneficiary one = b;
    one.full_name = std::string("a") + static_cast<char>(c) + "b";
    auto read = DecodeBeneficiary(EncodeBeneficiary(one));
    ASSERT_TRUE(read.ok()) << "character " << c;
    EXPECT_EQ(read->full_name, one.full_name) << "character " << c;
  }
  Beneficiary utf8 = b;
  utf8.full_name = "S\xc3\xadti \xe0\xb8\x81";
  EXPECT_EQ(DecodeBeneficiary(EncodeBeneficiary(utf8))->full_name, utf8.full_name);
  // A key twice: JSON readers keep the last.
  EXPECT_EQ(DecodeBeneficiary(replaced("{", "{\"name\":\"Ani\","))->full_name, "Siti/Nur");
  EXPECT_EQ(DecodeBeneficiary(replaced("\"post\"", "\"name\":\"Ani\",\"post\""))->full_name,
            "Ani");

  const std::string hlc = "\"hlc\":" + std::to_string(b.hlc.Pack());
  for (const std::string& bad :
       {replaced("\"household\":4", "\"household\":\"4\""), replaced(hlc, "\"hlc\":-1"),
        replaced(hlc, "\"hlc\":1.5"), replaced("\"household\":4", "\"household\":4e0"),
        replaced("\"id\"", "\"ident\""), replaced("Siti", "Si\xffti"), replaced("Siti", "Si\tti"),
        replaced("Siti", "Si\\qti"), canonical + "x", canonical.substr(0, canonical.size() - 1),
        replaced("\"household\":4", "\"household\":[4]")}) {
    EXPECT_EQ(DecodeBeneficiary(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  // Beyond int64 the DOM reads an unsigned number, and the household narrows as it always did.
  EXPECT_TRUE(DecodeBeneficiary(replaced(hlc, "\"hlc\":18446744073709551615")).ok());
}

TEST(CanonicalTest, MalformedPayloadIsAnErrorNotACrash) {
  EXPECT_EQ(DecodeHandover("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DecodeHandover("[]").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DecodeHandover("{\"id\":1}").status().code(), Code::kInvalidArgument);
  std::string bytes = EncodeHandover(FullHandover());
  bytes.replace(bytes.find("\"voucher\""), 9, "\"courier\"");
  EXPECT_EQ(DecodeHandover(bytes).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace kitsync::core

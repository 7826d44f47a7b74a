#include "kitsync/core/ids.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>

namespace kitsync::core {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

struct UuidState {
  std::mutex mu;
  std::mt19937_64 rng{std::random_device{}()};
  int64_t last_ms = 0;
  uint32_t counter = 0;  // the 12 rand_a bits, used as a sub-millisecond sequence
};

UuidState& State() {
  static UuidState state;
  return state;
}

}  // namespace

std::string ToHex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 0xf]);
  }
  return out;
}

std::string NewUuidV7() {
  UuidState& s = State();
  uint64_t rand_b;
  int64_t ms;
  uint32_t counter;
  {
    std::lock_guard lock(s.mu);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (now > s.last_ms) {
      s.last_ms = now;
      // Start low in the counter range so a burst in this millisecond has room to count up.
      s.counter = static_cast<uint32_t>(s.rng() & 0x3ff);
    } else if (++s.counter > 0xfff) {
      // Counter exhausted, or the clock went back: move to the next millisecond, keeping order.
      ++s.last_ms;
      s.counter = 0;
    }
    ms = s.last_ms;
    counter = s.counter;
    rand_b = s.rng();
  }
  std::array<unsigned char, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  b[6] = static_cast<unsigned char>(0x70 | ((counter >> 8) & 0x0f));
  b[7] = static_cast<unsigned char>(counter & 0xff);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<unsigned char>(rand_b >> (56 - 8 * i));
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant

  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHexDigits[b[i] >> 4]);
    out.push_back(kHexDigits[b[i] & 0xf]);
  }
  return out;
}

namespace {

// Whether each of the eight bytes of `w` is a lower-case hex digit, checked on the whole word:
// for bytes below 0x80, adding 0x80 - n sets a byte's high bit exactly when the byte is at least
// n, and carries into no other byte.
bool AllLowerHex(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  if (w & kHighBits) return false;
  auto at_least = [](uint64_t v, uint64_t n) { return (v + kOnes * (0x80 - n)) & kHighBits; };
  const uint64_t digit = at_least(w, '0') & ~at_least(w, '9' + 1);
  const uint64_t letter = at_least(w, 'a') & ~at_least(w, 'f' + 1);
  return (digit | letter) == kHighBits;
}

uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Two runs of four bytes as one word (which byte lands where does not matter to AllLowerHex).
uint64_t Load4And4(const char* a, const char* b) {
  uint32_t low, high;
  std::memcpy(&low, a, sizeof low);
  std::memcpy(&high, b, sizeof high);
  return low | (uint64_t{high} << 32);
}

}  // namespace

bool IsValidUuid(std::string_view s) {
  // Every ID of every record is checked, several per handover: the four dashes in place, and
  // the 32 digits of 8-4-4-4-12 as four words.
  if (s.size() != 36) return false;
  if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  const char* p = s.data();
  return AllLowerHex(Load8(p)) && AllLowerHex(Load4And4(p + 9, p + 14)) &&
         AllLowerHex(Load4And4(p + 19, p + 24)) && AllLowerHex(Load8(p + 28));
}

std::string NormalizeDocumentNumber(std::string_view doc_number) {
  std::string out;
  out.reserve(doc_number.size());
  for (unsigned char c : doc_number) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::toupper(c)));
  }
  return out;
}

std::string DocumentHash(std::string_view programme_key, std::string_view doc_number) {
  const std::string normalized = NormalizeDocumentNumber(doc_number);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), programme_key.data(), static_cast<int>(programme_key.size()),
       reinterpret_cast<const unsigned char*>(normalized.data()), normalized.size(), mac,
       &mac_len);
  return ToHex(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

}  // namespace kitsync::core

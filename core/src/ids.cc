#include "kitsync/core/ids.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
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

bool IsValidUuid(std::string_view s) {
  // Every ID of every record is checked, several per handover: the four dashes in place, and a
  // table lookup per other character.
  static constexpr auto kLowerHex = [] {
    std::array<bool, 256> t{};
    for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
    for (char c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  if (s.size() != 36) return false;
  if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  bool ok = true;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25,
                   26, 27, 28, 29, 30, 31, 32, 33, 34, 35}) {
    ok &= kLowerHex[static_cast<unsigned char>(s[i])];
  }
  return ok;
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

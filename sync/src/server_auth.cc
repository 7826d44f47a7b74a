#include "kitsync/sync/server_auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <memory>

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

constexpr size_t kTokenBytes = 32;
// Crockford's base32: no I, L, O, U, so nothing reads as another character.
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kCodeChars = 12;

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

Result<std::string> NewToken(std::string_view prefix) {
  ASSIGN_OR_RETURN(std::string bytes, RandomBytes(kTokenBytes));
  return std::string(prefix) + Base64Url(bytes);
}

}  // namespace

Result<std::string> RandomBytes(size_t bytes) {
  std::string out(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1) {
    return Status::Internal("the system's random number generator failed");
  }
  return out;
}

Result<std::string> NewAdminToken() { return NewToken("ksa_"); }
Result<std::string> NewDeviceToken() { return NewToken("ksd_"); }

bool IsWellFormedDeviceToken(std::string_view token) {
  constexpr std::string_view kPrefix = "ksd_";
  constexpr size_t kChars = (kTokenBytes * 8 + 5) / 6;
  if (token.size() != kPrefix.size() + kChars || token.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  for (char c : token.substr(kPrefix.size())) {
    const bool base64url = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!base64url) return false;
  }
  return true;
}

Result<std::string> NewEnrolmentCode() {
  ASSIGN_OR_RETURN(std::string bytes, RandomBytes(kCodeChars));
  std::string out;
  for (int i = 0; i < kCodeChars; ++i) {
    if (i > 0 && i % 4 == 0) out.push_back('-');
    // 256 is a multiple of 32, so taking the low 5 bits keeps every character equally likely.
    out.push_back(kCrockford[static_cast<unsigned char>(bytes[i]) & 0x1f]);
  }
  return out;
}

std::string NormalizeEnrolmentCode(std::string_view code) {
  std::string out;
  for (char raw : code) {
    if (raw == '-' || raw == ' ') continue;
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    out.push_back(c);
  }
  return out;
}

std::string Sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool DigestsEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\r')) token.remove_suffix(1);
  return std::string(token);
}

}  // namespace kitsync::sync

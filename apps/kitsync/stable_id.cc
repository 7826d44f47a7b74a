#include "stable_id.h"

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace kitsync::cli {
namespace {

// Fixed forever: changing it would give every existing master record a new ID.
constexpr std::array<unsigned char, 16> kMasterNamespace = {
    0x6b, 0x69, 0x74, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x4d, 0x8a, 0x53, 0x54, 0x45, 0x52, 0x00, 0x01};

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string StableMasterId(std::string_view entity, std::string_view code) {
  const std::string name = std::string(entity) + ":" + std::string(code);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), kMasterNamespace.data(), kMasterNamespace.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), name.data(), name.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &digest_len) != 1 || digest_len < 16) {
    throw std::runtime_error("SHA-1 is unavailable in this OpenSSL build");
  }
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC variant

  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace kitsync::cli

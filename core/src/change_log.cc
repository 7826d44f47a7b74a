#include "kitsync/core/change_log.h"

#include <openssl/evp.h>

#include <memory>

namespace kitsync::core {
namespace {

// One digest context per thread, reset for each hash: allocating a context costs as much as
// hashing a short entry, and every recorded fact is hashed.
class Sha256 {
 public:
  Sha256() : ctx_(ThreadContext()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

  void AddU64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
    EVP_DigestUpdate(ctx_, b, sizeof b);
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void AddString(std::string_view s) {
    AddU64(s.size());
    EVP_DigestUpdate(ctx_, s.data(), s.size());
  }
  std::string Finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  static EVP_MD_CTX* ThreadContext() {
    thread_local std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
    return ctx.get();
  }
  EVP_MD_CTX* ctx_;
};

}  // namespace

std::string GenesisHash(const std::string& device_id) {
  Sha256 h;
  h.AddString("kitsync.v1.genesis");
  h.AddString(device_id);
  return h.Finish();
}

std::string ChainHash(const ChangeEntry& e, const std::string& prev_hash) {
  Sha256 h;
  h.AddString("kitsync.v1");
  h.AddU64(static_cast<uint64_t>(e.seq));
  h.AddU64(e.hlc.Pack());
  h.AddString(e.entity);
  h.AddString(e.entity_id);
  h.AddString(e.op);
  h.AddString(e.payload);
  h.AddString(prev_hash);
  return h.Finish();
}

}  // namespace kitsync::core

#include "kitsync/core/change_log.h"

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace kitsync::core {
namespace {

// Each hashed field is length-prefixed and appended to one buffer, which is digested in a single
// update: a digest update costs about as much as hashing a short field, and every recorded fact
// is hashed (a bulk import hashes every row). The context and the buffer are per thread and
// reused; the digest is fetched once, since OpenSSL 3 would look it up again on every init.
class Sha256 {
 public:
  Sha256() : buffer_(ThreadBuffer()) { buffer_.clear(); }

  void AddU64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (56 - 8 * i));
    buffer_.append(b, sizeof b);
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void AddString(std::string_view s) {
    AddU64(s.size());
    buffer_.append(s);
  }
  std::string Finish() {
    EVP_MD_CTX* ctx = ThreadContext();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, Digest(), nullptr);
    EVP_DigestUpdate(ctx, buffer_.data(), buffer_.size());
    EVP_DigestFinal_ex(ctx, out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
  }

 private:
  struct FreeCtx {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  struct FreeMd {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  static EVP_MD_CTX* ThreadContext() {
    thread_local std::unique_ptr<EVP_MD_CTX, FreeCtx> ctx(EVP_MD_CTX_new());
    return ctx.get();
  }
  static std::string& ThreadBuffer() {
    thread_local std::string buffer;
    return buffer;
  }
  static const EVP_MD* Digest() {
    static const std::unique_ptr<EVP_MD, FreeMd> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    return md ? md.get() : EVP_sha256();
  }
  std::string& buffer_;
};

}  // namespace

std::string GenesisHash(const std::string& device_id) {
  Sha256 h;
  h.AddString("kitsync.v1.genesis");
  h.AddString(device_id);
  return h.Finish();
}

std::string ChainHash(const ChangeEntry& e, const std::string& prev_hash) {
  return ChainHash(e.seq, e.hlc, e.entity, e.entity_id, e.op, e.payload, prev_hash);
}

std::string ChainHash(int64_t seq, Hlc hlc, std::string_view entity, std::string_view entity_id,
                      std::string_view op, std::string_view payload, std::string_view prev_hash) {
  Sha256 h;
  h.AddString("kitsync.v1");
  h.AddU64(static_cast<uint64_t>(seq));
  h.AddU64(hlc.Pack());
  h.AddString(entity);
  h.AddString(entity_id);
  h.AddString(op);
  h.AddString(payload);
  h.AddString(prev_hash);
  return h.Finish();
}

}  // namespace kitsync::core

#include "auth/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace reservoir::auth {
namespace {

[[noreturn]] void crypto_failure(const char* what) {
  std::fprintf(stderr, "reservoir: OpenSSL %s failed\n", what);
  std::abort();
}

// Algorithms fetched once: with OpenSSL 3, EVP_sha256() and HMAC() look the algorithm up by
// name in the provider store on every call (locks, property matching, a MAC context built
// and freed), which cost more than the hashing itself in a SCRAM login.
const EVP_MD* fetched(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) crypto_failure("EVP_MD_fetch");
  return md;  // kept for the life of the process
}

const EVP_MD* sha256_md() {
  static const EVP_MD* md = fetched("SHA2-256");
  return md;
}

const EVP_MD* md5_md() {
  static const EVP_MD* md = fetched("MD5");
  return md;
}

// One digest context per thread, reused (initialising it again costs no allocation).
EVP_MD_CTX* thread_ctx() {
  struct Holder {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Holder() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (holder.ctx == nullptr) crypto_failure("EVP_MD_CTX_new");
  return holder.ctx;
}

// Digest of the concatenation of `parts` into `out` (at least the digest's size).
void digest_into(const EVP_MD* md, std::initializer_list<ByteView> parts, std::uint8_t* out) {
  EVP_MD_CTX* ctx = thread_ctx();
  if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1) crypto_failure("EVP_DigestInit_ex2");
  for (ByteView part : parts) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) crypto_failure("EVP_DigestUpdate");
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out, &len) != 1) crypto_failure("EVP_DigestFinal_ex");
}

Bytes digest(const EVP_MD* md, ByteView data) {
  Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
  digest_into(md, {data}, out.data());
  return out;
}

constexpr std::size_t kSha256BlockBytes = 64;

}  // namespace

Bytes sha256(ByteView data) { return digest(sha256_md(), data); }

// HMAC (RFC 2104) over the cached SHA-256: H((K ^ opad) || H((K ^ ipad) || data)).
Bytes hmac_sha256(ByteView key, ByteView data) {
  std::array<std::uint8_t, kSha256BlockBytes> block{};
  if (key.size() > block.size()) {
    digest_into(sha256_md(), {key}, block.data());  // a long key is hashed first
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  std::array<std::uint8_t, kSha256BlockBytes> pad;
  for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x36;
  std::array<std::uint8_t, kSha256Bytes> inner;
  digest_into(sha256_md(), {pad, data}, inner.data());
  for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x5c;
  Bytes out(kSha256Bytes);
  digest_into(sha256_md(), {pad, inner}, out.data());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return out;
}

Bytes pbkdf2_sha256(std::string_view password, ByteView salt, int iterations) {
  Bytes out(kSha256Bytes);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), iterations, sha256_md(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    crypto_failure("PKCS5_PBKDF2_HMAC");
  }
  return out;
}

std::string md5_hex(ByteView data) { return to_hex(digest(md5_md(), data)); }

std::string to_hex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

bool equal_constant_time(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace reservoir::auth

#include "auth/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>

namespace reservoir::auth {
namespace {

[[noreturn]] void crypto_failure(const char* what) {
  std::fprintf(stderr, "reservoir: OpenSSL %s failed\n", what);
  std::abort();
}

Bytes digest(const EVP_MD* md, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    crypto_failure("EVP_Digest");
  }
  out.resize(len);
  return out;
}

}  // namespace

Bytes sha256(ByteView data) { return digest(EVP_sha256(), data); }

Bytes hmac_sha256(ByteView key, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           out.data(), &len) == nullptr) {
    crypto_failure("HMAC");
  }
  out.resize(len);
  return out;
}

Bytes pbkdf2_sha256(std::string_view password, ByteView salt, int iterations) {
  Bytes out(kSha256Bytes);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    crypto_failure("PKCS5_PBKDF2_HMAC");
  }
  return out;
}

std::string md5_hex(ByteView data) { return to_hex(digest(EVP_md5(), data)); }

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

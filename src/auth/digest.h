#pragma once
// Thin wrappers over OpenSSL's digests for auth/: fixed-size outputs, no error paths (the
// primitives fail only on allocation failure, where the process aborts).
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace reservoir::auth {

inline constexpr std::size_t kSha256Bytes = 32;

Bytes sha256(ByteView data);
Bytes hmac_sha256(ByteView key, ByteView data);
// PBKDF2-HMAC-SHA256 producing kSha256Bytes; precondition: iterations >= 1.
Bytes pbkdf2_sha256(std::string_view password, ByteView salt, int iterations);
// Lowercase hex of md5(data).
std::string md5_hex(ByteView data);
// Lowercase hex.
std::string to_hex(ByteView data);
// Constant-time equality (CRYPTO_memcmp); different lengths compare unequal.
bool equal_constant_time(ByteView a, ByteView b);

}  // namespace reservoir::auth

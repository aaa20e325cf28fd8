#pragma once
// Authentication* ('R', backend): one message type whose first int32 says which request.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

// The request code. Values not listed still decode (the enum holds any int32) so the proxy
// can refuse them by number.
enum class AuthCode : std::int32_t {
  kOk = 0,
  kKerberosV5 = 2,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kGss = 7,
  kGssContinue = 8,
  kSspi = 9,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

struct Authentication {
  AuthCode code = AuthCode::kOk;
  std::array<std::uint8_t, 4> salt{};   // kMd5Password
  std::vector<std::string> mechanisms;  // kSasl, in server preference order
  Bytes data;                           // kSaslContinue, kSaslFinal; raw rest for other codes

  static Authentication ok() { return {}; }
  static Authentication cleartext_password();
  static Authentication md5_password(std::array<std::uint8_t, 4> salt);
  static Authentication sasl(std::vector<std::string> mechanisms);
  static Authentication sasl_continue(Bytes data);
  static Authentication sasl_final(Bytes data);

  // True for the codes this layer understands in full (Ok, Cleartext, MD5, SASL*).
  bool is_supported() const;

  // Decodes the body of an 'R' message. Ok/Cleartext must have no payload, MD5 exactly a
  // 4-byte salt, SASL a NUL-terminated list ending with an empty name; other codes keep
  // their payload in `data`. Errors: 08P01.
  [[nodiscard]] static Result<Authentication> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;
  // Appends a SASLContinue or SASLFinal carrying `data`, as sasl_continue(data).encode(out)
  // would, without building the message first (a login sends two of them).
  static void encode_sasl_step(Bytes& out, AuthCode code, ByteView data);

  bool operator==(const Authentication&) const = default;
};

}  // namespace reservoir::protocol

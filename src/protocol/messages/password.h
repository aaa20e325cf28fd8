#pragma once
// The 'p' family (frontend). The type byte alone does not say which message it is: the
// receiver knows from the authentication exchange in progress, hence three structs.
#include <cstdint>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

// PasswordMessage: a cleartext password or an "md5..." hash.
struct PasswordMessage {
  std::string password;

  // Decodes one NUL-terminated string filling the body. Errors: 08P01.
  [[nodiscard]] static Result<PasswordMessage> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const PasswordMessage&) const = default;
};

// SASLInitialResponse: the chosen mechanism and optional client-first data.
struct SaslInitialResponse {
  std::string mechanism;
  std::optional<Bytes> data;  // nullopt is sent as length -1

  // Decodes mechanism, int32 length (-1 = none) and exactly that many bytes. Errors: 08P01.
  [[nodiscard]] static Result<SaslInitialResponse> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const SaslInitialResponse&) const = default;
};

// SASLResponse: raw mechanism data (e.g. SCRAM client-final).
struct SaslResponse {
  Bytes data;

  // Takes the whole body as data. Never fails.
  [[nodiscard]] static Result<SaslResponse> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const SaslResponse&) const = default;
};

}  // namespace reservoir::protocol

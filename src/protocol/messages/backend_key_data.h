#pragma once
// BackendKeyData ('K', backend): the key a client needs to cancel this backend's queries.
#include <cstdint>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct BackendKeyData {
  std::int32_t pid = 0;
  std::int32_t secret = 0;

  // Decodes exactly 8 bytes (protocol 3.0 keys). Errors: 08P01.
  [[nodiscard]] static Result<BackendKeyData> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const BackendKeyData&) const = default;
};

}  // namespace reservoir::protocol

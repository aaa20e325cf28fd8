#pragma once
// Execute ('E', frontend): run a portal.
#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct Execute {
  std::string portal;
  std::int32_t max_rows = 0;  // 0 = no limit

  // Decodes portal name and int32 row limit. Errors: 08P01.
  [[nodiscard]] static Result<Execute> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const Execute&) const = default;
};

}  // namespace reservoir::protocol

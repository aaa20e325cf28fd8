#pragma once
// Bind ('B', frontend): bind parameters to a prepared statement, creating a portal.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct Bind {
  std::string portal;                        // "" = unnamed portal
  std::string statement;                     // "" = unnamed statement
  std::vector<std::int16_t> param_formats;   // 0 text, 1 binary; empty/one/one per param
  std::vector<std::optional<Bytes>> params;  // nullopt = SQL NULL (length -1)
  std::vector<std::int16_t> result_formats;

  // Decodes the full layout. Every count and length is checked against the bytes left
  // before anything is allocated; negative counts and lengths below -1 are refused.
  // Errors: 08P01.
  [[nodiscard]] static Result<Bind> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const Bind&) const = default;
};

}  // namespace reservoir::protocol

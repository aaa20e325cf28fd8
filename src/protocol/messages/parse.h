#pragma once
// Parse ('P', frontend): prepare a statement.
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct Parse {
  std::string name;  // "" = unnamed statement
  std::string query;
  std::vector<std::uint32_t> param_types;  // OIDs; 0 = unspecified

  // Decodes name, query, int16 count and that many OIDs. The count is checked against the
  // body before anything is allocated. Errors: 08P01.
  [[nodiscard]] static Result<Parse> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const Parse&) const = default;
};

}  // namespace reservoir::protocol

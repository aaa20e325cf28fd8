#pragma once
// Query ('Q', frontend): a simple-protocol query string.
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct Query {
  std::string sql;

  // Decodes one NUL-terminated string filling the body. Errors: 08P01.
  [[nodiscard]] static Result<Query> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const Query&) const = default;
};

}  // namespace reservoir::protocol

#pragma once
// ParameterStatus ('S', backend): a run-time parameter's current value.
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct ParameterStatus {
  std::string name;
  std::string value;

  // Decodes two NUL-terminated strings filling the body. Errors: 08P01.
  [[nodiscard]] static Result<ParameterStatus> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;
  // The same without building the struct (no string copies).
  static void encode(Bytes& out, std::string_view name, std::string_view value);

  bool operator==(const ParameterStatus&) const = default;
};

}  // namespace reservoir::protocol

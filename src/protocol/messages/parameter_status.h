#pragma once
// ParameterStatus ('S', backend): a run-time parameter's current value.
#include <string>

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

  bool operator==(const ParameterStatus&) const = default;
};

}  // namespace reservoir::protocol

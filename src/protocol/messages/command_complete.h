#pragma once
// CommandComplete ('C', backend): the command tag, e.g. "SELECT 3".
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct CommandComplete {
  std::string tag;

  // Decodes one NUL-terminated string filling the body. Errors: 08P01.
  [[nodiscard]] static Result<CommandComplete> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const CommandComplete&) const = default;
};

}  // namespace reservoir::protocol

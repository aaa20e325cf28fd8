#pragma once
// Describe ('D', frontend) and Close ('C', frontend): same layout, a target kind ('S'
// prepared statement or 'P' portal) and its name.
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

namespace target {
inline constexpr char kStatement = 'S';
inline constexpr char kPortal = 'P';
}  // namespace target

template <char Type>
struct TargetMessage {
  static constexpr char kType = Type;
  char kind = target::kStatement;
  std::string name;  // "" = the unnamed statement or portal

  // Decodes kind ('S' or 'P') and a NUL-terminated name filling the body. Errors: 08P01.
  [[nodiscard]] static Result<TargetMessage> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const TargetMessage&) const = default;
};

using Describe = TargetMessage<msg::kDescribe>;
using Close = TargetMessage<msg::kClose>;

extern template struct TargetMessage<msg::kDescribe>;
extern template struct TargetMessage<msg::kClose>;

}  // namespace reservoir::protocol

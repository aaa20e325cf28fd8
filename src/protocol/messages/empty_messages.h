#pragma once
// Messages whose body is always empty, in both directions.
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

template <char Type>
struct EmptyMessage {
  static constexpr char kType = Type;

  // Accepts only an empty body. Errors: 08P01.
  [[nodiscard]] static Result<EmptyMessage> decode(ByteView body) {
    if (!body.empty()) {
      return protocol_violation(std::string("unexpected body in message type '") + Type + "'");
    }
    return EmptyMessage{};
  }
  // Appends the whole message (5 bytes).
  void encode(Bytes& out) const { FrameBuilder(out, Type).finish(); }

  bool operator==(const EmptyMessage&) const = default;
};

// Backend.
using EmptyQueryResponse = EmptyMessage<msg::kEmptyQueryResponse>;
using ParseComplete = EmptyMessage<msg::kParseComplete>;
using BindComplete = EmptyMessage<msg::kBindComplete>;
using CloseComplete = EmptyMessage<msg::kCloseComplete>;
using NoData = EmptyMessage<msg::kNoData>;
using PortalSuspended = EmptyMessage<msg::kPortalSuspended>;
// Frontend.
using Sync = EmptyMessage<msg::kSync>;
using Flush = EmptyMessage<msg::kFlush>;
using Terminate = EmptyMessage<msg::kTerminate>;
// Both.
using CopyDone = EmptyMessage<msg::kCopyDone>;

}  // namespace reservoir::protocol

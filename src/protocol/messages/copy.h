#pragma once
// CopyData ('d', both directions) and CopyFail ('f', frontend). CopyDone is in
// empty_messages.h.
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct CopyData {
  Bytes data;

  // Takes the whole body as data. Never fails.
  [[nodiscard]] static Result<CopyData> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const CopyData&) const = default;
};

struct CopyFail {
  std::string message;

  // Decodes one NUL-terminated string filling the body. Errors: 08P01.
  [[nodiscard]] static Result<CopyFail> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const CopyFail&) const = default;
};

}  // namespace reservoir::protocol

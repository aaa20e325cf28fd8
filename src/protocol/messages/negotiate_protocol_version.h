#pragma once
// NegotiateProtocolVersion ('v', backend): the newest minor version the server supports and
// the protocol options ("_pq_.*") it did not recognise.
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::protocol {

struct NegotiateProtocolVersion {
  std::int32_t newest_minor = 0;
  std::vector<std::string> unrecognized_options;

  // Decodes minor version, option count and that many strings. Errors: 08P01.
  [[nodiscard]] static Result<NegotiateProtocolVersion> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const NegotiateProtocolVersion&) const = default;
};

}  // namespace reservoir::protocol

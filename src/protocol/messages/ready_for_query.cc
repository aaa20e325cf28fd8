#include "protocol/messages/ready_for_query.h"

#include <string>

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<ReadyForQuery> ReadyForQuery::decode(ByteView body) {
  ByteReader r(body);
  std::uint8_t status = 0;
  (void)r.u8(status);
  if (auto st = finish_decode(r, "ReadyForQuery"); !st) return st.error();
  const char c = static_cast<char>(status);
  if (c != tx_status::kIdle && c != tx_status::kInTransaction && c != tx_status::kFailed) {
    return protocol_violation("invalid ReadyForQuery status " + std::to_string(status));
  }
  return ReadyForQuery{c};
}

void ReadyForQuery::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kReadyForQuery);
  frame.body().u8(static_cast<std::uint8_t>(status));
  frame.finish();
}

}  // namespace reservoir::protocol

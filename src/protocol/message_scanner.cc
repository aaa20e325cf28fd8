#include "protocol/message_scanner.h"

#include <string>

#include "protocol/errors.h"
#include "protocol/frame_length.h"

namespace reservoir::protocol {

Status MessageScanner::check_header(const MessageHeader& h) {
  Status st = check_message_length(h.type, h.length, max_packet_size_);
  if (st) st = protocol_violation("invalid ReadyForQuery length " + std::to_string(h.length));
  error_ = st.error();
  return st;
}

}  // namespace reservoir::protocol

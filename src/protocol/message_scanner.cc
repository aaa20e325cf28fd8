#include "protocol/message_scanner.h"

#include <array>
#include <string>
#include <string_view>

#include "protocol/errors.h"
#include "protocol/frame_length.h"

namespace reservoir::protocol {

namespace {

std::string type_text(char type) {
  const auto byte = static_cast<unsigned char>(type);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + type + "'";
  return "byte " + std::to_string(byte);
}

}  // namespace

Status MessageScanner::check_header(const MessageHeader& h) {
  // Called when header_valid() failed: one of these says why.
  Status st = check_message_length(h.type, h.length, max_packet_size_);
  if (!st) {
  } else if (h.type == kReadyForQueryType && h.length != 5) {
    st = protocol_violation("invalid ReadyForQuery length " + std::to_string(h.length));
  } else if (!backend_type(h.type)) {
    st = protocol_violation("invalid message type " + type_text(h.type) + " from the server");
  } else {
    st = protocol_violation("invalid length " + std::to_string(h.length) + " for message type " +
                            type_text(h.type) + " from the server");
  }
  error_ = st.error();
  return st;
}

Status MessageScanner::bad_status(char status) {
  error_ =
      protocol_violation("invalid ReadyForQuery status " + type_text(status) + " from the server");
  return *error_;
}

}  // namespace reservoir::protocol

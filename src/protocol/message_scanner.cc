#include "protocol/message_scanner.h"

#include <array>
#include <string>
#include <string_view>

#include "protocol/errors.h"
#include "protocol/frame_length.h"

namespace reservoir::protocol {

namespace {

constexpr std::array<std::uint8_t, 256> make_backend_shapes() {
  std::array<std::uint8_t, 256> shapes{};
  for (unsigned char t : std::string_view("ACDEGHKNRSTVWZdtv")) shapes[t] = 1;
  // ParseComplete, BindComplete, CloseComplete, NoData, PortalSuspended, CopyDone,
  // EmptyQueryResponse: a header and nothing else.
  for (unsigned char t : std::string_view("123nscI")) shapes[t] = 4;
  return shapes;
}
constexpr std::array<std::uint8_t, 256> kBackendShapes = make_backend_shapes();

std::string type_text(char type) {
  const auto byte = static_cast<unsigned char>(type);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + type + "'";
  return "byte " + std::to_string(byte);
}

}  // namespace

std::uint8_t MessageScanner::backend_shape(char type) {
  return kBackendShapes[static_cast<unsigned char>(type)];
}

Status MessageScanner::check_header(const MessageHeader& h) {
  // Called when header_valid() failed: one of these says why.
  Status st = check_message_length(h.type, h.length, max_packet_size_);
  if (!st) {
  } else if (h.type == kReadyForQueryType && h.length != 5) {
    st = protocol_violation("invalid ReadyForQuery length " + std::to_string(h.length));
  } else if (backend_shape(h.type) == 0) {
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

#pragma once
// The one check every typed-message header gets before anything else happens.
#include <cstdint>

#include "common/result.h"

namespace reservoir::protocol {

// Checks a typed message's length field (which counts itself): < 4 -> 08P01
// "invalid message length", > max_packet_size -> 54000 "message too long". `type` only
// names the message in the error text.
[[nodiscard]] Status check_message_length(char type, std::uint32_t length,
                                          std::uint32_t max_packet_size);

}  // namespace reservoir::protocol

#pragma once
// The untyped first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest or
// CancelRequest. Each is a 4-byte length (counting itself) followed by a 4-byte code.
//
// Reading one from a client:
//   read 4 bytes -> startup_length(first4) -> read the remaining (length - 4) bytes
//   -> decode_startup(all bytes incl. the prefix) -> std::visit on the StartupPacket.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/limits.h"

namespace reservoir::protocol {

using StartupParams = std::vector<std::pair<std::string, std::string>>;

struct StartupMessage {
  std::uint32_t version = kProtocolVersion3;  // major << 16 | minor; major is always 3
  StartupParams params;                       // in wire order, duplicates kept

  // The value of `key`, the last one if repeated (as PostgreSQL does); "" if absent.
  std::string get(std::string_view key) const;
  // True if `key` appears at all (even with an empty value).
  bool has(std::string_view key) const;
};

struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  std::int32_t pid = 0;
  std::int32_t secret = 0;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

// Validates the 4-byte big-endian length prefix of a startup packet (only the first 4 bytes
// of `first4` are looked at) and returns the whole packet length, prefix included.
// Errors: fewer than 4 bytes or length < 8 -> 08P01; length > kMaxStartupPacketSize -> 54000.
// Call before allocating room for the rest of the packet.
[[nodiscard]] Result<std::uint32_t> startup_length(ByteView first4);

// Decodes a whole startup packet, length prefix included; the prefix must equal the size of
// `whole_packet`. Errors (08P01 unless noted): bad length; special request with the wrong
// length; major version other than 3 ("unsupported frontend protocol 4.0: server supports
// 3.0 to 3.0"); parameters not NUL-terminated pairs ending in an empty name; no `user`
// (28000 "no PostgreSQL user name specified in startup packet"). A minor version above 0
// is returned unchanged so the caller can answer with NegotiateProtocolVersion.
[[nodiscard]] Result<StartupPacket> decode_startup(ByteView whole_packet);

// Appends a protocol 3.0 StartupMessage carrying `params` (names must not be empty or hold NUL).
void encode_startup(Bytes& out, const StartupParams& params);
// Appends a CancelRequest for the backend identified by (pid, secret).
void encode_cancel_request(Bytes& out, std::int32_t pid, std::int32_t secret);
// Appends an SSLRequest.
void encode_ssl_request(Bytes& out);
// Appends a GSSENCRequest.
void encode_gssenc_request(Bytes& out);

}  // namespace reservoir::protocol

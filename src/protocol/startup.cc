#include "protocol/startup.h"

#include <string>

#include "protocol/errors.h"

namespace reservoir::protocol {
namespace {

constexpr std::uint32_t kCancelRequestSize = 16;
constexpr std::uint32_t kSpecialRequestSize = 8;

Error unsupported_version(std::uint32_t code) {
  return protocol_violation("unsupported frontend protocol " +
                            std::to_string(protocol_major(code)) + "." +
                            std::to_string(protocol_minor(code)) + ": server supports 3.0 to 3.0");
}

Error bad_layout() {
  return protocol_violation("invalid startup packet layout: expected terminator as last byte");
}

// Reads name/value pairs up to the empty name, which must be the packet's last byte.
Result<StartupParams> decode_params(ByteReader& r) {
  StartupParams params;
  params.reserve(8);  // drivers send a handful (user, database, application_name, ...)
  for (;;) {
    std::string_view name;
    if (!r.cstr(name)) return bad_layout();
    if (name.empty()) break;
    std::string_view value;
    if (!r.cstr(value)) return bad_layout();
    params.emplace_back(std::string(name), std::string(value));
  }
  if (!r.at_end()) return bad_layout();
  return params;
}

Result<StartupPacket> decode_startup_message(std::uint32_t version, ByteReader& r) {
  if (protocol_major(version) != 3) return unsupported_version(version);
  auto params = decode_params(r);
  if (!params) return params.error();
  StartupMessage message{version, std::move(*params)};
  if (message.get("user").empty()) {
    return Error{"no PostgreSQL user name specified in startup packet",
                 sqlstate::kInvalidAuthorizationSpecification};
  }
  return StartupPacket{std::move(message)};
}

// Writes the length prefix and code; returns the prefix position for patching.
std::size_t begin_packet(ByteWriter& w, std::uint32_t code) {
  std::size_t pos = w.size();
  w.u32(0);
  w.u32(code);
  return pos;
}

}  // namespace

std::string StartupMessage::get(std::string_view key) const {
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return {};
}

bool StartupMessage::has(std::string_view key) const {
  for (const auto& [name, value] : params) {
    if (name == key) return true;
  }
  return false;
}

Result<std::uint32_t> startup_length(ByteView first4) {
  if (first4.size() < 4) return protocol_violation("incomplete startup packet");
  const std::uint32_t length = load_be32(first4.data());
  if (length < kMinStartupPacketSize) {
    return protocol_violation("invalid length of startup packet: " + std::to_string(length));
  }
  if (length > kMaxStartupPacketSize) {
    return message_too_long("invalid length of startup packet: " + std::to_string(length) +
                            " bytes, at most " + std::to_string(kMaxStartupPacketSize));
  }
  return length;
}

Result<StartupPacket> decode_startup(ByteView whole_packet) {
  auto length = startup_length(whole_packet);
  if (!length) return length.error();
  if (*length != whole_packet.size()) {
    return protocol_violation("invalid length of startup packet: prefix says " +
                              std::to_string(*length) + ", got " +
                              std::to_string(whole_packet.size()) + " bytes");
  }
  ByteReader r(whole_packet.subspan(4));
  std::uint32_t code = 0;
  (void)r.u32(code);  // cannot fail: length >= 8
  switch (code) {
    case kCancelRequestCode: {
      if (*length != kCancelRequestSize)
        return protocol_violation("invalid length of cancel request");
      CancelRequest cancel;
      (void)r.i32(cancel.pid);
      (void)r.i32(cancel.secret);
      return StartupPacket{cancel};
    }
    case kSslRequestCode:
      if (*length != kSpecialRequestSize)
        return protocol_violation("invalid length of SSL request");
      return StartupPacket{SslRequest{}};
    case kGssEncRequestCode:
      if (*length != kSpecialRequestSize)
        return protocol_violation("invalid length of GSSENC request");
      return StartupPacket{GssEncRequest{}};
    default:
      return decode_startup_message(code, r);
  }
}

void encode_startup(Bytes& out, const StartupParams& params) {
  ByteWriter w(out);
  const std::size_t pos = begin_packet(w, kProtocolVersion3);
  for (const auto& [name, value] : params) {
    w.cstr(name);
    w.cstr(value);
  }
  w.u8(0);
  w.patch_u32(pos, static_cast<std::uint32_t>(out.size() - pos));
}

void encode_cancel_request(Bytes& out, std::int32_t pid, std::int32_t secret) {
  ByteWriter w(out);
  w.u32(kCancelRequestSize);
  w.u32(kCancelRequestCode);
  w.i32(pid);
  w.i32(secret);
}

void encode_ssl_request(Bytes& out) {
  ByteWriter w(out);
  w.u32(kSpecialRequestSize);
  w.u32(kSslRequestCode);
}

void encode_gssenc_request(Bytes& out) {
  ByteWriter w(out);
  w.u32(kSpecialRequestSize);
  w.u32(kGssEncRequestCode);
}

}  // namespace reservoir::protocol

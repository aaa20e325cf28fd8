#include "protocol/messages/negotiate_protocol_version.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<NegotiateProtocolVersion> NegotiateProtocolVersion::decode(ByteView body) {
  constexpr std::string_view kWhat = "NegotiateProtocolVersion";
  ByteReader r(body);
  NegotiateProtocolVersion m;
  std::int32_t count = 0;
  (void)(r.i32(m.newest_minor) && r.i32(count));
  // Each option takes at least its NUL, so a count above the bytes left is a lie.
  if (r.ok() && (count < 0 || std::size_t(count) > r.remaining())) {
    return protocol_violation("invalid option count in NegotiateProtocolVersion message");
  }
  for (std::int32_t i = 0; r.ok() && i < count; ++i) {
    std::string_view option;
    if (r.cstr(option)) m.unrecognized_options.emplace_back(option);
  }
  if (auto st = finish_decode(r, kWhat); !st) return st.error();
  return m;
}

void NegotiateProtocolVersion::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kNegotiateProtocolVersion);
  frame.body().i32(newest_minor);
  frame.body().i32(static_cast<std::int32_t>(unrecognized_options.size()));
  for (const auto& option : unrecognized_options) frame.body().cstr(option);
  frame.finish();
}

}  // namespace reservoir::protocol

#include "protocol/messages/describe_close.h"

#include "protocol/codec.h"

namespace reservoir::protocol {

template <char Type>
Result<TargetMessage<Type>> TargetMessage<Type>::decode(ByteView body) {
  constexpr std::string_view kWhat = Type == msg::kDescribe ? "Describe" : "Close";
  ByteReader r(body);
  TargetMessage m;
  std::uint8_t kind = 0;
  std::string_view name;
  if (r.u8(kind) && r.cstr(name)) {
    m.kind = static_cast<char>(kind);
    m.name = std::string(name);
  }
  if (auto st = finish_decode(r, kWhat); !st) return st.error();
  if (m.kind != target::kStatement && m.kind != target::kPortal) {
    return protocol_violation("invalid " + std::string(kWhat) + " target kind");
  }
  return m;
}

template <char Type>
void TargetMessage<Type>::encode(Bytes& out) const {
  FrameBuilder frame(out, Type);
  frame.body().u8(static_cast<std::uint8_t>(kind));
  frame.body().cstr(name);
  frame.finish();
}

template struct TargetMessage<msg::kDescribe>;
template struct TargetMessage<msg::kClose>;

}  // namespace reservoir::protocol

#include "protocol/messages/parse.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<Parse> Parse::decode(ByteView body) {
  ByteReader r(body);
  Parse m;
  std::string_view name, query;
  std::int16_t count = 0;
  if (r.cstr(name) && r.cstr(query) && r.i16(count)) {
    if (count < 0 || std::size_t(count) * 4 > r.remaining()) {
      return protocol_violation("invalid parameter count in Parse message");
    }
    m.name = std::string(name);
    m.query = std::string(query);
    m.param_types.resize(std::size_t(count));
    for (auto& oid : m.param_types) (void)r.u32(oid);
  }
  if (auto st = finish_decode(r, "Parse"); !st) return st.error();
  return m;
}

void Parse::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kParse);
  ByteWriter& w = frame.body();
  w.cstr(name);
  w.cstr(query);
  w.i16(static_cast<std::int16_t>(param_types.size()));
  for (std::uint32_t oid : param_types) w.u32(oid);
  frame.finish();
}

}  // namespace reservoir::protocol

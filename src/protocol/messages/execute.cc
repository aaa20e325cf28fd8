#include "protocol/messages/execute.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<Execute> Execute::decode(ByteView body) {
  ByteReader r(body);
  Execute m;
  std::string_view portal;
  if (r.cstr(portal) && r.i32(m.max_rows)) m.portal = std::string(portal);
  if (auto st = finish_decode(r, "Execute"); !st) return st.error();
  return m;
}

void Execute::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kExecute);
  frame.body().cstr(portal);
  frame.body().i32(max_rows);
  frame.finish();
}

}  // namespace reservoir::protocol

#include "protocol/messages/command_complete.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<CommandComplete> CommandComplete::decode(ByteView body) {
  ByteReader r(body);
  std::string_view tag;
  (void)r.cstr(tag);
  if (auto st = finish_decode(r, "CommandComplete"); !st) return st.error();
  return CommandComplete{std::string(tag)};
}

void CommandComplete::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kCommandComplete);
  frame.body().cstr(tag);
  frame.finish();
}

}  // namespace reservoir::protocol

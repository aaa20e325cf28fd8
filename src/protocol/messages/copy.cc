#include "protocol/messages/copy.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<CopyData> CopyData::decode(ByteView body) {
  return CopyData{Bytes(body.begin(), body.end())};
}

void CopyData::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kCopyData);
  frame.body().raw(ByteView(data));
  frame.finish();
}

Result<CopyFail> CopyFail::decode(ByteView body) {
  ByteReader r(body);
  std::string_view message;
  (void)r.cstr(message);
  if (auto st = finish_decode(r, "CopyFail"); !st) return st.error();
  return CopyFail{std::string(message)};
}

void CopyFail::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kCopyFail);
  frame.body().cstr(message);
  frame.finish();
}

}  // namespace reservoir::protocol

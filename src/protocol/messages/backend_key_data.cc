#include "protocol/messages/backend_key_data.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<BackendKeyData> BackendKeyData::decode(ByteView body) {
  ByteReader r(body);
  BackendKeyData key;
  (void)(r.i32(key.pid) && r.i32(key.secret));
  if (auto st = finish_decode(r, "BackendKeyData"); !st) return st.error();
  return key;
}

void BackendKeyData::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kBackendKeyData);
  frame.body().i32(pid);
  frame.body().i32(secret);
  frame.finish();
}

}  // namespace reservoir::protocol

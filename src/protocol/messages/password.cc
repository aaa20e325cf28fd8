#include "protocol/messages/password.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<PasswordMessage> PasswordMessage::decode(ByteView body) {
  ByteReader r(body);
  std::string_view password;
  (void)r.cstr(password);
  if (auto st = finish_decode(r, "PasswordMessage"); !st) return st.error();
  return PasswordMessage{std::string(password)};
}

void PasswordMessage::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kPasswordMessage);
  frame.body().cstr(password);
  frame.finish();
}

Result<SaslInitialResponse> SaslInitialResponse::decode(ByteView body) {
  ByteReader r(body);
  SaslInitialResponse m;
  std::string_view mechanism;
  std::int32_t length = 0;
  if (r.cstr(mechanism) && r.i32(length)) {
    m.mechanism = std::string(mechanism);
    if (length < -1 || (length >= 0 && std::size_t(length) != r.remaining())) {
      return protocol_violation("invalid data length in SASLInitialResponse message");
    }
    ByteView data;
    if (length >= 0 && r.raw(std::size_t(length), data)) m.data = Bytes(data.begin(), data.end());
  }
  if (auto st = finish_decode(r, "SASLInitialResponse"); !st) return st.error();
  return m;
}

void SaslInitialResponse::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kPasswordMessage);
  frame.body().cstr(mechanism);
  if (data) {
    frame.body().i32(static_cast<std::int32_t>(data->size()));
    frame.body().raw(ByteView(*data));
  } else {
    frame.body().i32(-1);
  }
  frame.finish();
}

Result<SaslResponse> SaslResponse::decode(ByteView body) {
  return SaslResponse{Bytes(body.begin(), body.end())};
}

void SaslResponse::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kPasswordMessage);
  frame.body().raw(ByteView(data));
  frame.finish();
}

}  // namespace reservoir::protocol

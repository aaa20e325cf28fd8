#include "protocol/messages/parameter_status.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<ParameterStatus> ParameterStatus::decode(ByteView body) {
  ByteReader r(body);
  std::string_view name, value;
  (void)(r.cstr(name) && r.cstr(value));
  if (auto st = finish_decode(r, "ParameterStatus"); !st) return st.error();
  return ParameterStatus{std::string(name), std::string(value)};
}

void ParameterStatus::encode(Bytes& out) const { encode(out, name, value); }

void ParameterStatus::encode(Bytes& out, std::string_view name, std::string_view value) {
  FrameBuilder frame(out, msg::kParameterStatus);
  frame.body().cstr(name);
  frame.body().cstr(value);
  frame.finish();
}

}  // namespace reservoir::protocol

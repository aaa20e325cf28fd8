#include "protocol/messages/query.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

Result<Query> Query::decode(ByteView body) {
  ByteReader r(body);
  std::string_view sql;
  (void)r.cstr(sql);
  if (auto st = finish_decode(r, "Query"); !st) return st.error();
  return Query{std::string(sql)};
}

void Query::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kQuery);
  frame.body().cstr(sql);
  frame.finish();
}

}  // namespace reservoir::protocol

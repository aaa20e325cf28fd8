#include "protocol/messages/bind.h"

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {
namespace {

// Reads an int16 count of items at least `min_item_size` bytes each; -1 if impossible.
int read_count(ByteReader& r, std::size_t min_item_size) {
  std::int16_t count = 0;
  if (!r.i16(count)) return -1;
  if (count < 0 || std::size_t(count) * min_item_size > r.remaining()) return -1;
  return count;
}

bool read_formats(ByteReader& r, std::vector<std::int16_t>& formats) {
  const int count = read_count(r, 2);
  if (count < 0) return false;
  formats.resize(std::size_t(count));
  for (auto& f : formats) (void)r.i16(f);
  return r.ok();
}

bool read_params(ByteReader& r, std::vector<std::optional<Bytes>>& params) {
  const int count = read_count(r, 4);
  if (count < 0) return false;
  params.resize(std::size_t(count));
  for (auto& param : params) {
    std::int32_t length = 0;
    if (!r.i32(length) || length < -1) return false;
    if (length == -1) continue;
    ByteView value;
    if (!r.raw(std::size_t(length), value)) return false;
    param.emplace(value.begin(), value.end());
  }
  return true;
}

}  // namespace

Result<Bind> Bind::decode(ByteView body) {
  ByteReader r(body);
  Bind m;
  std::string_view portal, statement;
  const bool ok = r.cstr(portal) && r.cstr(statement) && read_formats(r, m.param_formats) &&
                  read_params(r, m.params) && read_formats(r, m.result_formats);
  if (!ok) return protocol_violation("malformed Bind message");
  if (auto st = finish_decode(r, "Bind"); !st) return st.error();
  m.portal = std::string(portal);
  m.statement = std::string(statement);
  return m;
}

void Bind::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kBind);
  ByteWriter& w = frame.body();
  w.cstr(portal);
  w.cstr(statement);
  w.i16(static_cast<std::int16_t>(param_formats.size()));
  for (std::int16_t f : param_formats) w.i16(f);
  w.i16(static_cast<std::int16_t>(params.size()));
  for (const auto& param : params) {
    if (!param) {
      w.i32(-1);
      continue;
    }
    w.i32(static_cast<std::int32_t>(param->size()));
    w.raw(ByteView(*param));
  }
  w.i16(static_cast<std::int16_t>(result_formats.size()));
  for (std::int16_t f : result_formats) w.i16(f);
  frame.finish();
}

}  // namespace reservoir::protocol

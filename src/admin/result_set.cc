#include "admin/result_set.h"

#include "protocol/messages/command_complete.h"

namespace reservoir::admin {

namespace {

constexpr std::int32_t kText = 25;
constexpr std::int32_t kInt8 = 20;
constexpr std::int32_t kFloat8 = 701;

std::int32_t oid_of(ColumnType t) {
  switch (t) {
    case ColumnType::Int8:
      return kInt8;
    case ColumnType::Float8:
      return kFloat8;
    case ColumnType::Text:
      break;
  }
  return kText;
}

std::int16_t size_of(ColumnType t) { return t == ColumnType::Text ? -1 : 8; }

// Starts a message: type byte and a length slot, patched by end_message.
std::size_t begin_message(ByteWriter& w, char type) {
  w.u8(static_cast<std::uint8_t>(type));
  const std::size_t at = w.size();
  w.u32(0);
  return at;
}

void end_message(ByteWriter& w, std::size_t at) {
  w.patch_u32(at, static_cast<std::uint32_t>(w.size() - at));
}

}  // namespace

int ResultSet::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void encode_result(const ResultSet& rs, const std::string& tag, Bytes& out) {
  ByteWriter w(out);
  std::size_t at = begin_message(w, 'T');
  w.i16(static_cast<std::int16_t>(rs.columns.size()));
  for (const auto& c : rs.columns) {
    w.cstr(c.name);
    w.i32(0);  // table oid
    w.i16(0);  // column number
    w.i32(oid_of(c.type));
    w.i16(size_of(c.type));
    w.i32(-1);  // type modifier
    w.i16(0);   // text format
  }
  end_message(w, at);
  for (const auto& row : rs.rows) {
    at = begin_message(w, 'D');
    w.i16(static_cast<std::int16_t>(row.size()));
    for (const auto& cell : row) {
      if (!cell) {
        w.i32(-1);
      } else {
        w.i32(static_cast<std::int32_t>(cell->size()));
        w.raw(std::string_view(*cell));
      }
    }
    end_message(w, at);
  }
  encode_command_complete(tag == "SHOW" ? "SHOW" : tag, out);
}

void encode_command_complete(const std::string& tag, Bytes& out) {
  protocol::CommandComplete{tag}.encode(out);
}

}  // namespace reservoir::admin

#pragma once
// ErrorResponse ('E', backend) and NoticeResponse ('N', backend): identical layouts, a list
// of (field code, value) pairs ending with a zero byte.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {

// Field codes (PostgreSQL "Error and Notice Message Fields").
namespace field {
inline constexpr char kSeverity = 'S';  // localized
inline constexpr char kSeverityNonLocalized = 'V';
inline constexpr char kSqlState = 'C';
inline constexpr char kMessage = 'M';
inline constexpr char kDetail = 'D';
inline constexpr char kHint = 'H';
inline constexpr char kPosition = 'P';
inline constexpr char kWhere = 'W';
inline constexpr char kSchema = 's';
inline constexpr char kTable = 't';
inline constexpr char kColumn = 'c';
inline constexpr char kConstraint = 'n';
inline constexpr char kFile = 'F';
inline constexpr char kLine = 'L';
inline constexpr char kRoutine = 'R';
}  // namespace field

using NoticeFields = std::vector<std::pair<char, std::string>>;

template <char Type>
struct NoticeLike {
  static constexpr char kType = Type;
  NoticeFields fields;  // wire order; codes are never 0

  // Builds a message with S, V, C and M fields.
  static NoticeLike make(std::string severity, std::string sqlstate, std::string message);

  // The value of field `code` (the first if repeated), "" if absent.
  std::string_view get(char code) const;
  // Appends or replaces field `code`.
  void set(char code, std::string value);

  std::string_view severity() const { return get(field::kSeverity); }
  // 'V' if present (servers >= 9.6), else 'S'.
  std::string_view severity_nonlocalized() const;
  std::string_view sqlstate() const { return get(field::kSqlState); }
  std::string_view message() const { return get(field::kMessage); }
  std::string_view detail() const { return get(field::kDetail); }
  std::string_view hint() const { return get(field::kHint); }

  // Decodes fields until the terminating zero byte, which must end the body. Errors: 08P01.
  [[nodiscard]] static Result<NoticeLike> decode(ByteView body);
  // Appends the whole message.
  void encode(Bytes& out) const;

  bool operator==(const NoticeLike&) const = default;
};

using ErrorResponse = NoticeLike<msg::kErrorResponse>;
using NoticeResponse = NoticeLike<msg::kNoticeResponse>;

extern template struct NoticeLike<msg::kErrorResponse>;
extern template struct NoticeLike<msg::kNoticeResponse>;

}  // namespace reservoir::protocol

#include "protocol/messages/error_response.h"

#include "protocol/codec.h"

namespace reservoir::protocol {

template <char Type>
NoticeLike<Type> NoticeLike<Type>::make(std::string severity, std::string sqlstate,
                                        std::string message) {
  NoticeLike m;
  m.fields.emplace_back(field::kSeverity, severity);
  m.fields.emplace_back(field::kSeverityNonLocalized, std::move(severity));
  m.fields.emplace_back(field::kSqlState, std::move(sqlstate));
  m.fields.emplace_back(field::kMessage, std::move(message));
  return m;
}

template <char Type>
std::string_view NoticeLike<Type>::get(char code) const {
  for (const auto& [c, value] : fields) {
    if (c == code) return value;
  }
  return {};
}

template <char Type>
void NoticeLike<Type>::set(char code, std::string value) {
  for (auto& [c, v] : fields) {
    if (c == code) {
      v = std::move(value);
      return;
    }
  }
  fields.emplace_back(code, std::move(value));
}

template <char Type>
std::string_view NoticeLike<Type>::severity_nonlocalized() const {
  std::string_view v = get(field::kSeverityNonLocalized);
  return v.empty() ? severity() : v;
}

template <char Type>
Result<NoticeLike<Type>> NoticeLike<Type>::decode(ByteView body) {
  constexpr std::string_view kWhat =
      Type == msg::kErrorResponse ? "ErrorResponse" : "NoticeResponse";
  ByteReader r(body);
  NoticeLike m;
  for (;;) {
    std::uint8_t code = 0;
    if (!r.u8(code) || code == 0) break;
    std::string_view value;
    if (!r.cstr(value)) break;
    m.fields.emplace_back(static_cast<char>(code), std::string(value));
  }
  if (auto st = finish_decode(r, kWhat); !st) return st.error();
  return m;
}

template <char Type>
void NoticeLike<Type>::encode(Bytes& out) const {
  FrameBuilder frame(out, Type);
  for (const auto& [code, value] : fields) {
    frame.body().u8(static_cast<std::uint8_t>(code));
    frame.body().cstr(value);
  }
  frame.body().u8(0);
  frame.finish();
}

template struct NoticeLike<msg::kErrorResponse>;
template struct NoticeLike<msg::kNoticeResponse>;

}  // namespace reservoir::protocol

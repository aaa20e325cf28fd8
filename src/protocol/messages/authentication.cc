#include "protocol/messages/authentication.h"

#include <algorithm>
#include <string>

#include "protocol/codec.h"
#include "protocol/message_types.h"

namespace reservoir::protocol {
namespace {

constexpr std::string_view kWhat = "Authentication";

Result<Authentication> decode_sasl(ByteReader& r, Authentication auth) {
  for (;;) {
    std::string_view mechanism;
    if (!r.cstr(mechanism)) break;
    if (mechanism.empty()) break;
    auth.mechanisms.emplace_back(mechanism);
  }
  if (auto st = finish_decode(r, kWhat); !st) return st.error();
  if (auth.mechanisms.empty()) return protocol_violation("SASL authentication lists no mechanism");
  return auth;
}

}  // namespace

Authentication Authentication::cleartext_password() {
  Authentication a;
  a.code = AuthCode::kCleartextPassword;
  return a;
}

Authentication Authentication::md5_password(std::array<std::uint8_t, 4> salt) {
  Authentication a;
  a.code = AuthCode::kMd5Password;
  a.salt = salt;
  return a;
}

Authentication Authentication::sasl(std::vector<std::string> mechanisms) {
  Authentication a;
  a.code = AuthCode::kSasl;
  a.mechanisms = std::move(mechanisms);
  return a;
}

Authentication Authentication::sasl_continue(Bytes data) {
  Authentication a;
  a.code = AuthCode::kSaslContinue;
  a.data = std::move(data);
  return a;
}

Authentication Authentication::sasl_final(Bytes data) {
  Authentication a;
  a.code = AuthCode::kSaslFinal;
  a.data = std::move(data);
  return a;
}

bool Authentication::is_supported() const {
  switch (code) {
    case AuthCode::kOk:
    case AuthCode::kCleartextPassword:
    case AuthCode::kMd5Password:
    case AuthCode::kSasl:
    case AuthCode::kSaslContinue:
    case AuthCode::kSaslFinal:
      return true;
    default:
      return false;
  }
}

Result<Authentication> Authentication::decode(ByteView body) {
  ByteReader r(body);
  std::int32_t code = 0;
  if (!r.i32(code)) return protocol_violation("malformed Authentication message");
  Authentication auth;
  auth.code = static_cast<AuthCode>(code);
  switch (auth.code) {
    case AuthCode::kOk:
    case AuthCode::kCleartextPassword:
      break;
    case AuthCode::kMd5Password: {
      ByteView salt;
      if (r.raw(4, salt)) std::copy(salt.begin(), salt.end(), auth.salt.begin());
      break;
    }
    case AuthCode::kSasl:
      return decode_sasl(r, std::move(auth));
    default: {  // SASLContinue, SASLFinal and codes this layer does not interpret
      ByteView rest = r.rest();
      auth.data.assign(rest.begin(), rest.end());
      return auth;
    }
  }
  if (auto st = finish_decode(r, kWhat); !st) return st.error();
  return auth;
}

void Authentication::encode_sasl_step(Bytes& out, AuthCode code, ByteView data) {
  FrameBuilder frame(out, msg::kAuthentication);
  frame.body().i32(static_cast<std::int32_t>(code));
  frame.body().raw(data);
  frame.finish();
}

void Authentication::encode(Bytes& out) const {
  FrameBuilder frame(out, msg::kAuthentication);
  ByteWriter& w = frame.body();
  w.i32(static_cast<std::int32_t>(code));
  switch (code) {
    case AuthCode::kOk:
    case AuthCode::kCleartextPassword:
      break;
    case AuthCode::kMd5Password:
      w.raw(ByteView(salt));
      break;
    case AuthCode::kSasl:
      for (const auto& m : mechanisms) w.cstr(m);
      w.u8(0);
      break;
    default:
      w.raw(ByteView(data));
      break;
  }
  frame.finish();
}

}  // namespace reservoir::protocol

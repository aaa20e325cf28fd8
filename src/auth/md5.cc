#include "auth/md5.h"

#include "auth/digest.h"

namespace reservoir::auth {
namespace {

std::string salted(std::string_view hex_part, Md5Salt salt) {
  std::string input(hex_part);
  input.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(as_bytes(input));
}

}  // namespace

std::string md5_password_hash(std::string_view password, std::string_view user) {
  std::string input(password);
  input.append(user);
  return "md5" + md5_hex(as_bytes(input));
}

std::string md5_response_from_hash(std::string_view stored_md5, Md5Salt salt) {
  if (!is_md5_hash(stored_md5)) return "";
  return salted(stored_md5.substr(3), salt);
}

std::string md5_salted_response(std::string_view password, std::string_view user, Md5Salt salt) {
  return md5_response_from_hash(md5_password_hash(password, user), salt);
}

bool md5_verify(const Secret& secret, std::string_view user, Md5Salt salt,
                std::string_view client_response) {
  std::string expected;
  switch (secret.kind) {
    case Secret::Kind::Plain:
      if (secret.text.empty()) return false;
      expected = md5_salted_response(secret.text, user, salt);
      break;
    case Secret::Kind::Md5:
      expected = md5_response_from_hash(secret.md5, salt);
      break;
    case Secret::Kind::Scram:
      return false;
  }
  return !expected.empty() && equal_constant_time(as_bytes(expected), as_bytes(client_response));
}

}  // namespace reservoir::auth

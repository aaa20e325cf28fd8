#pragma once
// PostgreSQL's md5 password authentication (AuthenticationMD5Password, code 5).
//   stored   = "md5" + hex(md5(password + user))
//   response = "md5" + hex(md5(hex_part(stored) + salt4))
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "auth/secret.h"

namespace reservoir::auth {

using Md5Salt = std::span<const std::uint8_t, 4>;

// "md5" + 32 lowercase hex digits of md5(password + user), as pg_authid stores it.
std::string md5_password_hash(std::string_view password, std::string_view user);

// The PasswordMessage a client sends for `salt`, computed from a stored "md5..." hash (the
// pass-the-hash form PgBouncer uses to log into a server). `stored_md5` must satisfy
// is_md5_hash(); otherwise returns "" (which never matches a real response).
std::string md5_response_from_hash(std::string_view stored_md5, Md5Salt salt);

// The PasswordMessage a client sends for `salt`, computed from the plain password.
std::string md5_salted_response(std::string_view password, std::string_view user, Md5Salt salt);

// Whether `client_response` answers `salt` for `user` holding `secret`. Works for Plain and
// Md5 secrets; a Scram secret cannot verify md5 and an empty Plain password never verifies,
// both -> false. Comparison is constant-time.
bool md5_verify(const Secret& secret, std::string_view user, Md5Salt salt,
                std::string_view client_response);

}  // namespace reservoir::auth

#pragma once
// What Reservoir knows about a user's password: plain text, an md5 hash, or a SCRAM-SHA-256
// secret, in the spellings PostgreSQL's pg_authid.rolpassword and PgBouncer's auth_file use.
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::auth {

// A parsed SCRAM-SHA-256 secret: `SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>`.
// Enough to verify a client (server role); not enough to log in as the user (client role).
struct ScramSecret {
  int iterations = 0;
  Bytes salt;
  Bytes stored_key;  // SHA-256(ClientKey), 32 bytes
  Bytes server_key;  // HMAC(SaltedPassword, "Server Key"), 32 bytes

  // Parses the textual form. Errors (XX000, "invalid SCRAM secret: ...") say which part is
  // wrong: prefix, iteration count (must be a positive int), salt or key base64, key length.
  static Result<ScramSecret> parse(std::string_view text);
  // The textual form, as PostgreSQL stores it; parse(to_string()) round-trips.
  std::string to_string() const;

  bool operator==(const ScramSecret&) const = default;
};

struct Secret {
  enum class Kind { Plain, Md5, Scram };
  Kind kind = Kind::Plain;
  std::string text;                  // the original string, whatever its kind
  std::optional<ScramSecret> scram;  // set when kind == Scram
  std::string md5;                   // "md5" + 32 lowercase hex when kind == Md5

  bool operator==(const Secret&) const = default;
};

// True when `text` is "md5" followed by exactly 32 lowercase hex digits (PostgreSQL's test).
bool is_md5_hash(std::string_view text);

// Classifies a password string like PostgreSQL's get_password_type(): a well-formed md5
// hash is Md5, a well-formed SCRAM secret is Scram, anything else (including a malformed
// SCRAM secret) is Plain. Never fails.
Secret parse_secret(std::string_view text);

}  // namespace reservoir::auth

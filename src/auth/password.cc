#include "auth/password.h"

#include "auth/digest.h"
#include "auth/md5.h"
#include "auth/scram.h"

namespace reservoir::auth {

bool verify_cleartext_password(const Secret& secret, std::string_view user,
                               std::string_view password) {
  if (password.empty()) return false;
  switch (secret.kind) {
    case Secret::Kind::Plain:
      return equal_constant_time(as_bytes(secret.text), as_bytes(password));
    case Secret::Kind::Md5:
      return equal_constant_time(as_bytes(md5_password_hash(password, user)), as_bytes(secret.md5));
    case Secret::Kind::Scram: {
      if (!secret.scram || secret.scram->iterations < 1) return false;
      const ScramSecret& s = *secret.scram;
      return equal_constant_time(scram_make_secret(password, s.salt, s.iterations).stored_key,
                                 s.stored_key);
    }
  }
  return false;
}

}  // namespace reservoir::auth

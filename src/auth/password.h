#pragma once
// Verifying a cleartext password (AuthenticationCleartextPassword) against any kind of Secret.
#include <string_view>

#include "auth/secret.h"

namespace reservoir::auth {

// Whether `password` is `user`'s password: Plain compares directly, Md5 hashes with the user
// name, Scram re-derives the keys with the secret's salt and iterations (PBKDF2: costs
// milliseconds). All comparisons are constant-time; an empty password never verifies.
bool verify_cleartext_password(const Secret& secret, std::string_view user,
                               std::string_view password);

}  // namespace reservoir::auth

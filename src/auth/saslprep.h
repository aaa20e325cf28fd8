#pragma once
// SASLprep (RFC 4013) as PostgreSQL applies it to SCRAM passwords (pg_saslprep).
#include <string>
#include <string_view>

namespace reservoir::auth {

// Returns the password to feed PBKDF2. Pure-ASCII passwords are returned unchanged, exactly
// as PostgreSQL does. Non-ASCII passwords are also returned unchanged: PostgreSQL does the
// same whenever normalization fails (invalid UTF-8, prohibited characters), and full NFKC
// normalization is not implemented here. Known gap: a valid UTF-8 password that NFKC would
// change (e.g. decomposed accents, non-ASCII spaces) derives a different key than libpq/PG.
std::string saslprep(std::string_view password);

}  // namespace reservoir::auth

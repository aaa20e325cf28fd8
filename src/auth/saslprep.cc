#include "auth/saslprep.h"

namespace reservoir::auth {

// Why pass-through for non-ASCII: PostgreSQL itself uses the raw bytes whenever SASLprep
// cannot be applied (invalid UTF-8, prohibited output), and NFKC needs Unicode tables this
// layer does not carry. ASCII input is returned unchanged by PostgreSQL too (pg_saslprep's
// pg_is_ascii fast path), control characters included.
std::string saslprep(std::string_view password) { return std::string(password); }

}  // namespace reservoir::auth

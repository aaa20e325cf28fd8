#pragma once
// Internal to auth/: the SCRAM-SHA-256 key schedule (RFC 5802 section 3) shared by both roles.
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::auth {

// ClientKey = HMAC(SaltedPassword, "Client Key"); ServerKey = HMAC(SaltedPassword, "Server Key").
struct ScramKeys {
  Bytes client_key;
  Bytes server_key;
};
ScramKeys scram_keys_from_password(std::string_view password, ByteView salt, int iterations);

// AuthMessage = client-first-message-bare "," server-first-message "," client-final-without-proof
std::string scram_auth_message(std::string_view client_first_bare, std::string_view server_first,
                               std::string_view client_final_without_proof);

// a XOR b; both must have the same size.
Bytes xor_bytes(ByteView a, ByteView b);

// Parses a positive decimal int (no sign, no spaces); 08P01 otherwise.
Result<int> parse_scram_iterations(std::string_view text);

}  // namespace reservoir::auth

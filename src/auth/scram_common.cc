#include "auth/scram_common.h"

#include <charconv>

#include "auth/digest.h"
#include "auth/saslprep.h"
#include "auth/scram.h"
#include "auth/scram_attributes.h"

namespace reservoir::auth {

ScramKeys scram_keys_from_password(std::string_view password, ByteView salt, int iterations) {
  Bytes salted = pbkdf2_sha256(saslprep(password), salt, iterations);
  return {hmac_sha256(salted, as_bytes("Client Key")), hmac_sha256(salted, as_bytes("Server Key"))};
}

std::string scram_auth_message(std::string_view client_first_bare, std::string_view server_first,
                               std::string_view client_final_without_proof) {
  std::string out;
  out.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() +
              2);
  out.append(client_first_bare).append(",").append(server_first).append(",");
  out.append(client_final_without_proof);
  return out;
}

Bytes xor_bytes(ByteView a, ByteView b) {
  Bytes out(a.size());
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

Result<int> parse_scram_iterations(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text[0] == '-' || ec != std::errc() || end != text.data() + text.size() ||
      value < 1) {
    return scram_malformed("invalid iteration count");
  }
  return value;
}

ScramSecret scram_make_secret(std::string_view password, ByteView salt, int iterations) {
  ScramKeys keys = scram_keys_from_password(password, salt, iterations);
  return ScramSecret{iterations, Bytes(salt.begin(), salt.end()), sha256(keys.client_key),
                     std::move(keys.server_key)};
}

ScramSecret scram_make_secret(std::string_view password, const RandomSource& random,
                              int iterations) {
  Bytes salt(kScramSaltBytes);
  random(salt);
  return scram_make_secret(password, salt, iterations);
}

ScramSecret scram_mock_secret(std::string_view user, ByteView mock_key) {
  Bytes input(mock_key.begin(), mock_key.end());
  input.insert(input.end(), user.begin(), user.end());
  Bytes salt = sha256(input);
  salt.resize(kScramSaltBytes);
  // All-zero keys: no ClientKey hashes to a zero StoredKey, so every proof fails.
  return ScramSecret{kScramDefaultIterations, std::move(salt), Bytes(kSha256Bytes, 0),
                     Bytes(kSha256Bytes, 0)};
}

}  // namespace reservoir::auth

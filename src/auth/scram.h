#pragma once
// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, in both roles:
//   ScramServer: Reservoir verifies a client against a stored ScramSecret.
//   ScramClient: Reservoir logs into PostgreSQL.
// Channel binding is not offered (gs2 header "n,," or "y,,"; "p=..." is refused), the SCRAM
// user name is ignored (PostgreSQL takes the user from the startup packet), and passwords go
// through saslprep() (see saslprep.h for its one known gap).
//
// Exchange, server role:            Exchange, client role:
//   SASLInitialResponse  -> handle_client_first   client_first_message()  -> send
//   <- server-first-message                       handle_server_first(msg) -> send result
//   SASLResponse         -> handle_client_final   handle_server_final(msg) -> ok or error
//   <- server-final-message (AuthenticationSASLFinal), then AuthenticationOk
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "auth/random.h"
#include "auth/scram_secret_cache.h"
#include "auth/secret.h"
#include "common/bytes.h"
#include "common/result.h"

namespace reservoir::auth {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";  // SASL mechanism name
inline constexpr int kScramDefaultIterations = 4096;               // PostgreSQL's default
inline constexpr std::size_t kScramSaltBytes = 16;                 // PostgreSQL's default
// Longest SCRAM message accepted from a peer; real ones are well under 200 bytes.
inline constexpr std::size_t kMaxScramMessageBytes = 8192;
// Message of the 28P01 error for a wrong proof. The server role does not know the startup
// user name; the proxy rewrites it to PostgreSQL's
// `password authentication failed for user "<name>"`.
inline constexpr std::string_view kScramAuthFailedMessage = "password authentication failed";

// Derives the secret PostgreSQL would store for `password` with this salt and iteration
// count (PBKDF2-HMAC-SHA256 over saslprep(password)). Precondition: iterations >= 1.
ScramSecret scram_make_secret(std::string_view password, ByteView salt, int iterations);
// Same, with a fresh kScramSaltBytes salt from `random`.
ScramSecret scram_make_secret(std::string_view password, const RandomSource& random,
                              int iterations = kScramDefaultIterations);
// A secret for a user that does not exist, so the exchange looks like a real one and fails
// only at the proof (PostgreSQL's mock authentication). The salt is derived from `user` and
// the process-wide `mock_key` so it stays stable across attempts; no password verifies.
ScramSecret scram_mock_secret(std::string_view user, ByteView mock_key);

// Server role: one instance per login attempt; methods must be called in order, once each.
// Errors: malformed or out-of-order messages -> 08P01; a wrong proof -> 28P01 with
// kScramAuthFailedMessage.
class ScramServer {
 public:
  // `server_nonce` empty: 18 random bytes from `random`, base64 (as PostgreSQL). A supplied
  // nonce (for tests) must be printable ASCII without ','.
  explicit ScramServer(ScramSecret secret, std::string server_nonce = "",
                       RandomSource random = system_random());

  // Takes the client-first-message (the SASLInitialResponse data) and returns the
  // server-first-message "r=<nonce>,s=<salt>,i=<iterations>".
  Result<std::string> handle_client_first(std::string_view client_first_message);
  // Takes the client-final-message, checks channel binding, nonce and proof, and returns
  // the server-final-message "v=<ServerSignature>".
  Result<std::string> handle_client_final(std::string_view client_final_message);

  // True once handle_client_final succeeded.
  bool authenticated() const { return state_ == State::Done; }
  // The client's ClientKey, recovered from its proof; empty until authenticated(). With it
  // and the secret, ScramClient::from_client_key can log into a server sharing the secret.
  const Bytes& client_key() const { return client_key_; }

 private:
  enum class State { AwaitClientFirst, AwaitClientFinal, Done, Failed };
  Result<std::string> fail(std::string sqlstate, std::string message);

  ScramSecret secret_;
  std::string server_nonce_;
  RandomSource random_;
  State state_ = State::AwaitClientFirst;
  std::string gs2_header_;  // e.g. "n,,", echoed base64-encoded in c=
  std::string nonce_;       // client nonce + server nonce
  std::string client_first_bare_;
  std::string server_first_;
  Bytes client_key_;
};

// Client role: one instance per login to a server; methods in order, once each.
// Needs the plain password (or a ClientKey recovered by ScramServer): a ScramSecret alone
// (StoredKey/ServerKey) cannot compute a proof, by design of SCRAM. Errors are 08P01 (malformed
// or out-of-order messages, "e=" from the server), except 28000 for a server signature
// mismatch (the server could not prove it knows the secret) and for a from_client_key client
// facing another salt or iteration count. The server's iteration count is not capped (libpq
// does not cap it either): a hostile server can make handle_server_first slow.
class ScramClient {
 public:
  // `client_nonce` empty: 18 random bytes from `random`, base64 (as libpq). `user` is sent
  // as the SCRAM user name; libpq sends "" and PostgreSQL ignores it either way.
  explicit ScramClient(std::string password, std::string client_nonce = "", std::string user = "",
                       RandomSource random = system_random());

  // Logs in with the keys of a stored secret plus the ClientKey a client proved it holds
  // (PgBouncer's SCRAM pass-through). The server must use the same salt and iteration count
  // as `secret`, else handle_server_first fails.
  static ScramClient from_client_key(Bytes client_key, ScramSecret secret,
                                     std::string client_nonce = "",
                                     RandomSource random = system_random());

  // "n,,n=<user>,r=<client nonce>": the SASLInitialResponse data.
  std::string client_first_message();
  // Takes the server-first-message, derives the keys, and returns the client-final-message
  // "c=biws,r=<nonce>,p=<proof>".
  Result<std::string> handle_server_first(std::string_view server_first_message);
  // Takes the server-final-message; ok only if it carries the expected ServerSignature.
  // "e=<error>" from the server is returned as an error.
  Status handle_server_final(std::string_view server_final_message);

 private:
  enum class State { Initial, AwaitServerFirst, AwaitServerFinal, Done, Failed };
  Status derive_keys(ByteView salt, int iterations);

  std::string password_;
  std::string client_nonce_;
  std::string user_;
  RandomSource random_;
  std::optional<ScramSecret> known_secret_;  // set by from_client_key
  State state_ = State::Initial;
  std::string client_first_bare_;
  Bytes client_key_;
  Bytes server_key_;
  Bytes expected_server_signature_;
};

}  // namespace reservoir::auth

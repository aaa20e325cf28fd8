#include "auth/base64.h"
#include "auth/digest.h"
#include "auth/scram.h"
#include "auth/scram_attributes.h"
#include "auth/scram_common.h"

namespace reservoir::auth {
namespace {

// saslname: ',' and '=' must be escaped as "=2C" and "=3D" (RFC 5802 section 5.1).
std::string escape_saslname(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

constexpr std::string_view kGs2HeaderBase64 = "biws";  // base64("n,,")

}  // namespace

ScramClient::ScramClient(std::string password, std::string client_nonce, std::string user,
                         RandomSource random)
    : password_(std::move(password)),
      client_nonce_(std::move(client_nonce)),
      user_(std::move(user)),
      random_(std::move(random)) {}

ScramClient ScramClient::from_client_key(Bytes client_key, ScramSecret secret,
                                         std::string client_nonce, RandomSource random) {
  ScramClient client("", std::move(client_nonce), "", std::move(random));
  client.client_key_ = std::move(client_key);
  client.known_secret_ = std::move(secret);
  return client;
}

std::string ScramClient::client_first_message() {
  if (state_ == State::Initial) {
    if (client_nonce_.empty()) client_nonce_ = random_nonce(random_);
    client_first_bare_ = "n=" + escape_saslname(user_) + ",r=" + client_nonce_;
    state_ = State::AwaitServerFirst;
  }
  return "n,," + client_first_bare_;
}

Status ScramClient::derive_keys(ByteView salt, int iterations) {
  if (!known_secret_) {
    ScramKeys keys = scram_keys_from_password(password_, salt, iterations);
    client_key_ = std::move(keys.client_key);
    server_key_ = std::move(keys.server_key);
    return Ok{};
  }
  const ScramSecret& s = *known_secret_;
  if (s.iterations != iterations || !equal_constant_time(s.salt, salt)) {
    return make_error("28000",
                      "server's SCRAM salt or iteration count differs from the stored secret; "
                      "a plain password is needed to log in");
  }
  if (!equal_constant_time(sha256(client_key_), s.stored_key)) {
    return make_error("28000", "SCRAM ClientKey does not match the stored secret");
  }
  server_key_ = s.server_key;
  return Ok{};
}

Result<std::string> ScramClient::handle_server_first(std::string_view message) {
  if (state_ != State::AwaitServerFirst) {
    return make_error("08P01", "unexpected SCRAM server-first-message");
  }
  state_ = State::Failed;  // until proven otherwise
  auto checked = check_scram_message(message, kMaxScramMessageBytes);
  if (!checked) return checked.error();
  ScramAttributeReader reader(message);
  if (reader.rest().starts_with("m=")) return scram_malformed("unsupported mandatory extension");
  auto nonce = reader.expect('r');
  if (!nonce) return nonce.error();
  if (!is_valid_scram_nonce(*nonce) || nonce->size() <= client_nonce_.size() ||
      !nonce->starts_with(client_nonce_)) {
    return scram_malformed("server nonce does not extend the client nonce");
  }
  auto salt_b64 = reader.expect('s');
  if (!salt_b64) return salt_b64.error();
  auto salt = base64_decode(*salt_b64);
  if (!salt || salt->empty()) return scram_malformed("invalid salt");
  auto iter_text = reader.expect('i');
  if (!iter_text) return iter_text.error();
  auto iterations = parse_scram_iterations(*iter_text);
  if (!iterations) return iterations.error();
  // Any further attributes are extensions, ignored as libpq does.

  if (auto derived = derive_keys(*salt, *iterations); !derived) return derived.error();
  std::string without_proof = "c=" + std::string(kGs2HeaderBase64) + ",r=" + std::string(*nonce);
  std::string auth_message = scram_auth_message(client_first_bare_, message, without_proof);
  Bytes stored_key = sha256(client_key_);
  Bytes proof = xor_bytes(client_key_, hmac_sha256(stored_key, as_bytes(auth_message)));
  expected_server_signature_ = hmac_sha256(server_key_, as_bytes(auth_message));
  state_ = State::AwaitServerFinal;
  return without_proof + ",p=" + base64_encode(proof);
}

Status ScramClient::handle_server_final(std::string_view message) {
  if (state_ != State::AwaitServerFinal) {
    return make_error("08P01", "unexpected SCRAM server-final-message");
  }
  state_ = State::Failed;
  auto checked = check_scram_message(message, kMaxScramMessageBytes);
  if (!checked) return checked.error();
  ScramAttributeReader reader(message);
  if (reader.rest().starts_with("e=")) {
    char name = 0;
    auto text = reader.next(name);
    return make_error("08P01", "SCRAM error from server: " + std::string(text ? *text : ""));
  }
  auto verifier = reader.expect('v');
  if (!verifier) return verifier.error();
  auto signature = base64_decode(*verifier);
  if (!signature) return scram_malformed("invalid server signature");
  if (!equal_constant_time(*signature, expected_server_signature_)) {
    return make_error("28000", "incorrect SCRAM server signature");
  }
  state_ = State::Done;
  return Ok{};
}

}  // namespace reservoir::auth

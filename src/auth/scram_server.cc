#include "auth/base64.h"
#include "auth/digest.h"
#include "auth/scram.h"
#include "auth/scram_attributes.h"
#include "auth/scram_common.h"

namespace reservoir::auth {
namespace {

struct Gs2Header {
  std::string header;  // including the trailing ',', e.g. "n,,"
  std::string_view client_first_bare;
};

// gs2-header = gs2-cbind-flag "," [ authzid ] ","   (RFC 5802 section 7)
Result<Gs2Header> parse_gs2_header(std::string_view msg) {
  if (msg.starts_with("p=")) {
    return make_error("08P01", "client requires SCRAM channel binding, but it is not supported");
  }
  if (msg.size() < 2 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
    return scram_malformed("unexpected channel-binding flag");
  }
  if (msg.substr(2).starts_with("a=")) {
    return make_error("0A000", "client uses authorization identity, but it is not supported");
  }
  if (msg.size() < 3 || msg[2] != ',') return scram_malformed("unexpected attribute in gs2 header");
  return Gs2Header{std::string(msg.substr(0, 3)), msg.substr(3)};
}

}  // namespace

ScramServer::ScramServer(ScramSecret secret, std::string server_nonce, RandomSource random)
    : secret_(std::move(secret)),
      server_nonce_(std::move(server_nonce)),
      random_(std::move(random)) {}

Result<std::string> ScramServer::fail(std::string sqlstate, std::string message) {
  state_ = State::Failed;
  return make_error(std::move(sqlstate), std::move(message));
}

Result<std::string> ScramServer::handle_client_first(std::string_view message) {
  if (state_ != State::AwaitClientFirst)
    return fail("08P01", "unexpected SCRAM client-first-message");
  auto checked = check_scram_message(message, kMaxScramMessageBytes);
  if (!checked) return fail("08P01", checked.error().message);
  auto gs2 = parse_gs2_header(message);
  if (!gs2) return fail(gs2.error().sqlstate, gs2.error().message);

  ScramAttributeReader reader(gs2->client_first_bare);
  if (reader.rest().starts_with("m=")) {
    return fail("0A000", "client requires an unsupported SCRAM extension");
  }
  auto user = reader.expect('n');  // ignored: PostgreSQL uses the startup packet's user
  if (!user) return fail("08P01", user.error().message);
  auto client_nonce = reader.expect('r');
  if (!client_nonce) return fail("08P01", client_nonce.error().message);
  if (!is_valid_scram_nonce(*client_nonce))
    return fail("08P01", scram_malformed("invalid nonce").message);
  while (!reader.at_end()) {  // optional extensions, ignored as PostgreSQL does
    char name = 0;
    auto ext = reader.next(name);
    if (!ext) return fail("08P01", ext.error().message);
  }

  if (server_nonce_.empty()) server_nonce_ = random_nonce(random_);
  gs2_header_ = gs2->header;
  client_first_bare_ = std::string(gs2->client_first_bare);
  nonce_.reserve(client_nonce->size() + server_nonce_.size());
  nonce_.append(*client_nonce).append(server_nonce_);
  const std::string salt = base64_encode(secret_.salt);
  const std::string iterations = std::to_string(secret_.iterations);
  server_first_.reserve(nonce_.size() + salt.size() + iterations.size() + 8);
  server_first_.append("r=").append(nonce_).append(",s=").append(salt).append(",i=").append(
      iterations);
  state_ = State::AwaitClientFinal;
  return server_first_;
}

Result<std::string> ScramServer::handle_client_final(std::string_view message) {
  if (state_ != State::AwaitClientFinal)
    return fail("08P01", "unexpected SCRAM client-final-message");
  auto checked = check_scram_message(message, kMaxScramMessageBytes);
  if (!checked) return fail("08P01", checked.error().message);

  ScramAttributeReader reader(message);
  auto binding = reader.expect('c');
  if (!binding) return fail("08P01", binding.error().message);
  auto binding_bytes = base64_decode(*binding);
  if (!binding_bytes) return fail("08P01", scram_malformed("invalid channel binding").message);
  if (as_chars(*binding_bytes) != gs2_header_) {
    return fail("08P01", "SCRAM channel binding check failed");
  }
  auto nonce = reader.expect('r');
  if (!nonce) return fail("08P01", nonce.error().message);
  if (*nonce != nonce_) return fail("08P01", "SCRAM nonce mismatch");

  // Extensions may precede the proof, which must be the last attribute.
  std::string_view proof_b64;
  std::size_t without_proof_len = 0;
  for (;;) {
    if (reader.at_end()) return fail("08P01", scram_malformed("proof missing").message);
    std::size_t attr_offset = message.size() - reader.rest().size();
    char name = 0;
    auto value = reader.next(name);
    if (!value) return fail("08P01", value.error().message);
    if (name != 'p') continue;
    if (!reader.at_end()) return fail("08P01", scram_malformed("proof must be last").message);
    proof_b64 = *value;
    without_proof_len = attr_offset - 1;  // drop the ',' before "p="
    break;
  }
  auto proof = base64_decode(proof_b64);
  if (!proof || proof->size() != kSha256Bytes) {
    return fail("08P01", scram_malformed("invalid proof").message);
  }

  std::string auth_message =
      scram_auth_message(client_first_bare_, server_first_, message.substr(0, without_proof_len));
  Bytes client_signature = hmac_sha256(secret_.stored_key, as_bytes(auth_message));
  Bytes client_key = xor_bytes(*proof, client_signature);
  if (!equal_constant_time(sha256(client_key), secret_.stored_key)) {
    return fail("28P01", std::string(kScramAuthFailedMessage));
  }
  client_key_ = std::move(client_key);
  state_ = State::Done;
  return "v=" + base64_encode(hmac_sha256(secret_.server_key, as_bytes(auth_message)));
}

}  // namespace reservoir::auth

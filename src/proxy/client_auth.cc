#include "proxy/client_auth.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "auth/md5.h"
#include "auth/password.h"
#include "auth/random.h"
#include "auth/scram.h"
#include "protocol/message_types.h"
#include "protocol/messages/authentication.h"
#include "protocol/messages/password.h"

namespace reservoir::proxy {

namespace {

using protocol::Authentication;

Error auth_failed(const std::string& user) {
  return make_error("28P01", fmt::format("password authentication failed for user \"{}\"", user));
}

// Reads the client's next message, which must be a password-type message ('p').
Task<Result<protocol::Frame>> read_password_frame(Socket& client, protocol::FrameReader& reader) {
  auto frame = co_await read_frame(client, reader, /*peer_waits=*/true);
  if (!frame) co_return frame.error();
  if (frame->type != protocol::msg::kPasswordMessage) {
    co_return make_error(
        "08P01", fmt::format("expected password response, got message type {}", frame->type));
  }
  co_return frame;
}

Task<Result<ClientAuthOutcome>> cleartext(Socket& client, protocol::FrameReader& reader,
                                          const auth::Secret* secret, const std::string& user) {
  Bytes out;
  Authentication::cleartext_password().encode(out);
  if (!co_await write_all(client, out)) co_return make_error("08006", "client went away");
  auto frame = co_await read_password_frame(client, reader);
  if (!frame) co_return frame.error();
  auto pw = protocol::PasswordMessage::decode(frame->body);
  if (!pw) co_return pw.error();
  if (secret == nullptr || !auth::verify_cleartext_password(*secret, user, pw->password)) {
    co_return auth_failed(user);
  }
  co_return ClientAuthOutcome{};
}

Task<Result<ClientAuthOutcome>> md5(Socket& client, protocol::FrameReader& reader,
                                    const auth::Secret* secret, const std::string& user) {
  std::array<std::uint8_t, 4> salt;
  auth::system_random()(salt);
  Bytes out;
  Authentication::md5_password(salt).encode(out);
  if (!co_await write_all(client, out)) co_return make_error("08006", "client went away");
  auto frame = co_await read_password_frame(client, reader);
  if (!frame) co_return frame.error();
  auto pw = protocol::PasswordMessage::decode(frame->body);
  if (!pw) co_return pw.error();
  if (secret == nullptr || !auth::md5_verify(*secret, user, salt, pw->password)) {
    co_return auth_failed(user);
  }
  co_return ClientAuthOutcome{};
}

Task<Result<ClientAuthOutcome>> scram(Socket& client, protocol::FrameReader& reader,
                                      const auth::Secret* secret, auth::ScramSecretCache& cache,
                                      const std::string& user) {
  // Unknown users and md5 secrets still go through the exchange with a mock secret, so the
  // reply does not reveal which users exist (as PostgreSQL does). A stored SCRAM secret is
  // copied once, into the exchange.
  std::optional<auth::ScramSecret> made;  // derived from a plain password, or the mock
  bool usable = secret != nullptr;
  if (secret && secret->kind == auth::Secret::Kind::Plain) {
    made = cache.get(user, secret->text);
  } else if (!secret || secret->kind != auth::Secret::Kind::Scram) {
    usable = false;
    static const Bytes mock_key = [] {
      Bytes k(32);
      auth::system_random()(k);
      return k;
    }();
    made = auth::scram_mock_secret(user, mock_key);
  }
  auth::ScramServer server(made ? std::move(*made) : *secret->scram);
  static const Authentication offer = Authentication::sasl({"SCRAM-SHA-256"});
  Bytes out;
  offer.encode(out);
  if (!co_await write_all(client, out)) co_return make_error("08006", "client went away");

  auto frame = co_await read_password_frame(client, reader);
  if (!frame) co_return frame.error();
  auto initial = protocol::SaslInitialResponse::decode(frame->body);
  if (!initial) co_return initial.error();
  if (initial->mechanism != "SCRAM-SHA-256") {
    co_return make_error("08P01", "client selected an invalid SASL authentication mechanism");
  }
  if (!initial->data) co_return make_error("08P01", "malformed SCRAM message (no data)");
  auto server_first = server.handle_client_first(as_chars(*initial->data));
  if (!server_first) co_return server_first.error();
  out.clear();
  Authentication::encode_sasl_step(out, protocol::AuthCode::kSaslContinue, as_bytes(*server_first));
  if (!co_await write_all(client, out)) co_return make_error("08006", "client went away");

  frame = co_await read_password_frame(client, reader);
  if (!frame) co_return frame.error();
  auto response = protocol::SaslResponse::decode(frame->body);
  if (!response) co_return response.error();
  auto server_final = server.handle_client_final(as_chars(response->data));
  if (!server_final) {
    if (server_final.error().sqlstate == "28P01") co_return auth_failed(user);
    co_return server_final.error();
  }
  if (!usable) co_return auth_failed(user);
  ClientAuthOutcome outcome;
  Authentication::encode_sasl_step(outcome.reply, protocol::AuthCode::kSaslFinal,
                                   as_bytes(*server_final));
  if (secret->kind == auth::Secret::Kind::Scram) outcome.scram_client_key = server.client_key();
  co_return outcome;
}

}  // namespace

Task<Result<ClientAuthOutcome>> authenticate_client(Socket& client, protocol::FrameReader& reader,
                                                    const config::Settings& settings,
                                                    const auth::CredentialStore& credentials,
                                                    auth::ScramSecretCache& scram_cache,
                                                    const std::string& user) {
  const auth::Secret* secret = credentials.find(user);
  switch (settings.auth_type) {
    case config::AuthType::Trust:
      // As in PgBouncer, the user must still be listed when an auth_file is configured.
      if (!settings.auth_file.empty() && secret == nullptr) {
        co_return make_error("28000", fmt::format("no such user: \"{}\"", user));
      }
      co_return ClientAuthOutcome{};
    case config::AuthType::Plain:
      co_return co_await cleartext(client, reader, secret, user);
    case config::AuthType::Md5:
      // PostgreSQL upgrades md5 to SCRAM when the stored secret is a SCRAM secret.
      if (secret && secret->kind == auth::Secret::Kind::Scram) {
        co_return co_await scram(client, reader, secret, scram_cache, user);
      }
      co_return co_await md5(client, reader, secret, user);
    case config::AuthType::ScramSha256:
      co_return co_await scram(client, reader, secret, scram_cache, user);
  }
  co_return make_error("28000", "unsupported auth_type");
}

}  // namespace reservoir::proxy

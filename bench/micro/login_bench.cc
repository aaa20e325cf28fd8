// The user-space work of one SCRAM login on the client side of the pooler, without I/O
// (BM_DecodeStartup, in parsing_bench.cc, decodes its StartupMessage):
//   BM_ScramServerExchange    the server's half of SCRAM-SHA-256 against a stored secret:
//                             AuthenticationSASL, both client messages checked (nonce,
//                             channel binding, proof: three HMAC-SHA-256), SASLContinue and
//                             SASLFinal built, as proxy/client_auth.cc does per login
//   BM_LoginWelcome           AuthenticationOk, 14 ParameterStatus, BackendKeyData and
//                             ReadyForQuery appended to the SASLFinal, in one buffer
// `pgbench -C` spends most of a connection's pooler CPU in the kernel (accept, the TCP
// handshake and teardown, eight reads and writes); bench/RESULTS.md ("churn") puts these
// in proportion.
#include <benchmark/benchmark.h>

#include <string>
#include <utility>
#include <vector>

#include "auth/scram.h"
#include "auth/secret.h"
#include "protocol/messages.h"

namespace reservoir::bench {
namespace {

// bench/pybench's role: password "pw", 16 PBKDF2 iterations.
constexpr std::string_view kPassword = "pw";
constexpr std::string_view kServerNonce = "bGlrZS1hLXNlcnZlci1ub25jZQ";

// The client's two messages, made once by a real SCRAM client against the fixed server
// nonce, so every iteration replays a valid exchange.
struct Exchange {
  auth::ScramSecret secret;
  std::string client_first;
  std::string client_final;
};

Exchange make_exchange() {
  Exchange e;
  e.secret = auth::scram_make_secret(kPassword, as_bytes("0123456789abcdef"), 16);
  auth::ScramClient client{std::string(kPassword)};
  e.client_first = client.client_first_message();
  auth::ScramServer server(e.secret, std::string(kServerNonce));
  auto server_first = server.handle_client_first(e.client_first);
  auto final_message = client.handle_server_first(*server_first);
  e.client_final = *final_message;
  return e;
}

void BM_ScramServerExchange(benchmark::State& state) {
  const Exchange e = make_exchange();
  static const protocol::Authentication offer = protocol::Authentication::sasl({"SCRAM-SHA-256"});
  for (auto _ : state) {
    auth::ScramServer server(e.secret, std::string(kServerNonce));
    Bytes out;
    offer.encode(out);
    auto server_first = server.handle_client_first(e.client_first);
    out.clear();
    protocol::Authentication::encode_sasl_step(out, protocol::AuthCode::kSaslContinue,
                                               as_bytes(*server_first));
    auto server_final = server.handle_client_final(e.client_final);
    Bytes reply;
    protocol::Authentication::encode_sasl_step(reply, protocol::AuthCode::kSaslFinal,
                                               as_bytes(*server_final));
    if (!server.authenticated()) state.SkipWithError("the exchange did not authenticate");
    benchmark::DoNotOptimize(reply);
  }
}
BENCHMARK(BM_ScramServerExchange);

void BM_LoginWelcome(benchmark::State& state) {
  // What PostgreSQL 15 reports at login.
  const std::vector<std::pair<std::string, std::string>> params = {
      {"application_name", "pgbench"},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"default_transaction_read_only", "off"},
      {"in_hot_standby", "off"},
      {"integer_datetimes", "on"},
      {"IntervalStyle", "postgres"},
      {"is_superuser", "on"},
      {"server_encoding", "UTF8"},
      {"server_version", "15.14 (Debian 15.14-0+deb12u1)"},
      {"session_authorization", "bench"},
      {"standard_conforming_strings", "on"},
      {"TimeZone", "Etc/UTC"},
      {"scram_iterations", "4096"},
  };
  const Bytes sasl_final(54, 'v');
  for (auto _ : state) {
    Bytes out;
    protocol::Authentication::encode_sasl_step(out, protocol::AuthCode::kSaslFinal, sasl_final);
    out.reserve(out.size() + 512);  // as ClientSession::log_in
    protocol::Authentication::ok().encode(out);
    for (const auto& [name, value] : params) protocol::ParameterStatus::encode(out, name, value);
    protocol::BackendKeyData{1234, 5678}.encode(out);
    protocol::ReadyForQuery{'I'}.encode(out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_LoginWelcome);

}  // namespace
}  // namespace reservoir::bench

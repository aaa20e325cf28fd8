// Random and mutated input to every SCRAM parser: each call must return (ok or error) and
// never crash or read out of bounds (run under -fsanitize=address to make that visible).
#include <gtest/gtest.h>

#include <random>

#include "auth/scram.h"

namespace reservoir::auth {
namespace {

constexpr const char* kPencilSecret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

class Mutator {
 public:
  explicit Mutator(unsigned seed) : rng_(seed) {}
  std::string random_bytes() {
    std::string s(pick(200), '\0');
    for (auto& c : s) c = char(pick(256));
    return s;
  }
  // Flips, deletes or truncates bytes, but never inserts: a mutated server-first must not
  // ask for a huge PBKDF2 iteration count.
  std::string mutate(std::string s) {
    int edits = 1 + int(pick(4));
    for (int i = 0; i < edits && !s.empty(); ++i) {
      std::size_t at = pick(s.size());
      switch (pick(3)) {
        case 0:
          s[at] = char(pick(256));
          break;
        case 1:
          s.erase(at, 1);
          break;
        default:
          s.resize(at);
          break;
      }
    }
    return s;
  }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  std::mt19937 rng_;
};

TEST(ScramFuzz, ServerSurvivesRandomAndMutatedMessages) {
  ScramSecret secret = *ScramSecret::parse(kPencilSecret);
  Mutator m(1);
  for (int i = 0; i < 3000; ++i) {
    ScramServer server(secret, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    std::string first = i % 2 ? m.random_bytes() : m.mutate(kClientFirst);
    if (!server.handle_client_first(first).ok()) continue;
    std::string final_msg = i % 3 ? m.mutate(kClientFinal) : m.random_bytes();
    auto r = server.handle_client_final(final_msg);
    EXPECT_EQ(r.ok(), server.authenticated());
  }
}

TEST(ScramFuzz, ClientSurvivesRandomAndMutatedMessages) {
  Mutator m(2);
  for (int i = 0; i < 300; ++i) {
    ScramClient client("pencil", "rOprNGfwEbeRWgbNEkqO", "user");
    client.client_first_message();
    std::string first = i % 2 ? m.random_bytes() : m.mutate(kServerFirst);
    if (!client.handle_server_first(first).ok()) continue;
    (void)client.handle_server_final(i % 3 ? m.mutate(kServerFinal) : m.random_bytes());
  }
}

TEST(ScramFuzz, SecretParserSurvivesMutations) {
  Mutator m(3);
  for (int i = 0; i < 5000; ++i) {
    (void)ScramSecret::parse(i % 2 ? m.random_bytes() : m.mutate(kPencilSecret));
  }
}

}  // namespace
}  // namespace reservoir::auth

#include "auth/scram.h"

#include <gtest/gtest.h>

#include <vector>

#include "auth/base64.h"
#include "test_random.h"

namespace reservoir::auth {
namespace {

// RFC 7677 section 3.
constexpr const char* kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// python3: salt=b64decode(kSaltB64); sp=hashlib.pbkdf2_hmac('sha256', b'pencil', salt, 4096);
// StoredKey=sha256(hmac(sp,'Client Key')), ServerKey=hmac(sp,'Server Key'), base64-encoded.
constexpr const char* kPencilSecret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
// Produced by PostgreSQL 15 itself (single-user mode):
//   SET password_encryption='scram-sha-256';
//   CREATE ROLE alice PASSWORD 'correct horse battery staple';
//   SELECT rolpassword FROM pg_authid WHERE rolname='alice';
constexpr const char* kAlicePassword = "correct horse battery staple";
constexpr const char* kAlicePgSecret =
    "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$4yGw4JAU9JyZ3W2kSSC1LZRqYug1CWpccKUaeym62so=:"
    "DiiGt1YmcpHaV8y87dsAOa9GzR9Y4UdZ71YoG1r3/80=";
// Same, for CREATE ROLE carol PASSWORD 'pässwörd' (UTF-8, NFC: SASLprep leaves it unchanged).
constexpr const char* kCarolPassword = "p\xc3\xa4ssw\xc3\xb6rd";
constexpr const char* kCarolPgSecret =
    "SCRAM-SHA-256$4096:Az8UUaZwLSrGQxGiQu3h7g==$SGlUzZEY5G3N6R+3S1D4UdiHBrx6mxzJE+dI7BTVrU8=:"
    "Pqv7BWUsA2a82JF/Vx3XNkXqMVO3WMLLh5u+aY85/f0=";

ScramSecret secret_of(const char* text) {
  auto s = ScramSecret::parse(text);
  EXPECT_TRUE(s.ok()) << text;
  return s ? *s : ScramSecret{};
}

Bytes salt_of(const char* b64) { return *base64_decode(b64); }

// Runs a whole exchange; returns the first error, or Ok.
Status exchange(ScramClient& client, ScramServer& server) {
  auto server_first = server.handle_client_first(client.client_first_message());
  if (!server_first) return server_first.error();
  auto client_final = client.handle_server_first(*server_first);
  if (!client_final) return client_final.error();
  auto server_final = server.handle_client_final(*client_final);
  if (!server_final) return server_final.error();
  return client.handle_server_final(*server_final);
}

TEST(ScramMakeSecret, MatchesRfc7677AndPostgres) {
  EXPECT_EQ(scram_make_secret("pencil", salt_of(kSaltB64), 4096).to_string(), kPencilSecret);
  ScramSecret alice = secret_of(kAlicePgSecret);
  EXPECT_EQ(scram_make_secret(kAlicePassword, alice.salt, 4096).to_string(), kAlicePgSecret);
  ScramSecret carol = secret_of(kCarolPgSecret);
  EXPECT_EQ(scram_make_secret(kCarolPassword, carol.salt, 4096).to_string(), kCarolPgSecret);
}

TEST(ScramMakeSecret, RandomSaltComesFromInjectedSource) {
  ScramSecret s = scram_make_secret("pw", testing::counting_random(), 16);
  EXPECT_EQ(s.iterations, 16);
  EXPECT_EQ(s.salt, (Bytes{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(ScramServer, Rfc7677Vector) {
  ScramServer server(secret_of(kPencilSecret), kServerNonce);
  auto server_first = server.handle_client_first(kClientFirst);
  ASSERT_TRUE(server_first.ok()) << server_first.error().message;
  EXPECT_EQ(*server_first, kServerFirst);
  EXPECT_FALSE(server.authenticated());
  auto server_final = server.handle_client_final(kClientFinal);
  ASSERT_TRUE(server_final.ok()) << server_final.error().message;
  EXPECT_EQ(*server_final, kServerFinal);
  EXPECT_TRUE(server.authenticated());
  EXPECT_EQ(server.client_key().size(), 32u);
}

TEST(ScramClient, Rfc7677Vector) {
  ScramClient client("pencil", kClientNonce, "user");
  EXPECT_EQ(client.client_first_message(), kClientFirst);
  auto client_final = client.handle_server_first(kServerFirst);
  ASSERT_TRUE(client_final.ok()) << client_final.error().message;
  EXPECT_EQ(*client_final, kClientFinal);
  EXPECT_TRUE(client.handle_server_final(kServerFinal).ok());
}

TEST(ScramClient, DefaultsLikeLibpq) {
  ScramClient client("pw", "", "", testing::counting_random());
  // Empty SCRAM user name; 18 injected random bytes, base64-encoded, as the nonce.
  EXPECT_EQ(client.client_first_message(), "n,,n=,r=AAECAwQFBgcICQoLDA0ODxAR");
  ScramClient escaped("pw", "abc", "a,b=c");
  EXPECT_EQ(escaped.client_first_message(), "n,,n=a=2Cb=3Dc,r=abc");
}

TEST(Scram, RoundTripWithPostgresSecrets) {
  for (auto [password, secret] :
       {std::pair{kAlicePassword, kAlicePgSecret}, std::pair{kCarolPassword, kCarolPgSecret}}) {
    ScramServer server(secret_of(secret));
    ScramClient client(password);
    auto result = exchange(client, server);
    EXPECT_TRUE(result.ok()) << result.error().message;
    EXPECT_TRUE(server.authenticated());
  }
}

TEST(Scram, RoundTripWithMadeSecretAndInjectedRandomness) {
  ScramServer server(scram_make_secret("s3cret", testing::counting_random(), 4096), "",
                     testing::counting_random(100));
  ScramClient client("s3cret", "", "ignored-user", testing::counting_random(200));
  auto result = exchange(client, server);
  EXPECT_TRUE(result.ok()) << result.error().message;
}

TEST(Scram, GsFlagYIsAcceptedWhenServerOffersNoChannelBinding) {
  ScramServer server(secret_of(kPencilSecret), "srv");
  ASSERT_TRUE(server.handle_client_first("y,,n=,r=cli").ok());
  // The client must echo "y,," (base64 "eSws"), not "n,,".
  ScramClient probe("pencil", "cli");
  probe.client_first_message();
  auto n_final = probe.handle_server_first("r=clisrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(n_final.ok());
  auto r = server.handle_client_final(*n_final);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "SCRAM channel binding check failed");
}

TEST(Scram, WrongPasswordFailsWith28P01) {
  ScramServer server(secret_of(kAlicePgSecret));
  ScramClient client("Correct horse battery staple");
  auto result = exchange(client, server);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().sqlstate, "28P01");
  EXPECT_EQ(result.error().message, kScramAuthFailedMessage);
  EXPECT_FALSE(server.authenticated());
  EXPECT_TRUE(server.client_key().empty());
}

TEST(Scram, MockSecretNeverAuthenticatesAndHasStableSalt) {
  Bytes key{9, 9, 9};
  ScramSecret mock = scram_mock_secret("ghost", key);
  EXPECT_EQ(mock, scram_mock_secret("ghost", key));
  EXPECT_NE(mock.salt, scram_mock_secret("ghost2", key).salt);
  EXPECT_EQ(mock.salt.size(), kScramSaltBytes);
  ScramServer server(mock);
  ScramClient client("");
  auto result = exchange(client, server);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().sqlstate, "28P01");
}

std::string replace(std::string s, std::string_view from, std::string_view to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

Result<std::string> rfc_final(std::string_view client_final) {
  ScramServer server(secret_of(kPencilSecret), kServerNonce);
  EXPECT_TRUE(server.handle_client_first(kClientFirst).ok());
  auto r = server.handle_client_final(client_final);
  if (r.ok()) {
    EXPECT_TRUE(server.authenticated());
  } else {
    EXPECT_FALSE(server.authenticated());
    EXPECT_FALSE(server.handle_client_final(kClientFinal).ok())
        << "a failed exchange must stay failed";
  }
  return r;
}

TEST(ScramServer, TamperedFinalMessagesFail) {
  const std::string good = kClientFinal;
  ASSERT_TRUE(rfc_final(good).ok());
  struct Case {
    std::string message;
    const char* sqlstate;
  } cases[] = {
      {replace(good, "biws", "eSws"), "08P01"},          // "y,," instead of "n,,"
      {replace(good, "biws", "cCxh"), "08P01"},          // other binding data
      {replace(good, "biws", "biwx"), "08P01"},          // not valid base64
      {replace(good, "NlF$k0", "NlF$k1"), "08P01"},      // nonce
      {replace(good, "r=rOpr", "r=xOpr"), "08P01"},      // client part of nonce
      {replace(good, "NlF$k0", "NlF$k"), "08P01"},       // truncated nonce
      {replace(good, "dHzbZ", "dHzbY"), "28P01"},        // proof, one bit
      {replace(good, "AndVQ=", "AndVR="), "08P01"},      // non-canonical base64 proof
      {replace(good, "p=dHzb", "p=dHzbdHzb"), "08P01"},  // proof too long
      {good + ",x=ext", "08P01"},                        // proof not last
      {replace(good, ",p=", ",x=ext,p="), "28P01"},      // extension changes AuthMessage
      {replace(good, "c=biws,", ""), "08P01"},           // missing c
      {good.substr(0, good.find(",p=")), "08P01"},       // missing proof
      {good + ",", "08P01"},                             // trailing comma
      {"", "08P01"},
  };
  for (const auto& c : cases) {
    auto r = rfc_final(c.message);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.error().sqlstate, c.sqlstate) << c.message << ": " << r.error().message;
  }
}

TEST(ScramServer, MalformedFirstMessagesFail) {
  const std::pair<std::string, const char*> cases[] = {
      {"", "08P01"},
      {"n", "08P01"},
      {"n,", "08P01"},
      {"n,,", "08P01"},
      {"n,,n=user", "08P01"},
      {"n,,r=abc", "08P01"},
      {"n,,n=user,r=", "08P01"},
      {"n,,n=user,r=a b", "08P01"},
      {"n,,n=user,r=abc,", "08P01"},
      {"n,,n=user,r=abc,junk", "08P01"},
      {"x,,n=user,r=abc", "08P01"},
      {"n;,n=user,r=abc", "08P01"},
      {"p=tls-server-end-point,,n=user,r=abc", "08P01"},
      {"n,a=admin,n=user,r=abc", "0A000"},
      {"n,,m=ext,n=user,r=abc", "0A000"},
      {std::string("n,,n=user,r=a\0c", 15), "08P01"},
      {"n,,n=user,r=" + std::string(kMaxScramMessageBytes, 'a'), "08P01"},
  };
  for (const auto& [message, sqlstate] : cases) {
    ScramServer server(secret_of(kPencilSecret), "srv");
    auto r = server.handle_client_first(message);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.error().sqlstate, sqlstate) << message << ": " << r.error().message;
  }
  // Extensions after the nonce are ignored, as PostgreSQL does.
  ScramServer server(secret_of(kPencilSecret), "srv");
  EXPECT_TRUE(server.handle_client_first("n,,n=user,r=abc,x=1,y=2").ok());
}

TEST(ScramServer, OutOfOrderCallsFail) {
  ScramServer server(secret_of(kPencilSecret), kServerNonce);
  auto early = server.handle_client_final(kClientFinal);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().sqlstate, "08P01");
  ScramServer twice(secret_of(kPencilSecret), kServerNonce);
  ASSERT_TRUE(twice.handle_client_first(kClientFirst).ok());
  EXPECT_FALSE(twice.handle_client_first(kClientFirst).ok());
}

TEST(ScramClient, BadServerFirstMessagesFail) {
  const std::string salt = std::string(",s=") + kSaltB64;
  for (const std::string& bad : std::vector<std::string>{
           "",
           "r=rOprNGfwEbeRWgbNEkqO" + salt + ",i=4096",     // nonce not extended
           "r=xOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=4096",  // not our nonce
           "r=rOprNGfwEbeRWgbNEkqOs v" + salt + ",i=4096",
           "r=rOprNGfwEbeRWgbNEkqOsrv,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt,
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=0",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=-1",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=+1",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=4x",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=99999999999",
           "r=rOprNGfwEbeRWgbNEkqOsrv,s=,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
           "m=ext,r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=4096",
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOsrv,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOsrv" + salt + ",i=4096,",
           "r=rOprNGfwEbeRWgbNEkqO" + std::string(kMaxScramMessageBytes, 'a') + salt + ",i=1",
       }) {
    ScramClient client("pencil", kClientNonce, "user");
    client.client_first_message();
    auto r = client.handle_server_first(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().sqlstate, "08P01") << bad;
    EXPECT_FALSE(client.handle_server_final(kServerFinal).ok());
  }
}

TEST(ScramClient, BadServerFinalMessagesFail) {
  const std::pair<std::string, const char*> cases[] = {
      {"v=6rrjTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "28000"},  // wrong signature
      {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "08P01"},   // bad base64
      {"v=", "28000"},
      {"e=invalid-proof", "08P01"},
      {"x=1", "08P01"},
      {"", "08P01"},
  };
  for (const auto& [message, sqlstate] : cases) {
    ScramClient client("pencil", kClientNonce, "user");
    client.client_first_message();
    ASSERT_TRUE(client.handle_server_first(kServerFirst).ok());
    auto r = client.handle_server_final(message);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.error().sqlstate, sqlstate) << message << ": " << r.error().message;
  }
  ScramClient client("pencil", kClientNonce, "user");
  client.client_first_message();
  ASSERT_TRUE(client.handle_server_first(kServerFirst).ok());
  auto r = client.handle_server_final("e=invalid-proof");
  EXPECT_EQ(r.error().message, "SCRAM error from server: invalid-proof");
}

TEST(ScramClient, OutOfOrderCallsFail) {
  ScramClient client("pencil", kClientNonce, "user");
  EXPECT_FALSE(client.handle_server_first(kServerFirst).ok());  // before client-first
  EXPECT_FALSE(client.handle_server_final(kServerFinal).ok());
}

TEST(ScramClient, PassThroughWithRecoveredClientKey) {
  ScramSecret secret = secret_of(kAlicePgSecret);
  ScramServer front(secret);
  ScramClient app(kAlicePassword);
  ASSERT_TRUE(exchange(app, front).ok());
  // Reservoir now logs into a server holding the same secret without knowing the password.
  ScramServer backend(secret);
  ScramClient reservoir = ScramClient::from_client_key(front.client_key(), secret);
  auto result = exchange(reservoir, backend);
  EXPECT_TRUE(result.ok()) << result.error().message;
  // A server whose secret has another salt cannot be logged into this way.
  ScramServer other(scram_make_secret(kAlicePassword, testing::counting_random(), 4096));
  ScramClient again = ScramClient::from_client_key(front.client_key(), secret);
  auto mismatch = exchange(again, other);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().sqlstate, "28000");
}

}  // namespace
}  // namespace reservoir::auth

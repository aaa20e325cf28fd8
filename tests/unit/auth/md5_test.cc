#include "auth/md5.h"

#include <gtest/gtest.h>

#include <array>

namespace reservoir::auth {
namespace {

constexpr std::array<std::uint8_t, 4> kSalt{1, 2, 3, 4};
// PostgreSQL 15: SET password_encryption='md5'; CREATE ROLE bob PASSWORD 'secret';
// SELECT rolpassword FROM pg_authid WHERE rolname='bob';
constexpr const char* kBobHash = "md521f3163f8f86fa10bdefbfbd502a8f06";
// python3: 'md5' + md5(md5(b'secretbob').hexdigest().encode() + bytes([1,2,3,4])).hexdigest()
constexpr const char* kBobResponse = "md5f21dfe33ff3a9e03dbc3e008251fe5cc";

TEST(Md5, PasswordHashMatchesPostgres) { EXPECT_EQ(md5_password_hash("secret", "bob"), kBobHash); }

TEST(Md5, SaltedResponseFromPlainAndFromHashAgree) {
  EXPECT_EQ(md5_salted_response("secret", "bob", kSalt), kBobResponse);
  EXPECT_EQ(md5_response_from_hash(kBobHash, kSalt), kBobResponse);
}

TEST(Md5, ResponseFromMalformedHashIsEmpty) {
  EXPECT_EQ(md5_response_from_hash("md5short", kSalt), "");
  EXPECT_EQ(md5_response_from_hash("secret", kSalt), "");
}

TEST(Md5, VerifiesPlainAndMd5Secrets) {
  EXPECT_TRUE(md5_verify(parse_secret("secret"), "bob", kSalt, kBobResponse));
  EXPECT_TRUE(md5_verify(parse_secret(kBobHash), "bob", kSalt, kBobResponse));
}

TEST(Md5, RejectsWrongResponseUserSaltOrKind) {
  Secret plain = parse_secret("secret");
  EXPECT_FALSE(md5_verify(plain, "bob", kSalt, "md5f21dfe33ff3a9e03dbc3e008251fe5cd"));
  EXPECT_FALSE(md5_verify(plain, "bob", kSalt, "md5f21dfe33ff3a9e03dbc3e008251fe5c"));
  EXPECT_FALSE(md5_verify(plain, "bob", kSalt, ""));
  EXPECT_FALSE(md5_verify(plain, "alice", kSalt, kBobResponse));
  constexpr std::array<std::uint8_t, 4> other{1, 2, 3, 5};
  EXPECT_FALSE(md5_verify(plain, "bob", other, kBobResponse));
  Secret scram = parse_secret(
      "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$4yGw4JAU9JyZ3W2kSSC1LZRqYug1CWpccKUaeym62so=:"
      "DiiGt1YmcpHaV8y87dsAOa9GzR9Y4UdZ71YoG1r3/80=");
  ASSERT_EQ(scram.kind, Secret::Kind::Scram);
  EXPECT_FALSE(md5_verify(scram, "bob", kSalt, kBobResponse));
}

TEST(Md5, EmptyPlainPasswordNeverVerifies) {
  Secret empty = parse_secret("");
  EXPECT_FALSE(md5_verify(empty, "bob", kSalt, md5_salted_response("", "bob", kSalt)));
}

}  // namespace
}  // namespace reservoir::auth

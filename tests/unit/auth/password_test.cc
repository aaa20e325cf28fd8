#include "auth/password.h"

#include <gtest/gtest.h>

namespace reservoir::auth {
namespace {

// PostgreSQL 15 produced both (see scram_test.cc and md5_test.cc).
constexpr const char* kAliceScram =
    "SCRAM-SHA-256$4096:UXY1hB0MnHEr+K/OxLKbyw==$4yGw4JAU9JyZ3W2kSSC1LZRqYug1CWpccKUaeym62so=:"
    "DiiGt1YmcpHaV8y87dsAOa9GzR9Y4UdZ71YoG1r3/80=";
constexpr const char* kBobMd5 = "md521f3163f8f86fa10bdefbfbd502a8f06";

TEST(VerifyCleartextPassword, AllSecretKinds) {
  EXPECT_TRUE(verify_cleartext_password(parse_secret("pw"), "u", "pw"));
  EXPECT_FALSE(verify_cleartext_password(parse_secret("pw"), "u", "pW"));
  EXPECT_FALSE(verify_cleartext_password(parse_secret("pw"), "u", "pw "));
  EXPECT_TRUE(verify_cleartext_password(parse_secret(kBobMd5), "bob", "secret"));
  EXPECT_FALSE(verify_cleartext_password(parse_secret(kBobMd5), "alice", "secret"));
  EXPECT_TRUE(verify_cleartext_password(parse_secret(kAliceScram), "alice",
                                        "correct horse battery staple"));
  EXPECT_FALSE(verify_cleartext_password(parse_secret(kAliceScram), "alice", "wrong"));
}

TEST(VerifyCleartextPassword, EmptyPasswordNeverVerifies) {
  EXPECT_FALSE(verify_cleartext_password(parse_secret(""), "u", ""));
}

}  // namespace
}  // namespace reservoir::auth

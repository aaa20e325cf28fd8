#include "auth/base64.h"

#include <gtest/gtest.h>

#include "auth/random.h"

namespace reservoir::auth {
namespace {

std::string decode_str(std::string_view s) {
  auto r = base64_decode(s);
  EXPECT_TRUE(r.ok()) << s;
  return r ? std::string(as_chars(*r)) : "";
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
    EXPECT_EQ(decode_str(encoded), plain);
  }
}

TEST(Base64, RoundTripsAllLengthsAndByteValues) {
  Bytes data;
  for (int i = 0; i < 300; ++i) {
    auto decoded = base64_decode(base64_encode(data));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, data);
    data.push_back(std::uint8_t(i * 37 + 11));
  }
}

TEST(Base64, RejectsInvalidInput) {
  for (const char* bad :
       {"Z", "Zg", "Zg=", "Zm9", "Zg=a", "=Zg=", "====", "Z===", "Zm9v====", "Zm 9", "Zm9v\n",
        "Zm-v", "Zm_v", "Zg==Zg==", "Zh==", "Zm9=", "\xff\xfe\xfd\xfc"}) {
    auto r = base64_decode(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().sqlstate, "08P01");
    }
  }
}

TEST(Base64, DecodesEmbeddedNulInInputAsInvalid) {
  EXPECT_FALSE(base64_decode(std::string_view("Zm\0v", 4)).ok());
}

TEST(RandomNonce, IsPrintableWithoutCommaAndDeterministicWithInjectedSource) {
  int calls = 0;
  RandomSource zeros = [&](std::span<std::uint8_t> out) {
    ++calls;
    for (auto& b : out) b = 0;
  };
  EXPECT_EQ(random_nonce(zeros), "AAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(calls, 1);
  std::string nonce = random_nonce(system_random());
  EXPECT_EQ(nonce.size(), 24u);
  EXPECT_EQ(nonce.find(','), std::string::npos);
  EXPECT_NE(nonce, random_nonce(system_random()));
}

}  // namespace
}  // namespace reservoir::auth

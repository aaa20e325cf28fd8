// The digests SCRAM and md5 rest on, against published vectors (RFC 4231 for HMAC-SHA-256,
// FIPS 180-2 and RFC 1321 for the plain digests) and Python's hmac for the edge cases.
#include "auth/digest.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "auth/random.h"

namespace reservoir::auth {
namespace {

Bytes repeat(std::uint8_t byte, std::size_t n) { return Bytes(n, byte); }

TEST(Digest, Sha256AndMd5KnownAnswers) {
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(md5_hex(as_bytes("abc")), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Digest, HmacSha256Rfc4231) {
  // Test case 1, 2 and 6 (a key longer than the block is hashed first).
  EXPECT_EQ(to_hex(hmac_sha256(repeat(0x0b, 20), as_bytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(to_hex(hmac_sha256(repeat(0xaa, 131),
                               as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Digest, HmacSha256BlockSizedAndEmptyKeys) {
  EXPECT_EQ(to_hex(hmac_sha256(repeat('k', 64), as_bytes("exactly one block of key"))),
            "baa93ea4ccc7062ed6870c5e7937dbd35ad7791df4e29df9addeb429ff491acf");
  EXPECT_EQ(to_hex(hmac_sha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Digest, SameAnswersOnAnotherThread) {
  std::string on_thread;
  std::thread([&] { on_thread = to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("x"))); }).join();
  EXPECT_EQ(on_thread, to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("x"))));
}

TEST(SystemRandom, NoncesDifferAcrossManyDraws) {
  // Draws cross several refills of the per-thread block; none may repeat.
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(seen.insert(random_nonce(system_random())).second);
  Bytes large(4096);  // served by RAND_bytes directly
  system_random()(large);
  EXPECT_NE(large, Bytes(4096, 0));
}

}  // namespace
}  // namespace reservoir::auth

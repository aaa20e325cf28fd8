#include "auth/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include "auth/base64.h"
#include "common/bytes.h"

namespace reservoir::auth {

namespace {

void rand_bytes(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fprintf(stderr, "reservoir: RAND_bytes failed; refusing to continue without entropy\n");
    std::abort();
  }
}

// RAND_bytes costs about as much per call for 18 bytes as for a few hundred (DRBG locking,
// fork and reseed checks), so small requests are served from a per-thread block of its
// output. A forked child drops the block it inherited, so parent and child never hand out
// the same bytes.
constexpr std::size_t kPoolBytes = 512;
constexpr std::size_t kPooledRequestMax = 64;
struct Pool {
  std::array<std::uint8_t, kPoolBytes> bytes;
  std::size_t used = kPoolBytes;  // empty until first use
};
thread_local Pool pool;

void forget_pool_in_child() { pool.used = kPoolBytes; }

void pooled_bytes(std::span<std::uint8_t> out) {
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_pool_in_child) == 0;
  if (!registered || out.size() > kPooledRequestMax) return rand_bytes(out);
  if (kPoolBytes - pool.used < out.size()) {
    rand_bytes(pool.bytes);
    pool.used = 0;
  }
  std::copy_n(pool.bytes.begin() + static_cast<std::ptrdiff_t>(pool.used), out.size(), out.begin());
  OPENSSL_cleanse(pool.bytes.data() + pool.used, out.size());  // handed out once only
  pool.used += out.size();
}

}  // namespace

RandomSource system_random() { return pooled_bytes; }

std::string random_nonce(const RandomSource& random, std::size_t raw_bytes) {
  std::array<std::uint8_t, 64> small;  // a nonce's usual size: no allocation
  Bytes large(raw_bytes > small.size() ? raw_bytes : 0);
  const std::span<std::uint8_t> raw =
      large.empty() ? std::span<std::uint8_t>(small.data(), raw_bytes) : std::span(large);
  random(raw);
  return base64_encode(raw);
}

}  // namespace reservoir::auth

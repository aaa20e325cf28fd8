#include "auth/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "auth/base64.h"
#include "common/bytes.h"

namespace reservoir::auth {

RandomSource system_random() {
  return [](std::span<std::uint8_t> out) {
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      std::fprintf(stderr, "reservoir: RAND_bytes failed; refusing to continue without entropy\n");
      std::abort();
    }
  };
}

std::string random_nonce(const RandomSource& random, std::size_t raw_bytes) {
  Bytes raw(raw_bytes);
  random(raw);
  return base64_encode(raw);
}

}  // namespace reservoir::auth

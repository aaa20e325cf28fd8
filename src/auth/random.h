#pragma once
// Randomness is a parameter: everything in auth/ that needs random bytes (salts, nonces)
// takes a RandomSource, so tests can inject a deterministic one.
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace reservoir::auth {

// Fills the span completely with random bytes.
using RandomSource = std::function<void(std::span<std::uint8_t>)>;

// A source backed by OpenSSL's RAND_bytes (the OS CSPRNG); small requests are served from a
// per-thread block of its output, dropped in a forked child. If RAND_bytes ever fails the
// process aborts: continuing with predictable nonces or salts would be worse than stopping,
// and it fails only when the system entropy source is broken.
RandomSource system_random();

// `raw_bytes` random bytes from `random`, base64-encoded: printable and free of ',', so
// usable as a SCRAM nonce. PostgreSQL uses 18 raw bytes (24 characters).
std::string random_nonce(const RandomSource& random, std::size_t raw_bytes = 18);

}  // namespace reservoir::auth

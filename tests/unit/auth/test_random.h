#pragma once
// Deterministic RandomSource for auth tests: bytes 0, 1, 2, ... continuing across calls.
#include <memory>

#include "auth/random.h"

namespace reservoir::auth::testing {

inline RandomSource counting_random(std::uint8_t start = 0) {
  auto next = std::make_shared<std::uint8_t>(start);
  return [next](std::span<std::uint8_t> out) {
    for (auto& b : out) b = (*next)++;
  };
}

}  // namespace reservoir::auth::testing

#pragma once
// Helpers shared by the framing tests: sample streams and chunkings.
#include <random>
#include <vector>

#include "common/bytes.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace reservoir::protocol::testing {

// A realistic server->client stream ending in ReadyForQuery 'T', with an empty-body message
// and a large DataRow-like body.
inline Bytes sample_backend_stream() {
  Bytes out;
  Authentication::ok().encode(out);
  ParameterStatus{"server_version", "16.2"}.encode(out);
  BackendKeyData{12, 34}.encode(out);
  ReadyForQuery{'I'}.encode(out);
  ParseComplete{}.encode(out);
  encode_frame(out, msg::kDataRow, Bytes(3000, 0x5a));
  CommandComplete{"SELECT 1"}.encode(out);
  ErrorResponse::make("ERROR", "42P01", "relation does not exist").encode(out);
  ReadyForQuery{'T'}.encode(out);
  return out;
}

// Splits `n` bytes into chunk sizes drawn from [1, max_chunk].
inline std::vector<std::size_t> random_chunks(std::size_t n, std::size_t max_chunk,
                                              std::mt19937& rng) {
  std::vector<std::size_t> sizes;
  std::uniform_int_distribution<std::size_t> dist(1, max_chunk);
  while (n > 0) {
    std::size_t s = std::min(n, dist(rng));
    sizes.push_back(s);
    n -= s;
  }
  return sizes;
}

}  // namespace reservoir::protocol::testing

#pragma once
// Test helpers shared by the proxy layer's socket tests: a connected pair of unix sockets, one
// end an Asio Socket on the given loop (non-blocking), the other a plain fd for the test, and a
// deterministic byte pattern to check streams against.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "proxy/net.h"

namespace reservoir::proxy::testing {

struct Pair {
  Socket ours;
  int theirs = -1;
  explicit Pair(asio::io_context& io) : ours(io) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ours.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
    boost::system::error_code ec;
    ours.non_blocking(true, ec);
    theirs = fds[1];
  }
  ~Pair() {
    if (theirs >= 0) ::close(theirs);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
};

// The byte at offset `i` of a test stream.
inline std::uint8_t byte_at(std::size_t i) {
  return static_cast<std::uint8_t>((i * 131 + 7) % 251);
}

}  // namespace reservoir::proxy::testing

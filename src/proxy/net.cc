#include "proxy/net.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

#include "protocol/messages/error_response.h"

namespace reservoir::proxy {

Task<bool> write_all(Socket& socket, ByteView bytes) {
  auto [ec, n] =
      co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), nothrow);
  co_return !ec;
}

namespace {
thread_local int this_worker = 0;
}  // namespace

int worker_index() { return this_worker; }
void set_worker_index(int index) { this_worker = index; }

std::span<std::uint8_t> scratch() {
  thread_local std::array<std::uint8_t, kScratchSize> buffer;
  return buffer;
}

Task<ReadResult> read_ready(Socket& socket, std::span<std::uint8_t> landing) {
  // Why not async_wait(wait_read) and one read? Asio re-arms epoll (epoll_ctl) for every
  // non-speculative operation; a speculative read does not.
  auto [ec, n] =
      co_await socket.async_read_some(asio::buffer(landing.data(), landing.size()), nothrow);
  if (ec) co_return ReadResult{ec, {}};
  auto buf = scratch();
  std::memcpy(buf.data(), landing.data(), n);
  std::size_t total = n;
  if (n == landing.size()) {
    boost::system::error_code more_error;
    total += socket.read_some(asio::buffer(buf.data() + n, buf.size() - n), more_error);
  }
  co_return ReadResult{{}, ByteView(buf.data(), total)};
}

Task<bool> forward(Socket& socket, ByteView bytes, Bytes& spill) {
  boost::system::error_code ec;
  std::size_t sent = socket.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    sent = 0;
  } else if (ec) {
    co_return false;
  }
  if (sent == bytes.size()) co_return true;
  spill.assign(bytes.begin() + static_cast<std::ptrdiff_t>(sent), bytes.end());
  auto [write_error, n] = co_await asio::async_write(socket, asio::buffer(spill), nothrow);
  spill.clear();
  co_return !write_error;
}

Task<Result<protocol::Frame>> read_frame(Socket& socket, protocol::FrameReader& reader) {
  std::array<std::uint8_t, 4096> chunk;
  for (;;) {
    auto frame = reader.next();
    if (!frame) co_return frame.error();
    if (*frame) co_return **frame;
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), nothrow);
    if (ec) co_return make_error("08006", "connection closed: " + ec.message());
    reader.append(ByteView(chunk.data(), n));
  }
}

void append_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message) {
  protocol::ErrorResponse::make(std::string(severity), std::string(sqlstate), std::string(message))
      .encode(out);
}

namespace {
void set_int(int fd, int level, int name, int value) {
  if (value > 0) ::setsockopt(fd, level, name, &value, sizeof value);
}
}  // namespace

void apply_socket_options(Socket& socket, const TcpOptions& s) {
  boost::system::error_code ec;
  const int family = socket.local_endpoint(ec).protocol().family();
  if (ec) return;
  if (family != AF_INET && family != AF_INET6) return;
  const int fd = socket.native_handle();
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (!s.keepalive) return;
  set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, s.keepidle);
  set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, s.keepintvl);
  set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, s.keepcnt);
  set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, s.user_timeout);
}

std::string peer_name(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  const auto* sa = reinterpret_cast<const sockaddr*>(ep.data());
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unix";
}

}  // namespace reservoir::proxy

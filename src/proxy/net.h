#pragma once
// Shared I/O vocabulary of the proxy layer: one socket type for TCP and unix sockets,
// coroutine tasks, and the few helpers every connection needs.
#include <boost/asio.hpp>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "config/config.h"
#include "protocol/frame.h"

namespace reservoir::proxy {

namespace asio = boost::asio;
// generic::stream_protocol carries both TCP and unix-domain sockets, so one code path
// serves clients on either and reaches PostgreSQL over either.
using Socket = asio::generic::stream_protocol::socket;
using Executor = asio::any_io_executor;
template <class T = void>
using Task = asio::awaitable<T>;

// Completion token that reports errors as values: nothing on the data path throws.
inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Writes every byte; false if the peer is gone.
Task<bool> write_all(Socket& socket, ByteView bytes);

// Reads until `reader` yields one complete frame. The frame's body stays valid until the
// reader is used again. Errors: connection closed (08006) or a malformed frame (08P01/54000).
Task<Result<protocol::Frame>> read_frame(Socket& socket, protocol::FrameReader& reader);

// Appends an ErrorResponse frame with severity, SQLSTATE and message.
void append_error(Bytes& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message);

// Applies TCP_NODELAY and the tcp_keep* / tcp_user_timeout settings; no-op on unix sockets.
void apply_socket_options(Socket& socket, const config::Settings& settings);

// "host:port" or the unix socket path of the peer, for logs.
std::string peer_name(const Socket& socket);

}  // namespace reservoir::proxy

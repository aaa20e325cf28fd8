#include "proxy/relay.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "protocol/message_scanner.h"
#include "protocol/message_types.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/query.h"
#include "protocol/messages/ready_for_query.h"

namespace reservoir::proxy {

namespace {

using namespace asio::experimental::awaitable_operators;
using protocol::MessageHeader;

constexpr std::size_t kRelayBufferSize = 16 * 1024;

// Shared by the two directions of one session; both run on the session's thread.
struct RelayState {
  protocol::MessageScanner from_client;
  protocol::MessageScanner from_server;
  std::uint64_t replies_expected = 0;  // Query, Sync and FunctionCall each earn one ReadyForQuery
  std::uint64_t replies_seen = 0;
  Error error;

  explicit RelayState(std::uint32_t max) : from_client(max), from_server(max) {}
};

Task<RelayEnd> client_to_server(Socket& client, Socket& server, RelayState& st) {
  std::vector<std::uint8_t> buf(kRelayBufferSize);
  for (;;) {
    auto [ec, n] = co_await client.async_read_some(asio::buffer(buf), nothrow);
    if (ec) co_return RelayEnd::ClientGone;
    ByteView chunk(buf.data(), n);
    std::optional<std::size_t> cut;
    Status scanned = st.from_client.scan(chunk, [&](const MessageHeader& h) {
      if (cut) return;
      if (h.type == protocol::msg::kTerminate) {
        cut = h.offset;
      } else if (h.type == protocol::msg::kQuery || h.type == protocol::msg::kSync ||
                 h.type == protocol::msg::kFunctionCall) {
        ++st.replies_expected;
      }
    });
    if (!scanned) {
      st.error = scanned.error();
      co_return RelayEnd::ClientProtocolError;
    }
    const std::size_t forward = cut.value_or(n);
    if (forward > 0 && !co_await write_all(server, chunk.first(forward))) {
      co_return RelayEnd::ServerGone;
    }
    if (cut) co_return RelayEnd::ClientTerminated;
  }
}

Task<RelayEnd> server_to_client(Socket& server, Socket& client, RelayState& st) {
  std::vector<std::uint8_t> buf(kRelayBufferSize);
  for (;;) {
    auto [ec, n] = co_await server.async_read_some(asio::buffer(buf), nothrow);
    if (ec) co_return RelayEnd::ServerGone;
    ByteView chunk(buf.data(), n);
    Status scanned = st.from_server.scan(chunk, [&](const MessageHeader& h) {
      if (h.type == protocol::msg::kReadyForQuery) ++st.replies_seen;
    });
    if (!scanned) {
      st.error = scanned.error();
      co_return RelayEnd::ServerProtocolError;
    }
    if (!co_await write_all(client, chunk)) co_return RelayEnd::ClientGone;
  }
}

Task<RelayEnd> wait_for_shutdown(asio::steady_timer& signal) {
  (void)co_await signal.async_wait(nothrow);
  co_return RelayEnd::Shutdown;
}

}  // namespace

Task<RelayOutcome> relay_session(Socket& client, ServerConn& server,
                                 asio::steady_timer& shutdown_signal,
                                 std::uint32_t max_packet_size) {
  RelayState st(max_packet_size);
  auto first = co_await (client_to_server(client, server.socket(), st) ||
                         server_to_client(server.socket(), client, st) ||
                         wait_for_shutdown(shutdown_signal));
  RelayOutcome out;
  out.end = std::visit([](RelayEnd e) { return e; }, first);
  out.error = st.error;
  out.server_idle = st.from_client.at_boundary() && st.from_server.at_boundary() &&
                    st.replies_seen == st.replies_expected &&
                    (st.from_server.last_type() == protocol::msg::kReadyForQuery ||
                     st.from_server.messages_seen() == 0);
  if (st.from_server.ready_status() != 0) out.server_status = st.from_server.ready_status();
  out.client_at_boundary = st.from_server.at_boundary();
  co_return out;
}

Task<Status> run_on_server(ServerConn& server, const std::string& sql) {
  Bytes out;
  protocol::Query{sql}.encode(out);
  if (!co_await write_all(server.socket(), out)) co_return make_error("08006", "server went away");
  protocol::FrameReader reader;
  std::optional<Error> failure;
  for (;;) {
    auto frame = co_await read_frame(server.socket(), reader);
    if (!frame) co_return frame.error();
    if (frame->type == protocol::msg::kErrorResponse) {
      auto e = protocol::ErrorResponse::decode(frame->body);
      failure = e ? make_error(std::string(e->sqlstate()), std::string(e->message()))
                  : e.error();
    } else if (frame->type == protocol::msg::kParameterStatus) {
      if (auto p = protocol::ParameterStatus::decode(frame->body)) server.params()[p->name] = p->value;
    } else if (frame->type == protocol::msg::kReadyForQuery) {
      auto z = protocol::ReadyForQuery::decode(frame->body);
      if (failure) co_return *failure;
      if (!z || z->status != 'I') co_return make_error("25000", "server not idle after \"" + sql + "\"");
      if (reader.buffered() != 0) co_return make_error("08P01", "unexpected data from server");
      co_return Ok{};
    }
  }
}

}  // namespace reservoir::proxy

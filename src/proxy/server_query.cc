#include "proxy/server_query.h"

#include <fmt/format.h>

#include <atomic>
#include <memory>

#include "protocol/message_types.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/query.h"
#include "protocol/messages/ready_for_query.h"

namespace reservoir::proxy {

namespace {

// Decodes a DataRow body into text columns; false if malformed.
bool decode_row(ByteView body, std::vector<std::string>& row) {
  ByteReader r(body);
  std::int16_t columns = 0;
  if (!r.i16(columns) || columns < 0) return false;
  for (int i = 0; i < columns; ++i) {
    std::int32_t len = 0;
    if (!r.i32(len)) return false;
    if (len < 0) {
      row.emplace_back();
      continue;
    }
    ByteView value;
    if (!r.raw(static_cast<std::size_t>(len), value)) return false;
    row.emplace_back(as_chars(value));
  }
  return r.at_end();
}

std::atomic<Duration::rep> answer_limit{
    std::chrono::duration_cast<Duration>(std::chrono::seconds(15)).count()};

// Cancels the server's pending read if the answer has not come within the limit. Its handler
// runs after the query is over too (aborted, when the timer goes at the end of the scope):
// it touches the socket only while `state` says the query still waits.
class AnswerDeadline {
 public:
  explicit AnswerDeadline(Socket& socket)
      : limit_(answer_limit.load(std::memory_order_relaxed)), timer_(socket.get_executor()) {
    if (limit_ <= Duration::zero()) return;  // server_connect_timeout = 0: no limit
    timer_.expires_after(limit_);
    timer_.async_wait([state = state_, socket = &socket](const boost::system::error_code& ec) {
      if (ec || *state != State::Waiting) return;
      *state = State::Expired;
      boost::system::error_code ignored;
      socket->cancel(ignored);
    });
  }
  ~AnswerDeadline() {
    if (*state_ == State::Waiting) *state_ = State::Done;
  }
  AnswerDeadline(const AnswerDeadline&) = delete;
  AnswerDeadline& operator=(const AnswerDeadline&) = delete;
  bool expired() const { return *state_ == State::Expired; }
  double seconds() const { return std::chrono::duration<double>(limit_).count(); }

 private:
  enum class State { Waiting, Done, Expired };
  Duration limit_;
  std::shared_ptr<State> state_ = std::make_shared<State>(State::Waiting);
  Timer timer_;
};

}  // namespace

void set_server_answer_limit(Duration limit) {
  answer_limit.store(limit.count(), std::memory_order_relaxed);
}

Task<Result<Rows>> query_server(ServerConn& server, const std::string& sql) {
  Bytes out;
  protocol::Query{sql}.encode(out);
  if (!co_await write_all(server.socket(), out)) co_return make_error("08006", "server went away");
  AnswerDeadline deadline(server.socket());
  protocol::FrameReader reader;
  std::optional<Error> failure;
  Rows rows;
  for (;;) {
    auto frame = co_await read_frame(server.socket(), reader);
    if (!frame && deadline.expired()) {
      co_return make_error("08006", fmt::format("server did not answer \"{}\" within {:g}s", sql,
                                                deadline.seconds()));
    }
    if (!frame) co_return frame.error();
    switch (frame->type) {
      case protocol::msg::kErrorResponse: {
        auto e = protocol::ErrorResponse::decode(frame->body);
        failure = e ? make_error(std::string(e->sqlstate()), std::string(e->message())) : e.error();
        break;
      }
      case protocol::msg::kParameterStatus:
        if (auto p = protocol::ParameterStatus::decode(frame->body)) {
          server.params()[p->name] = p->value;
        }
        server.forget_synced();
        break;
      case protocol::msg::kRowDescription:
        rows.clear();  // a new result set: keep only the last one
        break;
      case protocol::msg::kDataRow: {
        std::vector<std::string> row;
        if (!decode_row(frame->body, row))
          co_return make_error("08P01", "malformed DataRow from server");
        rows.push_back(std::move(row));
        break;
      }
      case protocol::msg::kReadyForQuery: {
        auto z = protocol::ReadyForQuery::decode(frame->body);
        if (failure) co_return *failure;
        if (!z || z->status != 'I')
          co_return make_error("25000", "server not idle after \"" + sql + "\"");
        if (reader.buffered() != 0) co_return make_error("08P01", "unexpected data from server");
        co_return rows;
      }
      default:
        break;
    }
  }
}

Task<Status> run_on_server(ServerConn& server, const std::string& sql) {
  auto rows = co_await query_server(server, sql);
  if (!rows) co_return rows.error();
  co_return Ok{};
}

}  // namespace reservoir::proxy

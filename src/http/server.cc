#include "http/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace reservoir::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kRequestTimeout{10};
constexpr std::chrono::milliseconds kProbeTimeout{1000};
constexpr std::size_t kMaxRequestBody = 8192;

// Sends SSLRequest on a connected stream and waits for the one-byte answer.
template <class Stream>
asio::awaitable<std::string> ask_ssl(Stream& stream) {
  static constexpr std::uint8_t kSslRequest[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kSslRequest), kNoThrow);
  if (wec) co_return "write failed: " + wec.message();
  std::uint8_t answer = 0;
  auto [rec, rn] = co_await asio::async_read(stream, asio::buffer(&answer, 1), kNoThrow);
  if (rec) co_return "no answer to SSLRequest: " + rec.message();
  if (answer != 'S' && answer != 'N') co_return "unexpected answer to SSLRequest";
  co_return std::string();
}

template <class Stream, class Endpoint>
asio::awaitable<std::string> probe_stream(Stream& stream, Endpoint ep) {
  auto [ec] = co_await stream.async_connect(ep, kNoThrow);
  if (ec) co_return "connect failed: " + ec.message();
  co_return co_await ask_ssl(stream);
}

}  // namespace

asio::awaitable<std::string> probe_postgres(asio::any_io_executor ex, const ProbeTarget& target,
                                            std::chrono::milliseconds timeout) {
  asio::steady_timer timer(ex, timeout);
  const std::string where =
      target.host.empty() || target.host[0] == '/'
          ? fmt::format("{}/.s.PGSQL.{}", target.host.empty() ? "/tmp" : target.host, target.port)
          : fmt::format("{}:{}", target.host, target.port);
  std::variant<std::string, std::tuple<boost::system::error_code>> outcome;
  if (target.host.empty() || target.host[0] == '/') {
    asio::local::stream_protocol::socket s(ex);
    outcome = co_await (probe_stream(s, asio::local::stream_protocol::endpoint(where)) ||
                        timer.async_wait(kNoThrow));
  } else {
    asio::ip::tcp::resolver resolver(ex);
    auto [rec, results] =
        co_await resolver.async_resolve(target.host, std::to_string(target.port), kNoThrow);
    if (rec || results.empty())
      co_return fmt::format("cannot resolve {}: {}", where, rec.message());
    asio::ip::tcp::socket s(ex);
    outcome = co_await (probe_stream(s, results.begin()->endpoint()) || timer.async_wait(kNoThrow));
  }
  if (outcome.index() == 1)
    co_return fmt::format("{}: no answer within {} ms", where, timeout.count());
  const std::string& error = std::get<0>(outcome);
  co_return error.empty() ? error : where + ": " + error;
}

Result<std::optional<asio::ip::tcp::endpoint>> parse_listen(const std::string& text) {
  if (text.empty()) return std::optional<asio::ip::tcp::endpoint>();
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return make_error("F0000", "http_listen: expected host:port, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return make_error("F0000", "http_listen: bad port in '" + text + "'");
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error("F0000", "http_listen: bad address '" + host + "'");
  return std::optional(asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(port)));
}

Server::Server(Source& source) : source_(source) {}

Server::~Server() { stop(); }

Status Server::listen(const asio::ip::tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(
        "F0000", fmt::format("cannot listen for HTTP on {}:{}: {}", endpoint.address().to_string(),
                             endpoint.port(), ec.message()));
  }
  spdlog::info("HTTP endpoint on http://{}:{}/", endpoint.address().to_string(),
               acceptor_.local_endpoint().port());
  return Ok{};
}

void Server::start() {
  if (!acceptor_.is_open()) return;
  asio::co_spawn(loop_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { loop_.run(); });
}

void Server::stop() {
  if (!thread_.joinable()) return;
  asio::post(loop_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    loop_.stop();
  });
  thread_.join();
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      asio::steady_timer pause(loop_, std::chrono::milliseconds(50));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    asio::co_spawn(loop_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::serve(asio::ip::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(kRequestTimeout);
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxRequestBody);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
    if (ec) break;
    const auto& req = parser.get();
    Response r = co_await handle(std::string(req.method_string()), std::string(req.target()));
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), req.version()};
    res.set(bhttp::field::server, "reservoir");
    res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    stream.expires_after(kRequestTimeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, kNoThrow);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

asio::awaitable<Response> Server::ready() {
  const auto targets = source_.databases();
  std::string failures;
  auto ex = co_await asio::this_coro::executor;
  for (const auto& t : targets) {
    const std::string why = co_await probe_postgres(ex, t, kProbeTimeout);
    if (why.empty()) continue;
    if (!failures.empty()) failures += ',';
    failures +=
        fmt::format("{{\"database\":{},\"reason\":{}}}", observability::json_string(t.database),
                    observability::json_string(why));
  }
  if (failures.empty()) {
    co_return Response{200, "application/json",
                       fmt::format("{{\"ready\":true,\"databases\":{}}}\n", targets.size())};
  }
  co_return Response{503, "application/json",
                     "{\"ready\":false,\"unreachable\":[" + failures + "]}\n"};
}

asio::awaitable<Response> Server::handle(std::string method, std::string target) {
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  if (method != "GET" && method != "HEAD") {
    co_return Response{405, "text/plain; charset=utf-8", "only GET is supported\n"};
  }
  if (target == "/health") co_return Response{200, "text/plain; charset=utf-8", "ok\n"};
  if (target == "/ready") co_return co_await ready();
  if (target == "/metrics") {
    co_return Response{200, "text/plain; version=0.0.4; charset=utf-8",
                       observability::render_prometheus(source_.pools(), source_.process())};
  }
  if (target == "/api/pools") {
    co_return Response{200, "application/json",
                       observability::render_json(source_.pools(), source_.process()) + "\n"};
  }
  if (target == "/api/clients") {
    co_return Response{200, "application/json",
                       observability::render_clients_json(source_.clients()) + "\n"};
  }
  if (target == "/" || target == "/index.html") {
    co_return Response{200, "text/html; charset=utf-8", std::string(dashboard_html())};
  }
  co_return Response{404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace reservoir::http

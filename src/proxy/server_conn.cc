#include "proxy/server_conn.h"

#include <fmt/format.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "auth/md5.h"
#include "auth/scram.h"
#include "protocol/message_types.h"
#include "protocol/messages/authentication.h"
#include "protocol/messages/backend_key_data.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/password.h"
#include "proxy/asio_readiness.h"

namespace reservoir::proxy {

namespace {

using namespace asio::experimental::awaitable_operators;
using protocol::AuthCode;
using protocol::Authentication;

std::atomic<std::uint64_t> next_server_id{1};

Error network_error(const ServerTarget& t, const std::string& what) {
  return make_error("08001", "could not connect to server " + t.describe() + ": " + what);
}

// Looks `host` up with getaddrinfo() on a thread of its own. A worker's loop may run without
// Asio's locks (workers=1: App), so nothing may post to it from another thread, and Asio's
// resolver (which completes from its own thread) is refused there: the answer comes back
// through an eventfd the loop watches. The thread keeps its own descriptor of the eventfd and
// everything it writes to, so a caller that has gone (shutdown) leaves it nothing dangling.
// `answered`: the name service answered (with addresses or with an error), as opposed to no
// lookup having been made (no thread to be had, the wait cut short).
Task<Result<std::vector<asio::ip::tcp::endpoint>>> resolve_host(Executor ex, std::string host,
                                                                int port, bool& answered) {
  answered = false;
  struct Answer {
    std::vector<asio::ip::tcp::endpoint> endpoints;
    std::string error;
  };
  const int event = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event < 0) co_return make_error("08001", "eventfd: " + std::string(std::strerror(errno)));
  const int theirs = ::dup(event);
  if (theirs < 0) {
    ::close(event);
    co_return make_error("08001", "dup: " + std::string(std::strerror(errno)));
  }
  auto answer = std::make_shared<Answer>();
  asio::posix::basic_stream_descriptor<Executor> done(ex, event);
  std::string not_started;
  try {
    std::thread([answer, host, port, theirs] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
      addrinfo* found = nullptr;
      const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      if (rc != 0) {
        answer->error = ::gai_strerror(rc);
      } else {
        for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
          if (a->ai_addrlen > sizeof(sockaddr_in6)) continue;
          asio::ip::tcp::endpoint ep;
          std::memcpy(ep.data(), a->ai_addr, a->ai_addrlen);
          ep.resize(a->ai_addrlen);
          answer->endpoints.push_back(ep);
        }
        ::freeaddrinfo(found);
      }
      const std::uint64_t one = 1;
      (void)!::write(theirs, &one, sizeof one);
      ::close(theirs);
    }).detach();
  } catch (const std::system_error& e) {  // no thread to be had (a resource limit)
    ::close(theirs);
    not_started = std::string("cannot start a thread to look it up: ") + e.what();
  }
  // (`answer` is the thread's until it writes the eventfd: only read after the wait.)
  if (!not_started.empty()) co_return make_error("08001", not_started);
  auto [ec] = co_await done.async_wait(asio::posix::descriptor_base::wait_read, nothrow);
  if (ec) co_return make_error("08001", "name lookup of \"" + host + "\": " + ec.message());
  answered = true;
  if (!answer->error.empty()) co_return make_error("08001", answer->error);
  co_return std::move(answer->endpoints);
}

// Server host names' answers, kept as PgBouncer keeps them: addresses for dns_max_ttl, a
// failed lookup for dns_nxdomain_ttl (the name service's own TTLs are not known to
// getaddrinfo). A pool opening servers one after another (its first clients, a restart of
// PostgreSQL, server_lifetime) looks its host up once rather than once per connection, and a
// name that does not resolve is not asked for again on every retry. One per process, shared
// by the workers; as many entries as configured host names.
class HostCache {
 public:
  using Answer = Result<std::vector<asio::ip::tcp::endpoint>>;  // addresses, or the failure
  struct Entry {
    Answer answer;
    TimePoint until;
  };
  std::optional<Answer> find(const std::string& host, TimePoint now) {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(host);
    if (it == entries_.end()) return std::nullopt;
    if (now >= it->second.until) {
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.answer;
  }
  void store(const std::string& host, Entry entry) {
    std::lock_guard lock(mu_);
    entries_.insert_or_assign(host, std::move(entry));
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

HostCache& host_cache() {
  static HostCache cache;
  return cache;
}

// The addresses of `t.host` (a name, not a literal address), from the cache or looked up.
Task<Result<std::vector<asio::ip::tcp::endpoint>>> lookup_host(Executor ex, const ServerTarget& t) {
  const TimePoint now = SteadyClock::now();
  if (auto kept = host_cache().find(t.host, now)) {
    if (*kept) {
      for (auto& endpoint : **kept) endpoint.port(static_cast<unsigned short>(t.port));
    }
    co_return std::move(*kept);
  }
  bool answered = false;
  auto found = co_await resolve_host(ex, t.host, t.port, answered);
  if (!answered) co_return found;  // no answer (no thread, shutdown): nothing to keep
  const Duration ttl = found ? t.dns_max_ttl : t.dns_nxdomain_ttl;
  const std::string kept =
      ttl > Duration::zero()
          ? fmt::format("kept {} s, {}", std::chrono::duration<double>(ttl).count(),
                        found ? "dns_max_ttl" : "dns_nxdomain_ttl")
          : std::string(found ? "dns_max_ttl=0: not kept" : "dns_nxdomain_ttl=0: not kept");
  if (found) {
    spdlog::info("server host \"{}\" looked up: {} address{} ({})", t.host, found->size(),
                 found->size() == 1 ? "" : "es", kept);
  } else {
    spdlog::info("server host \"{}\" looked up: {} ({})", t.host, found.error().message, kept);
  }
  if (ttl > Duration::zero()) host_cache().store(t.host, {found, now + ttl});
  co_return found;
}

Task<Result<Socket>> connect_socket(Executor ex, const ServerTarget& t) {
  Socket socket(ex);
  if (t.host.empty() || t.host.front() == '/') {
    const std::string dir = t.host.empty() ? "/var/run/postgresql" : t.host;
    asio::local::stream_protocol::endpoint ep(dir + "/.s.PGSQL." + std::to_string(t.port));
    auto [ec] = co_await socket.async_connect(ep, nothrow);
    if (ec) co_return network_error(t, ec.message());
    co_return std::move(socket);
  }
  // A literal address needs no name service (Asio's resolver would still take a round trip
  // through its own thread).
  boost::system::error_code parse_error;
  const auto literal = asio::ip::make_address(t.host, parse_error);
  Result<std::vector<asio::ip::tcp::endpoint>> endpoints =
      std::vector{asio::ip::tcp::endpoint(literal, t.port)};
  if (parse_error) endpoints = co_await lookup_host(ex, t);
  if (!endpoints) co_return network_error(t, endpoints.error().message);
  boost::system::error_code last;
  for (const auto& endpoint : *endpoints) {
    boost::system::error_code ignored;
    socket.close(ignored);
    auto [ec] = co_await socket.async_connect(endpoint, nothrow);
    if (!ec) co_return std::move(socket);
    last = ec;
  }
  co_return network_error(t, last ? last.message() : "no address");
}

Error refusal(const protocol::ErrorResponse& e) {
  return make_error(std::string(e.sqlstate()), std::string(e.message()));
}

// Answers one Authentication request; returns the bytes to send (empty: nothing to send).
Result<Bytes> answer_auth(const Authentication& a, const ServerTarget& t,
                          std::optional<auth::ScramClient>& scram) {
  Bytes out;
  switch (a.code) {
    case AuthCode::kOk:
      return out;
    case AuthCode::kCleartextPassword:
      if (t.password.empty())
        return make_error(
            "28P01", "server asked for a cleartext password, but none is configured for user \"" +
                         t.user + "\"");
      protocol::PasswordMessage{t.password}.encode(out);
      return out;
    case AuthCode::kMd5Password: {
      std::string response;
      if (!t.password.empty()) {
        response = auth::md5_salted_response(t.password, t.user, a.salt);
      } else if (!t.md5_hash.empty()) {
        response = auth::md5_response_from_hash(t.md5_hash, a.salt);
      } else {
        return make_error(
            "28P01",
            "server asked for an md5 password, but none is configured for user \"" + t.user + "\"");
      }
      protocol::PasswordMessage{response}.encode(out);
      return out;
    }
    case AuthCode::kSasl: {
      if (!t.password.empty()) {
        scram.emplace(t.password);
      } else if (t.scram_secret && !t.scram_client_key.empty()) {
        scram.emplace(auth::ScramClient::from_client_key(t.scram_client_key, *t.scram_secret));
      } else {
        return make_error(
            "28P01", "server asked for SCRAM-SHA-256, but no password is configured for user \"" +
                         t.user +
                         "\" (a plain password in auth_file or password= in [databases]; a SCRAM "
                         "secret works once a client has logged in with SCRAM)");
      }
      const std::string first = scram->client_first_message();
      protocol::SaslInitialResponse{"SCRAM-SHA-256", Bytes(first.begin(), first.end())}.encode(out);
      return out;
    }
    case AuthCode::kSaslContinue: {
      if (!scram) return make_error("08P01", "unexpected SASLContinue from server");
      auto final_msg = scram->handle_server_first(as_chars(a.data));
      if (!final_msg) return final_msg.error();
      protocol::SaslResponse{Bytes(final_msg->begin(), final_msg->end())}.encode(out);
      return out;
    }
    case AuthCode::kSaslFinal: {
      if (!scram) return make_error("08P01", "unexpected SASLFinal from server");
      auto ok = scram->handle_server_final(as_chars(a.data));
      if (!ok) return ok.error();
      return out;
    }
    default:
      return make_error("08P01",
                        "server requested an authentication method Reservoir does not support");
  }
}

}  // namespace

bool ServerTarget::same_login(const ServerTarget& o) const {
  return host == o.host && port == o.port && dbname == o.dbname && user == o.user &&
         password == o.password && md5_hash == o.md5_hash && scram_secret == o.scram_secret &&
         extra_params == o.extra_params;
}

std::string ServerTarget::describe() const {
  return (host.empty() ? std::string("/var/run/postgresql") : host) + ":" + std::to_string(port) +
         "/" + dbname;
}

ServerParams ServerConn::reported_params() const { return {params_.begin(), params_.end()}; }

bool ServerConn::looks_alive() const {
  std::uint8_t byte;
  auto* self = const_cast<ServerConn*>(this);
  const ssize_t n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void ServerConn::rebind(const Executor& executor) {
  if (socket_.get_executor() == executor) return;
  if (family_ == 0) family_ = socket_.local_endpoint().protocol().family();  // once
  const unsigned modes = readiness::non_blocking_modes(socket_);
  boost::system::error_code ec;
  const int fd = socket_.release(ec);
  Socket moved(executor);
  assign_released(moved, family_, fd, modes, ec);  // closed on failure: the server is lost
  socket_ = std::move(moved);
}

void ServerConn::close() {
  if (!socket_.is_open()) return;
  static constexpr std::uint8_t kTerminate[] = {'X', 0, 0, 0, 4};
  ::send(socket_.native_handle(), kTerminate, sizeof kTerminate, MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  socket_.close(ec);
}

bool is_server_refusal(const Error& error) {
  // Connection problems (08), resource shortages such as "too many connections" (53) and
  // a server starting up or shutting down (57) may pass; anything else will not.
  const std::string_view cls = std::string_view(error.sqlstate).substr(0, 2);
  return cls != "08" && cls != "53" && cls != "57";
}

namespace {

Task<Result<ServerPtr>> login(Executor ex, std::shared_ptr<const ServerTarget> target) {
  const ServerTarget& t = *target;
  auto socket = co_await connect_socket(ex, t);
  if (!socket) co_return socket.error();
  boost::system::error_code nb;
  apply_socket_options(*socket, t.tcp);
  socket->non_blocking(true, nb);  // the relay reads and writes without blocking
  auto server = std::make_unique<ServerConn>(std::move(*socket));

  protocol::StartupParams params{{"user", t.user}, {"database", t.dbname}};
  for (const auto& p : t.extra_params) params.push_back(p);
  Bytes out;
  protocol::encode_startup(out, params);
  if (!co_await write_all(server->socket(), out)) co_return network_error(t, "write failed");

  protocol::FrameReader reader;
  std::optional<auth::ScramClient> scram;
  std::int32_t pid = 0, secret = 0;
  for (;;) {
    auto frame = co_await read_frame(server->socket(), reader);
    if (!frame) co_return network_error(t, frame.error().message);
    switch (frame->type) {
      case protocol::msg::kAuthentication: {
        auto a = Authentication::decode(frame->body);
        if (!a) co_return a.error();
        auto reply = answer_auth(*a, t, scram);
        if (!reply) co_return reply.error();
        if (!reply->empty() && !co_await write_all(server->socket(), *reply))
          co_return network_error(t, "write failed");
        break;
      }
      case protocol::msg::kParameterStatus: {
        auto p = protocol::ParameterStatus::decode(frame->body);
        if (p) server->params()[p->name] = p->value;
        break;
      }
      case protocol::msg::kBackendKeyData: {
        auto k = protocol::BackendKeyData::decode(frame->body);
        if (k) pid = k->pid, secret = k->secret;
        break;
      }
      case protocol::msg::kErrorResponse: {
        auto e = protocol::ErrorResponse::decode(frame->body);
        if (!e) co_return e.error();
        co_return refusal(*e);
      }
      case protocol::msg::kReadyForQuery:
        server->set_login_facts(pid, secret, std::move(target),
                                next_server_id.fetch_add(1, std::memory_order_relaxed));
        co_return std::move(server);
      default:  // NoticeResponse, NegotiateProtocolVersion: nothing to do
        break;
    }
  }
}

}  // namespace

Task<Result<ServerPtr>> open_server(Executor ex, std::shared_ptr<const ServerTarget> target) {
  Timer timer(ex, target->connect_timeout);
  const std::string where = target->describe();
  auto outcome = co_await (login(ex, target) || timer.async_wait(nothrow_task));
  if (outcome.index() == 0) co_return std::move(std::get<0>(outcome));
  co_return make_error(
      "08001", "could not connect to server " + where + ": timed out (server_connect_timeout)");
}

Task<void> send_cancel(Executor ex, std::shared_ptr<const ServerTarget> target, std::int32_t pid,
                       std::int32_t secret) {
  auto socket = co_await connect_socket(ex, *target);
  if (!socket) co_return;
  Bytes out;
  protocol::encode_cancel_request(out, pid, secret);
  (void)co_await write_all(*socket, out);
  // PostgreSQL closes the connection once it has read the request.
  std::array<std::uint8_t, 16> sink;
  (void)co_await socket->async_read_some(asio::buffer(sink), nothrow);
}

}  // namespace reservoir::proxy

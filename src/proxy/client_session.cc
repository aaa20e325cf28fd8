#include "proxy/client_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "protocol/message_types.h"
#include "protocol/messages/authentication.h"
#include "protocol/messages/backend_key_data.h"
#include "protocol/messages/negotiate_protocol_version.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/ready_for_query.h"
#include "proxy/startup_params.h"

namespace reservoir::proxy {

namespace {

using namespace asio::experimental::awaitable_operators;

Duration to_duration(config::Seconds s) { return std::chrono::duration_cast<Duration>(s); }

// Startup packets a client may send before its StartupMessage (SSLRequest, GSSENCRequest).
constexpr int kMaxNegotiations = 2;

}  // namespace

ClientSession::ClientSession(Socket socket, Services services)
    : client_(std::move(socket)),
      services_(std::move(services)),
      settings_(services_.config->settings),
      reader_(services_.config->settings.max_packet_size),
      shutdown_signal_(client_.get_executor(), TimePoint::max()),
      login_timer_(client_.get_executor()) {
  peer_ = peer_name(client_);
}

Task<void> ClientSession::run() {
  auto self = shared_from_this();
  const std::string reason = co_await serve();
  login_timer_.cancel();
  if (key_.pid != 0) services_.sessions->remove(key_);
  if (!user_.empty()) {
    spdlog::info("client {} {}@{} disconnected: {}", peer_, user_, database_, reason);
  } else {
    spdlog::debug("client {} closed before login: {}", peer_, reason);
  }
  boost::system::error_code ec;
  client_.close(ec);
}

// Closes the client if it has not logged in within client_login_timeout.
Task<void> ClientSession::login_watchdog() {
  auto self = shared_from_this();
  (void)co_await login_timer_.async_wait(nothrow);
  if (!logged_in_ && login_timer_.expiry() <= SteadyClock::now()) {
    spdlog::info("client {}: client_login_timeout expired before login", peer_);
    boost::system::error_code ec;
    client_.close(ec);
  }
}

// The life of a client, top to bottom.
Task<std::string> ClientSession::serve() {
  const Duration login_limit = to_duration(settings_.client_login_timeout);
  if (login_limit > Duration::zero()) {
    login_timer_.expires_after(login_limit);
    asio::co_spawn(client_.get_executor(), login_watchdog(), asio::detached);
  }
  auto startup = co_await read_startup();
  if (!startup) co_return startup.error().message;
  startup_ = std::move(*startup);
  user_ = startup_.get("user");
  database_ = startup_.has("database") && !startup_.get("database").empty()
                  ? startup_.get("database") : user_;

  auto key = services_.sessions->add(shared_from_this(), settings_.max_client_conn);
  if (!key) {
    co_await send_fatal(make_error("53300", fmt::format("too many clients: max_client_conn={}",
                                                        settings_.max_client_conn)));
    co_return "max_client_conn reached";
  }
  key_ = *key;

  auto pool = services_.pools->find_pool(database_, user_);
  if (!pool) {
    co_await send_fatal(pool.error());
    co_return pool.error().message;
  }
  auto authenticated = co_await login();
  if (!authenticated) {
    co_await send_fatal(authenticated.error());
    co_return authenticated.error().message;
  }
  logged_in_ = true;
  login_timer_.cancel();
  if (!authenticated->scram_client_key.empty()) {
    services_.pools->learn_scram_key(**pool, authenticated->scram_client_key);
  }
  spdlog::info("client {} {}@{} connected (application_name={})", peer_, user_, database_,
               startup_.get("application_name"));

  const Duration wait = to_duration(settings_.query_wait_timeout);
  const TimePoint deadline =
      wait > Duration::zero() ? SteadyClock::now() + wait : TimePoint::max();
  auto lease = co_await services_.pools->acquire(**pool, client_.get_executor(), deadline);
  if (!lease) {
    co_await send_fatal(lease.error());
    co_return lease.error().message;
  }
  if (shutting_down_) {
    services_.pools->release(**pool, std::move(*lease), client_.get_executor());
    co_await send_fatal(make_error("57P01", "terminating connection due to administrator command"));
    co_return "shutdown";
  }
  if (auto synced = co_await sync_parameters(*lease->server); !synced) {
    services_.pools->release(**pool, std::move(*lease), client_.get_executor());
    co_await send_fatal(synced.error());
    co_return synced.error().message;
  }
  if (!co_await send_welcome(*lease->server)) {
    services_.pools->release(**pool, std::move(*lease), client_.get_executor());
    co_return "client went away during login";
  }
  hold(lease->server.get());
  auto outcome = co_await relay_session(client_, *lease->server, shutdown_signal_,
                                        settings_.max_packet_size);
  hold(nullptr);
  co_return co_await finish(**pool, std::move(*lease), outcome);
}

Task<Result<protocol::StartupMessage>> ClientSession::read_startup() {
  for (int negotiations = 0;; ++negotiations) {
    std::array<std::uint8_t, 4> head;
    auto [hec, hn] = co_await asio::async_read(client_, asio::buffer(head), nothrow);
    if (hec) co_return make_error("08006", "closed before startup: " + hec.message());
    auto length = protocol::startup_length(head);
    if (!length) {
      co_await send_fatal(length.error());
      co_return length.error();
    }
    Bytes packet(*length);
    std::copy(head.begin(), head.end(), packet.begin());
    auto [ec, n] = co_await asio::async_read(
        client_, asio::buffer(packet.data() + 4, packet.size() - 4), nothrow);
    if (ec) co_return make_error("08006", "truncated startup packet");
    auto decoded = protocol::decode_startup(packet);
    if (!decoded) {
      spdlog::info("client {}: bad startup packet: {}", peer_, decoded.error().message);
      co_await send_fatal(decoded.error());
      co_return decoded.error();
    }
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&*decoded)) {
      co_await handle_cancel(*cancel);
      co_return make_error("08006", "cancel request handled");
    }
    if (auto* msg = std::get_if<protocol::StartupMessage>(&*decoded)) {
      if ((msg->version & 0xffff) != 0) {
        // A newer 3.x minor version: say what we speak and go on (PostgreSQL does the same).
        protocol::NegotiateProtocolVersion nego;
        for (const auto& [k, v] : msg->params) {
          if (k.rfind("_pq_.", 0) == 0) nego.unrecognized_options.push_back(k);
        }
        Bytes out;
        nego.encode(out);
        if (!co_await write_all(client_, out)) co_return make_error("08006", "client went away");
      }
      co_return std::move(*msg);
    }
    // SSLRequest or GSSENCRequest: encryption is not offered yet, so say 'N'.
    if (negotiations >= kMaxNegotiations) {
      co_return make_error("08P01", "too many encryption requests");
    }
    static constexpr std::uint8_t kNo[] = {'N'};
    if (!co_await write_all(client_, ByteView(kNo))) co_return make_error("08006", "client went away");
  }
}

Task<Result<ClientAuthOutcome>> ClientSession::login() {
  co_return co_await authenticate_client(client_, reader_, settings_, *services_.credentials,
                                         *services_.scram_cache, user_);
}

Task<void> ClientSession::handle_cancel(const protocol::CancelRequest& request) {
  auto session = services_.sessions->find(BackendKey{request.pid, request.secret});
  if (!session) {
    spdlog::debug("client {}: cancel request for unknown key ignored", peer_);
    co_return;
  }
  auto target = session->cancel_target();
  if (!target) co_return;  // the client holds no server right now: nothing to cancel
  spdlog::info("forwarding cancel request to backend pid {}", target->pid);
  co_await send_cancel(client_.get_executor(), target->target, target->pid, target->secret);
}

// Gives the server the client's startup settings before the client sees it, so the client
// never sees another client's values.
Task<Status> ClientSession::sync_parameters(ServerConn& server) {
  const SettingList wanted = requested_settings(startup_, settings_.ignore_startup_parameters);
  const SettingList changes = settings_to_apply(wanted, server.params());
  const std::string sql = set_statement(changes);
  if (sql.empty()) co_return Ok{};
  auto applied = co_await run_on_server(server, sql);
  if (!applied) co_return applied.error();
  for (const auto& [name, value] : changes) {
    // Reported settings were updated by the server's ParameterStatus; others we record.
    if (settings_to_apply({{name, value}}, server.params()).empty()) continue;
    server.note_set(name, value);
  }
  co_return Ok{};
}

Task<bool> ClientSession::send_welcome(ServerConn& server) {
  Bytes out;
  protocol::Authentication::ok().encode(out);
  for (const auto& [name, value] : server.reported_params()) {
    protocol::ParameterStatus{name, value}.encode(out);
  }
  protocol::BackendKeyData{key_.pid, key_.secret}.encode(out);
  protocol::ReadyForQuery{'I'}.encode(out);
  co_return co_await write_all(client_, out);
}

// Ends the session: tells the client why if it is still there, and returns the server to
// its pool clean (rolled back, reset) or closes it.
Task<std::string> ClientSession::finish(PoolState& ps, Lease lease, const RelayOutcome& outcome) {
  const Executor ex = client_.get_executor();
  std::string reason;
  switch (outcome.end) {
    case RelayEnd::ClientTerminated: reason = "client closed the connection"; break;
    case RelayEnd::ClientGone: reason = "client connection lost"; break;
    case RelayEnd::ServerGone:
      if (outcome.client_at_boundary) {
        co_await send_fatal(make_error("08006", "server closed the connection unexpectedly"));
      }
      services_.pools->discard(ps, std::move(lease), ex);
      co_return "server connection lost";
    case RelayEnd::ClientProtocolError:
      co_await send_fatal(outcome.error);
      services_.pools->discard(ps, std::move(lease), ex);
      co_return "client protocol error: " + outcome.error.message;
    case RelayEnd::ServerProtocolError:
      co_await send_fatal(make_error("08P01", "invalid message from server: " + outcome.error.message));
      services_.pools->discard(ps, std::move(lease), ex);
      co_return "server protocol error";
    case RelayEnd::Shutdown:
      if (outcome.client_at_boundary) {
        co_await send_fatal(make_error("57P01", "terminating connection due to administrator command"));
      }
      services_.pools->discard(ps, std::move(lease), ex);
      co_return "shutdown";
  }
  if (!outcome.server_idle) {
    spdlog::debug("client {}: server busy when client left; closing it", peer_);
    services_.pools->discard(ps, std::move(lease), ex);
    co_return reason + " (server was busy, closed)";
  }
  if (outcome.server_status != 'I') {
    if (auto rolled = co_await run_on_server(*lease.server, "ROLLBACK"); !rolled) {
      services_.pools->discard(ps, std::move(lease), ex);
      co_return reason + " (rollback failed, server closed)";
    }
  }
  if (!settings_.server_reset_query.empty()) {
    auto reset = co_await run_on_server(*lease.server, settings_.server_reset_query);
    if (!reset) {
      spdlog::warn("pool {}: server_reset_query failed: {}", ps.name(), reset.error().message);
      services_.pools->discard(ps, std::move(lease), ex);
      co_return reason + " (reset failed, server closed)";
    }
    lease.server->note_reset();
  }
  services_.pools->release(ps, std::move(lease), ex);
  co_return reason;
}

Task<void> ClientSession::send_fatal(const Error& error) {
  Bytes out;
  append_error(out, "FATAL", error.sqlstate, error.message);
  (void)co_await write_all(client_, out);
}

void ClientSession::hold(ServerConn* server) {
  std::lock_guard lock(cancel_mu_);
  if (server == nullptr) {
    held_.reset();
  } else {
    held_ = CancelTarget{server->target(), server->backend_pid(), server->backend_secret()};
  }
}

std::optional<ClientSession::CancelTarget> ClientSession::cancel_target() {
  std::lock_guard lock(cancel_mu_);
  return held_;
}

void ClientSession::shut_down() {
  asio::post(client_.get_executor(), [self = shared_from_this()] {
    self->shutting_down_ = true;
    self->shutdown_signal_.cancel();
    if (!self->logged_in_) {
      boost::system::error_code ec;
      self->client_.close(ec);
    }
  });
}

}  // namespace reservoir::proxy

#include "proxy/client_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "protocol/message_types.h"
#include "protocol/messages/authentication.h"
#include "protocol/messages/backend_key_data.h"
#include "protocol/messages/negotiate_protocol_version.h"
#include "protocol/messages/parameter_status.h"
#include "protocol/messages/ready_for_query.h"
#include "proxy/asio_readiness.h"
#include "proxy/startup_params.h"

namespace reservoir::proxy {

namespace {

using namespace asio::experimental::awaitable_operators;

// Startup packets a client may send before its StartupMessage (SSLRequest, GSSENCRequest).
constexpr int kMaxNegotiations = 2;

// Room for AuthenticationOk and the welcome (ParameterStatus of about 14 parameters,
// BackendKeyData, ReadyForQuery: 300-400 bytes), reserved at once.
constexpr std::size_t kWelcomeBytes = 512;

// Clients of this worker waiting for their first request in the relay (serve()).
thread_local int fresh_on_worker = 0;

}  // namespace

struct ClientSession::LoginEntry {
  TimePoint deadline;
  std::weak_ptr<ClientSession> session;
};

namespace {
// This worker's clients that are logging in (client_login_timeout): a few at any time.
thread_local std::list<ClientSession::LoginEntry> logins_on_worker;
}  // namespace

ClientSession::ClientSession(Socket socket, int family, std::string peer,
                             std::shared_ptr<const Services> services)
    : client_(std::move(socket)),
      services_(std::move(services)),
      settings_(services_->config->settings),
      family_(family) {
  peer_ = std::move(peer);
}

ClientSession::RelayParts& ClientSession::make_relay_parts() const {
  relay_parts_ = std::make_unique<RelayParts>(const_cast<Socket&>(client_).get_executor(),
                                              settings_.max_packet_size);
  return *relay_parts_;
}

Task<void> ClientSession::run() {
  auto self = shared_from_this();
  const std::string reason = co_await serve();
  if (parked_) co_return park();
  conclude(reason);
}

// The client has gone (or was sent away): the one line at disconnect, and the socket closed.
void ClientSession::conclude(const std::string& reason) {
  leave_fresh();
  unlist_login();
  if (key_.pid != 0) services_->sessions->remove(key_);
  if (!user_.empty()) {
    // The setting as it is now (a reload applies to clients already connected).
    if (services_->pools->config()->settings.log_disconnections) {
      spdlog::info("client {} {}@{} disconnected: {}", peer_, user_, database_, reason);
    }
  } else {
    spdlog::debug("client {} closed before login: {}", peer_, reason);
  }
  boost::system::error_code ec;
  client_.close(ec);
}

// Called on the session's thread by the timeout sweeper's post: parks the client if it is
// still idle and its reader is waiting for it.
void ClientSession::request_park() {
  if (asio_parked_ && end_ == RelayEnd::None && !to_lot_) {  // parked in Asio: try the lot
    to_lot_ = true;
    boost::system::error_code ec;
    client_.cancel(ec);
    return;
  }
  if (end_ != RelayEnd::None || parking_ || parked_ || !reading_client_ || held_ || releasing_ ||
      phase_.load(std::memory_order_relaxed) != Phase::Idle ||
      (server_reader_running_ && !(relay_parts_ && relay_parts_->server_wake.waiting()))) {
    park_asked_ = parked_ || parking_;  // not now: the sweeper may ask again
    return;
  }
  parking_ = true;
  cancel_client_read();  // client_reader sees the cancelled read and ends the relay
}

void ClientSession::park() {
  // The relay's coroutines have ended: its landing buffer, scanners, timers and the buffers
  // of the last request go (their contents are spent once the reader waits), unless
  // something is still half-way (bytes not yet written, a message cut by a read).
  if (relay_parts_ && relay_parts_->unread.empty() && relay_parts_->to_server_spill.empty() &&
      relay_parts_->to_client_spill.empty() && relay_parts_->from_client.at_boundary() &&
      relay_parts_->from_server.at_boundary()) {
    relay_parts_.reset();
  } else if (relay_parts_) {
    Bytes().swap(relay_parts_->pending);
  }
  leave_fresh();
  if (auto* lot = ParkingLot::current(); lot != nullptr && lot->usable() && enter_lot(*lot)) {
    return;
  }
  park_in_asio();
}

void ClientSession::leave_fresh() {
  if (std::exchange(fresh_, false)) --fresh_on_worker;
}

// Waits for the client in Asio: a peek of its socket, whose completion resumes the relay.
// The sweeper's request_park() cancels the peek of a client still idle (to_lot_) and it goes
// to the lot then; end() cancels it too, and resume() finishes the session.
void ClientSession::park_in_asio() {
  asio_parked_ = true;
  client_.async_receive(
      asio::buffer(park_probe_), asio::socket_base::message_peek,
      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        self->asio_parked_ = false;
        const bool to_lot = std::exchange(self->to_lot_, false);
        if (to_lot && ec == asio::error::operation_aborted && self->end_ == RelayEnd::None) {
          if (auto* lot = ParkingLot::current(); lot != nullptr && lot->usable()) {
            self->park_asked_ = true;
            if (self->enter_lot(*lot)) return;
          }
          if (self->end_ == RelayEnd::None) return self->park_in_asio();
        }
        asio::co_spawn(self->client_.get_executor(), self->resume(), asio::detached);
      });
}

// Takes the socket out of Asio (which frees Asio's state for it) into the lot. False, with
// the socket still in Asio, if that cannot be done.
bool ClientSession::enter_lot(ParkingLot& lot) {
  boost::system::error_code ec;
  lot_modes_ = static_cast<std::uint8_t>(readiness::non_blocking_modes(client_));
  const int fd = client_.release(ec);
  if (ec) return false;
  if (!lot.add(fd, this, lot_known_)) {
    lot_known_ = false;
    if (!back_to_asio(fd)) end_ = RelayEnd::ClientGone;
    return false;
  }
  lot_fd_ = fd;
  lot_known_ = true;
  lot_self_ = shared_from_this();
  return true;
}

void ClientSession::wake_parked(void* guest) {
  static_cast<ClientSession*>(guest)->leave_lot(/*woken=*/true);
}

// The socket goes back to Asio and the relay resumes: the client sent something or hung up
// (`woken` by the lot, whose entry for it is now disarmed), or the session is being ended
// (end(): the armed entry is removed).
void ClientSession::leave_lot(bool woken) {
  if (lot_fd_ < 0) return;
  const int fd = std::exchange(lot_fd_, -1);
  if (!woken) {
    if (auto* lot = ParkingLot::current()) lot->remove(fd);
    lot_known_ = false;
  }
  auto self = std::move(lot_self_);
  if (!back_to_asio(fd)) end_ = RelayEnd::ClientGone;
  asio::co_spawn(client_.get_executor(), resume(), asio::detached);
}

// The fd is the client socket again, as before it left (assign_released). False, with the fd
// closed, if Asio cannot take it back.
bool ClientSession::back_to_asio(int fd) {
  boost::system::error_code ec;
  assign_released(client_, family_, fd, lot_modes_, ec);
  if (ec) spdlog::warn("client {}: cannot watch its socket again: {}", peer_, ec.message());
  return !ec;
}

// The parked client sent something, went away, or the session is being ended (end()
// cancels the peek or takes the socket back from the lot): the relay goes on where it
// stopped.
Task<void> ClientSession::resume() {
  auto self = shared_from_this();
  parked_ = false;
  park_asked_ = false;
  if (end_ == RelayEnd::None) end_ = co_await relay();
  if (parked_) co_return park();
  conclude(co_await finish());
}

void ClientSession::expire_logins(TimePoint now) {
  for (auto it = logins_on_worker.begin(); it != logins_on_worker.end();) {
    auto session = it->session.lock();
    if (session && it->deadline > now) {
      ++it;
      continue;
    }
    it = logins_on_worker.erase(it);
    if (!session) continue;  // gone without unlisting (its loop was torn down)
    session->login_listed_ = false;
    if (session->logged_in_) continue;
    spdlog::info("client {}: client_login_timeout expired before login", session->peer_);
    boost::system::error_code ec;
    session->client_.close(ec);
  }
}

void ClientSession::unlist_login() {
  if (!std::exchange(login_listed_, false)) return;
  logins_on_worker.erase(login_entry_);
}

// The life of a client, top to bottom.
Task<std::string> ClientSession::serve() {
  if (auto refused = co_await log_in()) co_return std::move(*refused);
  if (end_ == RelayEnd::None && may_park_ && !held_ && rp().unread.empty()) {
    if (fresh_on_worker < kFreshMax) {
      // Its first request is likely on its way (an app opens a connection to use it): the
      // relay waits for it, and serves it inside the wake-up that brings it. One that stays
      // idle is parked by the sweeper like any idle client.
      fresh_ = true;
      ++fresh_on_worker;
    } else {
      // A pooled client starts parked otherwise: its first request starts the relay
      // (resume()), and an idle one never holds relay frames. (Parking later, from the
      // sweeper, would cost a never-used idle client about 3 KiB more: the freed frames
      // leave holes in the heap.)
      set_phase(Phase::Idle);
      parked_ = true;
      park_asked_ = true;
      co_return std::string();
    }
  }
  if (end_ == RelayEnd::None) end_ = co_await relay();
  if (parked_) co_return std::string();  // run() parks it; resume() goes on
  co_return co_await finish();
}

// The password exchange against auth_file; a refused client is told why (28P01, 08P01).
// On success the client counts as logged in and the login timer stops.
Task<Result<ClientAuthOutcome>> ClientSession::authenticate() {
  auto authenticated = co_await authenticate_client(
      client_, rp().reader, settings_, *services_->credentials, *services_->scram_cache, user_);
  if (!authenticated) {
    co_await send_fatal(authenticated.error());
    co_return authenticated;
  }
  logged_in_ = true;
  unlist_login();
  co_return authenticated;
}

Task<std::optional<std::string>> ClientSession::log_in() {
  const Duration login_limit = to_duration(settings_.client_login_timeout);
  if (login_limit > Duration::zero()) {
    login_entry_ = logins_on_worker.insert(
        logins_on_worker.end(), LoginEntry{SteadyClock::now() + login_limit, weak_from_this()});
    login_listed_ = true;
  }
  auto startup = co_await read_startup();
  if (!startup) co_return startup.error().message;
  const protocol::StartupMessage& startup_message = *startup;
  application_name_ = startup_message.get("application_name");
  user_ = startup_message.get("user");
  database_ = startup_message.has("database") && !startup_message.get("database").empty()
                  ? startup_message.get("database")
                  : user_;

  auto key = services_->sessions->add(shared_from_this(), settings_.max_client_conn);
  if (!key) {
    co_await send_fatal(make_error(
        "53300", fmt::format("too many clients: max_client_conn={}", settings_.max_client_conn)));
    co_return "max_client_conn reached";
  }
  key_ = *key;
  if (is_admin_database(database_)) co_return co_await serve_admin();

  auto pool = services_->pools->find_pool(database_, user_);
  if (!pool) {
    co_await send_fatal(pool.error());
    co_return pool.error().message;
  }
  pool_ = *pool;
  mode_ = pool_->mode;
  prepared_on_ = mode_ != config::PoolMode::Session && settings_.max_prepared_statements > 0;
  may_park_ = mode_ != config::PoolMode::Session;
  auto authenticated = co_await authenticate();
  if (!authenticated) co_return authenticated.error().message;
  pool_->stats().client_connections.add();
  meter_.attach(&pool_->stats());
  if (settings_.slow_query_threshold.count() > 0) {
    meter_.enable_slow_log(to_duration(settings_.slow_query_threshold),
                           fmt::format("in pool {}, client {} {}@{} (application_name={})",
                                       pool_->name(), peer_, user_, database_, application_name_));
  }
  if (!authenticated->scram_client_key.empty()) {
    services_->pools->learn_scram_key(*pool_, authenticated->scram_client_key);
  }
  settings_wanted_ =
      share_settings(requested_settings(startup_message, settings_.ignore_startup_parameters));
  // The login reader is done (the relay reads on its own): free its buffer, so an idle
  // client keeps nothing from its login. What the client already sent beyond its login
  // messages (it did not wait for ReadyForQuery) goes to the relay first.
  if (rp().reader.buffered() > 0) {
    const ByteView rest = rp().reader.take_rest();
    rp().unread.assign(rest.begin(), rest.end());
  }
  rp().reader = protocol::FrameReader(settings_.max_packet_size);

  // The exchange's last message, AuthenticationOk and the welcome go out in one write when
  // no server is needed first (one packet, one wake-up of the client).
  Bytes out = std::move(authenticated->reply);
  out.reserve(out.size() + kWelcomeBytes);
  protocol::Authentication::ok().encode(out);
  // Logged once the client has its answer: the log's write is not on the login's path.
  auto log_login = [this] {
    if (settings_.log_connections) {
      spdlog::info("client {} {}@{} logged in (application_name={}, pool_mode={})", peer_, user_,
                   database_, application_name_, config::to_string(mode_));
    }
  };

  // Session mode lends the server now; other modes only learn the server's parameters.
  auto pool_params = services_->pools->server_params(*pool_);
  const bool lend_now = mode_ == config::PoolMode::Session || !pool_params ||
                        pool_params->empty() ||
                        !services_->pools->settings_known(*pool_, *settings_wanted_);
  if (lend_now) {
    // The client hears it is in while a server is found.
    if (!co_await write_all(client_, out)) co_return "client went away during login";
    log_login();
    out.clear();
    if (!co_await attach_server(0, /*at_login=*/true)) co_return end_error().message;
    services_->pools->learn_settings(*pool_, *settings_wanted_);
  }
  if (held_) pool_params = std::make_shared<const ServerParams>(held_->server->reported_params());
  if (held_ && mode_ != config::PoolMode::Session) co_await release_server();
  append_welcome(out, *pool_params);
  if (!co_await write_all(client_, out)) end(RelayEnd::ClientGone);
  if (!lend_now) log_login();
  co_return std::nullopt;
}

// Reads until `in` starts with one whole startup packet; returns its length. Reads take what
// the client has sent (an SSLRequest and its StartupMessage often come in one read of 8 + n
// bytes: one recv rather than one per header and body).
Task<Result<std::size_t>> ClientSession::read_startup_packet(Bytes& in) {
  bool drained = false;  // the last read came back short, with no epoll_wait since
  for (;;) {
    if (in.size() >= 4) {
      auto length = protocol::startup_length(ByteView(in).first(4));
      if (!length) {
        co_await send_fatal(length.error());
        co_return length.error();
      }
      // The client waits for our answer to a whole packet: nothing more to read until then.
      if (drained && in.size() == *length) readiness::mark_drained(client_);
      if (in.size() >= *length) co_return std::size_t{*length};
    }
    auto [ec, chunk, short_read] = co_await read_ready(client_, rp().client_landing);
    if (ec && in.empty()) co_return make_error("08006", "closed before startup: " + ec.message());
    if (ec) co_return make_error("08006", "truncated startup packet");
    in.insert(in.end(), chunk.begin(), chunk.end());
    drained = short_read;
  }
}

Task<Result<protocol::StartupMessage>> ClientSession::read_startup() {
  Bytes in;  // what the client sent and startup has not used yet
  for (int negotiations = 0;; ++negotiations) {
    auto length = co_await read_startup_packet(in);
    if (!length) co_return length.error();
    auto decoded = protocol::decode_startup(ByteView(in).first(*length));
    if (!decoded) {
      spdlog::info("client {}: bad startup packet: {}", peer_, decoded.error().message);
      co_await send_fatal(decoded.error());
      co_return decoded.error();
    }
    const ByteView rest = ByteView(in).subspan(*length);
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&*decoded)) {
      co_await handle_cancel(*cancel);
      co_return make_error("08006", "cancel request handled");
    }
    if (auto* msg = std::get_if<protocol::StartupMessage>(&*decoded)) {
      // Anything the client sent after its StartupMessage (a password, or with trust a first
      // query) is read by login and then by the relay, in order.
      rp().reader.append(rest);
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
    // SSLRequest or GSSENCRequest: encryption is not offered yet, so say 'N'. (Were it
    // offered, bytes that came with the request would have to be refused, not kept.)
    if (negotiations >= kMaxNegotiations) {
      co_return make_error("08P01", "too many encryption requests");
    }
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(*length));
    static constexpr std::uint8_t kNo[] = {'N'};
    if (!co_await write_all(client_, ByteView(kNo)))
      co_return make_error("08006", "client went away");
  }
}

Task<void> ClientSession::handle_cancel(const protocol::CancelRequest& request) {
  auto session = services_->sessions->find(BackendKey{request.pid, request.secret});
  if (!session) {
    spdlog::debug("client {}: cancel request for unknown key ignored", peer_);
    co_return;
  }
  auto target = session->cancel_target();
  if (!target) co_return;  // the client holds no server right now: nothing to cancel
  spdlog::info("forwarding cancel request to backend pid {}", target->pid);
  co_await send_cancel(client_.get_executor(), target->target, target->pid, target->secret);
}

// The server's parameters as the client sees them: its own startup settings in place of the
// server's values where it asked for them (names compared without case).
void ClientSession::append_welcome(Bytes& out, const ServerParams& params) const {
  auto same_name = [](std::string_view a, std::string_view lowered) {
    return a.size() == lowered.size() &&
           std::equal(a.begin(), a.end(), lowered.begin(), [](char x, char y) {
             return (x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x) == y;
           });
  };
  for (const auto& [name, value] : params) {
    std::string_view shown = value;
    for (const auto& [wanted, wanted_value] : *settings_wanted_) {
      if (same_name(name, wanted)) shown = wanted_value;
    }
    protocol::ParameterStatus::encode(out, name, shown);
  }
  protocol::BackendKeyData{key_.pid, key_.secret}.encode(out);
  protocol::ReadyForQuery{'I'}.encode(out);
}

Task<void> ClientSession::send_fatal(const Error& error) {
  Bytes out;
  append_error(out, "FATAL", error.sqlstate, error.message);
  (void)co_await write_all(client_, out);
}

void ClientSession::send_fatal_now(const Error& error, bool then_ready) {
  Bytes out;
  append_error(out, "FATAL", error.sqlstate, error.message);
  if (then_ready) protocol::ReadyForQuery{'I'}.encode(out);
  ::send(client_fd(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

const Error& ClientSession::end_error() const {
  static const Error none{};
  return end_error_ ? *end_error_ : none;
}

std::optional<ClientSession::CancelTarget> ClientSession::cancel_target() {
  std::lock_guard lock(cancel_lock_);
  if (held_target_.target == nullptr || held_target_.pid == 0) return std::nullopt;
  return held_target_;
}

void ClientSession::shut_down() {
  asio::post(client_.get_executor(), [self = shared_from_this()] {
    self->shutting_down_ = true;
    if (!self->logged_in_) {
      boost::system::error_code ec;
      self->client_.close(ec);
      return;
    }
    self->end(RelayEnd::Shutdown,
              make_error("57P01", "terminating connection due to administrator command"));
  });
}

}  // namespace reservoir::proxy

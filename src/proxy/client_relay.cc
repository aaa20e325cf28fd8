// The relay: how a logged-in client is lent servers and how bytes flow between them. The
// client's direction is here (and the session's end and timeouts); the server's direction and
// the release of servers are in server_relay.cc.
//
// Two coroutines per client, both on the client's thread:
//   client_reader  reads the client; when it has something for a server and holds none, it
//                  waits for one (attach_server); then it forwards the bytes as they came.
//   server_reader  reads the held server; forwards its bytes to the client and, in
//                  transaction and statement mode, gives the server back as soon as it has
//                  answered everything and is idle (release_ready). Started by the first
//                  transaction, it then waits between transactions until the client_reader
//                  has attached the next server (start_server_reader), which also starts
//                  the read of that server that wakes it.
// MessageScanners on both streams find message boundaries without copying; nothing is
// buffered beyond one read.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "protocol/message_types.h"
#include "protocol/messages/error_response.h"
#include "protocol/messages/ready_for_query.h"
#include "proxy/asio_readiness.h"
#include "proxy/client_session.h"
#include "proxy/server_query.h"
#include "proxy/sql_hints.h"

namespace reservoir::proxy {

namespace {

// A request copy larger than this is freed after use, so idle clients stay small.
constexpr std::size_t kKeptRequestCapacity = 4096;

}  // namespace

void ClientSession::end(RelayEnd why, Error error) {
  if (end_ != RelayEnd::None) return;
  end_ = why;
  if (!error.message.empty() || error.sqlstate != Error{}.sqlstate) {
    end_error_ = std::make_unique<Error>(std::move(error));
  }
  if (lot_fd_ >= 0) return leave_lot(/*woken=*/false);  // parked: resume() sees end_ and finishes
  cancel_client_read();  // wakes client_reader; server_reader is stopped by relay()
  // Inside the wake-up (serve_client()), relay() stops server_reader right after:
  // posting its wake would cost the worker queued handlers and an extra epoll_wait.
  if (!serving_client_) rp().server_wake.notify();
  rp().release_gate.cancel();
  // A release in progress talks to the server itself and finishes on its own.
  if (held_ && reading_server_ && !releasing_) cancel_server_read();
}

// Wakes client_reader from its wait for the client, whichever way it waits. Inside the
// wake-up (serve_client()) the wake-up itself resumes it once serve_client() returns: a
// cancel there would post it instead.
void ClientSession::cancel_client_read() {
  boost::system::error_code ec;
  client_.cancel(ec);
  if (relay_parts_ && !serving_client_) relay_parts_->client_ready.cancel();
}

// Wakes server_reader from its wait for the held server, whichever way it waits.
void ClientSession::cancel_server_read() {
  boost::system::error_code ec;
  held_->server->socket().cancel(ec);
  held_->server->ready().cancel();
}

void ClientSession::start_server_reader() {
  if (!held_ || end_ != RelayEnd::None) return;
  if (rp().server_wake.waiting()) {
    // Its read of the server starts here, so that the reply itself wakes it.
    ServerConn& server = *held_->server;
    server.ready().serve_with(&ClientSession::serve_server, this);
    const bool started = readiness::ReadyWait::usable(server.socket())
                             ? rp().server_wake.hand_to(server.ready(), server.socket())
                             : rp().server_wake.notify_with_read(server.socket(), server.landing(),
                                                                 rp().server_read_op);
    if (started) reading_server_ = true;
  } else if (!server_reader_running_) {
    server_reader_running_ = true;
    asio::co_spawn(client_.get_executor(), server_reader(), asio::detached);
  }
}

Task<RelayEnd> ClientSession::relay() {
  start_server_reader();
  co_await client_reader();
  if (server_reader_running_) {
    if (held_ && reading_server_ && !releasing_) cancel_server_read();
    if (rp().server_wake.waiting()) {
      // Between transactions: it sees the end and exits inside this call, so the relay has
      // nothing to wait for.
      rp().server_wake.notify_here();
    } else {
      rp().server_wake.notify();
    }
    rp().reader_exit.expires_at(TimePoint::max());
    while (server_reader_running_) (void)co_await rp().reader_exit.async_wait(nothrow);
  }
  co_return end_;
}

Task<void> ClientSession::client_reader() {
  // The relay parts live as long as the relay's coroutines (park() frees them after).
  RelayParts& parts = rp();
  set_phase(held_ ? Phase::Held : Phase::Idle);
  parts.client_ready.serve_with(&ClientSession::serve_client, this);
  while (end_ == RelayEnd::None) {
    ClientChunk c;
    ChunkStep step = ChunkStep::Done;
    if (parts.unread.empty()) {
      ReadResult read;
      reading_client_ = true;
      if (readiness::ReadyWait::usable(client_)) {
        ReadStart start = read_now(client_);
        while (!start.result) {  // woken when the client may be read (rarely for nothing)
          auto [e, unused] = co_await parts.client_ready.wait(client_);
          if (parts.handoff_step != ChunkStep::None) break;  // serve_client() began a request
          start = e ? ReadStart{ReadResult{e, {}}} : read_now(client_);
        }
        if (start.result) read = *start.result;
      } else {
        const std::span<std::uint8_t> landing = parts.client_landing;
        ReadStart start = read_start(client_, landing);  // read_ready() without its frame
        if (!start.result) {
          start.result = read_waited(client_, landing, start,
                                     co_await wait_read(client_, landing, parts.client_read_op));
        }
        read = *start.result;
      }
      reading_client_ = false;
      if (parts.handoff_step != ChunkStep::None) {
        step = std::exchange(parts.handoff_step, ChunkStep::None);
        c = parts.handoff;
      } else {
        step = take_client_chunk(read, c);
      }
    } else {
      step = take_client_chunk(take_unread(), c);
    }
    if (step == ChunkStep::Slow) {
      if (c.sync_skipped) {
        skip_until_sync_ = false;
        Bytes ready;
        protocol::ReadyForQuery{'I'}.encode(ready);
        if (!co_await write_all(client_, ready)) co_return end(RelayEnd::ClientGone);
      }
      if (c.out.empty()) {
        if (c.cut) co_return end(RelayEnd::ClientTerminated);
        continue;
      }
      while (releasing_) {  // the server is being given back: wait, then take a new one
        parts.release_gate.expires_at(TimePoint::max());
        (void)co_await parts.release_gate.async_wait(nothrow);
        if (end_ != RelayEnd::None) co_return;
        c.now = SteadyClock::now();
      }
      if (statement_violation_) {
        // Refuse what came after BEGIN with an error per request; the client stays.
        statement_violation_ = false;
        const Error refused =
            make_error("0A000",
                       "transaction blocks are not allowed in statement pooling mode "
                       "(pool_mode=statement); the transaction was rolled back");
        if (!co_await refuse(refused, c.requests)) co_return;
        continue;
      }
      if (pin_refused_) {
        pin_refused_ = false;
        if (tx_mode_) tx_mode_->pending_effects.clear();
        const Error refused = make_error(
            "0A000",
            "LISTEN, session advisory locks, temporary tables, WITH HOLD cursors and SQL "
            "PREPARE are not supported in transaction pooling mode (transaction_mode_pinning=off)");
        const char status = held_ ? parts.from_server.ready_status() : 'I';
        if (!co_await refuse(refused, c.requests, status ? status : 'I')) co_return;
        continue;
      }
      if (!c.attached || !held_) {  // (a release waited for above took the server it held)
        if (!co_await attach_server(c.requests)) continue;
        c.now = SteadyClock::now();
      }
      step = forward_chunk(c);
    }
    if (step == ChunkStep::Write) {  // the server took part of it: the rest when it has room
      const bool written =
          co_await forward_rest(held_->server->socket(), c.out, parts.to_server_spill);
      step = after_write(c, written);
    }
    if (step == ChunkStep::Return) co_return;
  }
}

// What client_reader does with what it read, up to the first thing that must wait: Done when
// the requests went to the server (or there were none), Return when the relay ends, Slow
// when the rest is client_reader's (a server to wait for, an answer of its own), Write when
// the server took only part of the bytes (c.out is the rest).
ClientSession::ChunkStep ClientSession::take_client_chunk(const ReadResult& read, ClientChunk& c) {
  RelayParts& parts = rp();
  auto [ec, chunk, short_read] = read;
  if (parking_) {
    parking_ = false;
    park_asked_ = false;
    if (ec && end_ == RelayEnd::None) {  // parked: relay() ends, park() waits for the client
      parked_ = true;
      return ChunkStep::Return;
    }
  }
  if (end_ != RelayEnd::None) return ChunkStep::Return;
  if (ec) {
    end(RelayEnd::ClientGone);
    return ChunkStep::Return;
  }
  if (fresh_) leave_fresh();  // its first request
  if (tx_mode_) tx_mode_->pending_effects.clear();
  pin_refused_ = false;
  if (prepared_on_) {
    tx_mode().prepared.forget_client_messages();
    chunk = tx_mode().prepared.client_input(chunk);  // keeps back a message to rewrite until whole
    if (chunk.empty()) return ChunkStep::Done;
  }
  const std::size_t n = chunk.size();
  // After an error answered mid-batch (extended protocol), everything up to the next Sync
  // is dropped and that Sync answered with ReadyForQuery, as PostgreSQL does.
  c.begin = skip_until_sync_ ? n : 0;
  const bool track_sql = mode_ != config::PoolMode::Session;
  Status scanned = parts.from_client.scan(chunk, [&](const protocol::MessageHeader& h) {
    if (c.cut) return;
    if (skip_until_sync_ && !c.sync_skipped) {
      if (h.type == protocol::msg::kSync) {
        c.sync_skipped = true;
        unsynced_ = 0;
        c.begin = std::min(h.end, n);
      } else if (h.type == protocol::msg::kTerminate) {
        c.cut = h.offset;
      }
      return;
    }
    const unsigned hints =
        track_sql && (h.type == protocol::msg::kQuery || h.type == protocol::msg::kParse)
            ? note_client_sql(h, chunk)
            : PreparedRelay::kNotScanned;
    meter_.on_client_message(h, chunk);
    switch (h.type) {
      case protocol::msg::kTerminate:
        c.cut = h.offset;
        break;
      case protocol::msg::kQuery:
      case protocol::msg::kFunctionCall:
        ++c.requests;
        break;
      case protocol::msg::kSync:
        ++c.requests;
        unsynced_ = 0;
        break;
      case protocol::msg::kParse:
      case protocol::msg::kBind:
      case protocol::msg::kExecute:
      case protocol::msg::kDescribe:
      case protocol::msg::kClose:
        ++unsynced_;
        break;
      default:
        break;
    }
    if (prepared_on_ && !c.cut) tx_mode().prepared.note_client_message(h, hints);
  });
  if (!scanned) {
    end(RelayEnd::ClientProtocolError, scanned.error());
    return ChunkStep::Return;
  }
  // Whole messages read and none of them Terminate: the client has nothing more to send
  // until it hears back, so a short read means drained (see ReadResult::short_read).
  if (short_read && !c.cut && parts.from_client.at_boundary()) readiness::mark_drained(client_);
  const std::size_t stop = c.cut.value_or(n);
  c.out = chunk.subspan(c.begin, stop > c.begin ? stop - c.begin : 0);
  // One clock read for the request's bookkeeping (phase, pool, meter), again after a wait.
  c.now = c.out.empty() ? TimePoint{} : SteadyClock::now();
  // Attached to a server whose settings are the client's, with nothing to do first: the
  // usual case, tried here (no wait) so that the request goes out uncopied.
  c.attached = held_.has_value();
  if (!c.out.empty() && !c.attached && !releasing_ && !c.sync_skipped && !statement_violation_ &&
      !pin_refused_) {
    c.attached = attach_now(c.now);
  }
  // Anything to do before the bytes can go to a server is client_reader's, which may wait.
  // `chunk` lives in the worker's scratch buffer until client_reader suspends: keep a copy.
  if (c.sync_skipped ||
      (!c.out.empty() && (releasing_ || statement_violation_ || pin_refused_ || !c.attached))) {
    if (!c.out.empty()) {
      parts.pending.assign(c.out.begin(), c.out.end());
      c.out = parts.pending;
    }
    return ChunkStep::Slow;
  }
  if (c.out.empty()) {
    if (!c.cut) return ChunkStep::Done;
    end(RelayEnd::ClientTerminated);
    return ChunkStep::Return;
  }
  return forward_chunk(c);
}

// The requests of `c` go to the held server.
ClientSession::ChunkStep ClientSession::forward_chunk(ClientChunk& c) {
  start_server_reader();
  if (prepared_on_)
    c.out = tx_mode().prepared.to_server(c.out, c.begin, held_->server->statements());
  if (tx_mode_ && !tx_mode_->pending_effects.empty()) apply_session_effects();
  replies_expected_ += c.requests;
  set_phase(Phase::Busy, c.now);
  query_cancel_sent_ = false;
  meter_.on_forward(c.out.size(), c.requests, c.now);
  writing_to_server_ = true;
  const bool written = forward_now(held_->server->socket(), c.out);
  if (written && !c.out.empty()) return ChunkStep::Write;
  return after_write(c, written);
}

ClientSession::ChunkStep ClientSession::after_write(ClientChunk& c, bool written) {
  writing_to_server_ = false;
  if (rp().pending.capacity() > kKeptRequestCapacity) Bytes().swap(rp().pending);
  if (end_ != RelayEnd::None) return ChunkStep::Return;
  if (!written) {
    end(RelayEnd::ServerGone);
    return ChunkStep::Return;
  }
  if (!c.cut) return ChunkStep::Done;
  end(RelayEnd::ClientTerminated);
  return ChunkStep::Return;
}

// client_ready's ReadyWait::Serve: the client may be readable while client_reader waits for
// it. Takes the requests there as client_reader would, inside the wake-up and without
// resuming it, while they go straight to a server; hands what must wait (or the end) over to
// client_reader, which the wake-up then resumes.
bool ClientSession::serve_client(void* session) {
  auto& self = *static_cast<ClientSession*>(session);
  RelayParts& parts = *self.relay_parts_;
  while (self.end_ == RelayEnd::None && !self.parking_ && parts.unread.empty()) {
    ReadStart start = read_now(self.client_);
    if (!start.result) return true;  // nothing there after all: wait on
    self.reading_client_ = false;
    parts.handoff = ClientChunk{};
    self.serving_client_ = true;
    const ChunkStep step = self.take_client_chunk(*start.result, parts.handoff);
    self.serving_client_ = false;
    if (step != ChunkStep::Done) {
      parts.handoff_step = step;
      return false;
    }
    if (self.end_ != RelayEnd::None) return false;  // client_reader ends (resumed inline)
    self.reading_client_ = true;
    // Drained (the usual case): the next request raises a new edge. Otherwise read again,
    // as client_reader's loop would.
    if (!readiness::will_speculate(self.client_)) return true;
  }
  return false;  // client_reader looks (ends, or parks)
}

// What the client sent before the relay started (it did not wait for ReadyForQuery), as if
// just read: copied into scratch(), at most a scratch buffer at a time.
ReadResult ClientSession::take_unread() {
  auto buf = scratch();
  Bytes& unread = rp().unread;
  const std::size_t n = std::min(unread.size(), buf.size());
  std::copy_n(unread.begin(), n, buf.begin());
  unread.erase(unread.begin(), unread.begin() + static_cast<std::ptrdiff_t>(n));
  if (unread.empty()) Bytes().swap(unread);
  return ReadResult{{}, ByteView(buf.data(), n), false};
}

// Attaches a server for the request(s) just read when one is ready at once and already has
// this client's settings: true when attached. A server that still needs the client's
// settings stays held for attach_server() to sync.
bool ClientSession::attach_now(TimePoint now) {
  if (shutting_down_) return false;
  auto lease = services_->pools->try_acquire_now(*pool_, client_.get_executor(), now);
  if (!lease) return false;
  set_phase(Phase::Waiting, now);
  adopt(std::move(*lease));
  if (!settings_synced(*held_->server)) return false;
  hold(held_->server.get());
  return true;
}

// Waits for a server for the request(s) just read (unless attach_now() already holds one)
// and gives it the client's settings. On failure the client is answered with the error (and
// ReadyForQuery, so it can retry) or, where that is not possible (`at_login`: it has not had
// its ReadyForQuery yet and is waiting for it), ended with the error.
Task<bool> ClientSession::attach_server(std::uint64_t requests, bool at_login) {
  Status attached = Ok{};
  if (!held_) {
    set_phase(Phase::Waiting);
    auto notice = [this](int position) {
      Bytes out;
      auto n = protocol::NoticeResponse::make(
          "NOTICE", "00000",
          fmt::format("waiting for a server connection in pool \"{}\": {} client(s) ahead",
                      pool_->name(), position > 0 ? position - 1 : 0));
      n.encode(out);
      ::send(client_.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    };
    auto lease = co_await services_->pools->acquire(
        *pool_, client_.get_executor(), logged_in_ ? notice : PoolRegistry::WaitNotice{},
        &rp().spare_waiter);
    if (lease && shutting_down_) {
      services_->pools->release(*pool_, std::move(*lease), client_.get_executor());
      lease = make_error("57P01", "terminating connection due to administrator command");
    }
    if (lease) {
      adopt(std::move(*lease));
    } else {
      attached = lease.error();
    }
  }
  if (held_) {
    if (!settings_synced(*held_->server)) attached = co_await sync_parameters(*held_->server);
    if (attached) {
      hold(held_->server.get());
      co_return true;
    }
    spdlog::warn("client {}: could not apply its settings on a server: {}", peer_,
                 attached.error().message);
    services_->pools->discard(*pool_, std::move(*held_), client_.get_executor());
    held_.reset();
  }
  const Error error = attached.error();
  if (error.sqlstate != "53300" || !logged_in_ || at_login) {
    co_await send_fatal(error);
    end(RelayEnd::PoolError, error);
    co_return false;
  }
  spdlog::info("client {} {}@{}: {}", peer_, user_, database_, error.message);
  (void)co_await refuse(error, requests);
  set_phase(Phase::Idle);
  co_return false;
}

// Takes `lease` as the held server, with the relay's per-server state fresh.
void ClientSession::adopt(Lease&& lease) {
  held_ = std::move(lease);
  rp().from_server.reset();
  if (prepared_on_) {
    tx_mode().prepared.attach();
    held_->server->statements().set_capacity(
        static_cast<std::size_t>(settings_.max_prepared_statements));
  }
  replies_expected_ = replies_seen_ = 0;
}

// Answers what the client just sent with `error` instead of a server's reply, keeping the
// client connected: an error and ReadyForQuery per request, and for an unfinished batch of
// extended-protocol messages an error now and ReadyForQuery at its Sync. Ends the session
// only when the client is in the middle of a message. False if the session ended.
Task<bool> ClientSession::refuse(const Error& error, std::uint64_t requests, char status) {
  if (!rp().from_client.at_boundary()) {
    co_await send_fatal(error);
    end(RelayEnd::PoolError, error);
    co_return false;
  }
  Bytes out;
  for (std::uint64_t i = 0; i < requests; ++i) {
    append_error(out, "ERROR", error.sqlstate, error.message);
    protocol::ReadyForQuery{status}.encode(out);
  }
  if (unsynced_ > 0) {  // Parse/Bind/... waiting for their Sync (asyncpg sends Flush first)
    append_error(out, "ERROR", error.sqlstate, error.message);
    skip_until_sync_ = true;
  }
  if (!co_await write_all(client_, out)) {
    end(RelayEnd::ClientGone);
    co_return false;
  }
  co_return true;
}

// Ends the session: tells the client why if it is still there, and returns the server to
// its pool clean (rolled back, reset) or closes it.
Task<std::string> ClientSession::finish() {
  const auto cfg = services_->pools->config();
  const config::Settings& current = cfg->settings;
  const Executor ex = client_.get_executor();
  std::string reason;
  bool server_usable = true;
  switch (end_) {
    case RelayEnd::None:
    case RelayEnd::ClientTerminated:
      reason = "client closed the connection";
      break;
    case RelayEnd::ClientGone:
      reason = "client connection lost";
      break;
    case RelayEnd::ServerGone:
      if (rp().from_server.at_boundary()) {
        co_await send_fatal(make_error("08006", "server closed the connection unexpectedly"));
      }
      reason = "server connection lost";
      server_usable = false;
      break;
    case RelayEnd::ClientProtocolError:
      co_await send_fatal(end_error());
      reason = "client protocol error: " + end_error().message;
      break;
    case RelayEnd::ServerProtocolError:
      if (!client_mid_message_) {
        co_await send_fatal(
            make_error("08P01", "invalid message from server: " + end_error().message));
      }
      reason = "server protocol error";
      server_usable = false;
      break;
    case RelayEnd::Shutdown:
      if (rp().from_server.at_boundary()) co_await send_fatal(end_error());
      reason = "shutdown";
      server_usable = false;
      break;
    case RelayEnd::Timeout:
    case RelayEnd::PoolError:
      reason = end_error().message;
      break;
  }
  hold(nullptr);
  if (!held_) co_return reason;
  Lease lease = std::move(*held_);
  held_.reset();
  if (!server_usable || !server_idle()) {
    services_->pools->discard(*pool_, std::move(lease), ex);
    co_return reason + " (its server was busy or lost, closed)";
  }
  const char status = rp().from_server.ready_status();
  if (status == 'T' || status == 'E') {
    if (auto rolled = co_await run_on_server(*lease.server, "ROLLBACK"); !rolled) {
      services_->pools->discard(*pool_, std::move(lease), ex);
      co_return reason + " (rollback failed: " + rolled.error().message + "; server closed)";
    }
  }
  const bool reset_query = mode_ == config::PoolMode::Session || current.server_reset_query_always;
  const bool pinned = server_dirty_ || this->pinned();
  std::string cleanup = reset_query ? current.server_reset_query
                        : pinned    ? session_reset_sql()
                                    : (settings_touched_ ? "RESET ALL" : "");
  if (!cleanup.empty()) {
    if (auto reset = co_await run_on_server(*lease.server, cleanup); !reset) {
      spdlog::warn("pool {}: \"{}\" failed: {}", pool_->name(), cleanup, reset.error().message);
      services_->pools->discard(*pool_, std::move(lease), ex);
      co_return reason + " (reset failed, server closed)";
    }
    lease.server->note_reset();
    if (pinned || may_drop_statements(cleanup)) lease.server->statements().clear();
  }
  services_->pools->release(*pool_, std::move(lease), ex);
  co_return reason;
}

// How long a query cancelled by query_timeout may take to end before its server is given up
// (at most query_timeout again).
constexpr config::Seconds kCancelGrace{5.0};

// Timeouts, checked by a sweeper about once a second (PgBouncer's janitor does the same):
// no timer is armed per transaction, so the relay pays nothing for them.
void ClientSession::check_timeouts(TimePoint now, const config::Settings& settings) {
  const Phase phase = phase_.load(std::memory_order_relaxed);
  const Duration in_phase = now - TimePoint(Duration(phase_since_.load(std::memory_order_relaxed)));
  const auto tx = tx_since_.load(std::memory_order_relaxed);
  const Duration in_tx = tx ? now - TimePoint(Duration(tx)) : Duration::zero();
  auto over = [](Duration elapsed, config::Seconds limit) {
    return limit.count() > 0 && elapsed > to_duration(limit);
  };
  std::optional<Error> fatal;
  if (phase == Phase::Idle && over(in_phase, settings.client_idle_timeout)) {
    fatal = make_error("57P05", fmt::format("terminating connection due to idle timeout "
                                            "(client_idle_timeout={}s)",
                                            settings.client_idle_timeout.count()));
  } else if (phase == Phase::IdleInTx && over(in_phase, settings.idle_transaction_timeout)) {
    fatal = make_error("25P03", fmt::format("terminating connection due to idle-in-transaction "
                                            "timeout (idle_transaction_timeout={}s)",
                                            settings.idle_transaction_timeout.count()));
  } else if ((phase == Phase::Busy || phase == Phase::IdleInTx) &&
             over(in_tx, settings.transaction_timeout)) {
    fatal = make_error("25P04", fmt::format("terminating connection due to transaction timeout "
                                            "(transaction_timeout={}s)",
                                            settings.transaction_timeout.count()));
  }
  const bool cancel_query =
      phase == Phase::Busy && over(in_phase, settings.query_timeout) && !query_cancel_sent_.load();
  // A cancelled query that is still not answered a while later never will be: the server is
  // gone without a word (a dead host, a cut network path) or its stream has lost its framing.
  // query_timeout bounds the wait all the same: the client is told and the server closed.
  if (!fatal && phase == Phase::Busy && query_cancel_sent_.load() &&
      over(in_phase, settings.query_timeout + std::min(settings.query_timeout, kCancelGrace))) {
    fatal = make_error("57014", fmt::format("canceling statement due to query_timeout ({}s): the "
                                            "server has not answered its cancel request, and its "
                                            "connection is closed",
                                            settings.query_timeout.count()));
  }
  if (!fatal && !cancel_query) {
    if (phase == Phase::Idle && in_phase >= kParkAfter &&
        may_park_.load(std::memory_order_relaxed) && !park_asked_.exchange(true)) {
      asio::post(client_.get_executor(), [self = shared_from_this()] { self->request_park(); });
    }
    return;
  }
  asio::post(client_.get_executor(), [self = shared_from_this(), phase, fatal, cancel_query,
                                      query_timeout = settings.query_timeout.count()] {
    if (self->end_ != RelayEnd::None || self->phase_.load() != phase) return;
    if (cancel_query) {
      self->query_cancel_sent_ = true;
      auto target = self->cancel_target();
      spdlog::info("client {} {}@{}: query_timeout exceeded, cancelling its query", self->peer_,
                   self->user_, self->database_);
      if (!self->writing_to_client_ && self->rp().from_server.at_boundary()) {
        Bytes out;
        protocol::NoticeResponse::make(
            "WARNING", "57014",
            fmt::format("query_timeout ({}s) exceeded: Reservoir is cancelling the statement",
                        query_timeout))
            .encode(out);
        ::send(self->client_fd(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      }
      if (target) {
        asio::co_spawn(
            self->client_.get_executor(),
            send_cancel(self->client_.get_executor(), target->target, target->pid, target->secret),
            asio::detached);
      }
      return;
    }
    spdlog::info("client {} {}@{}: {}", self->peer_, self->user_, self->database_, fatal->message);
    // A client waiting for a reply gets ReadyForQuery after the error, so that drivers
    // (libpq, psycopg2) report this message rather than only "server closed the connection".
    if (self->rp().from_server.at_boundary()) self->send_fatal_now(*fatal, phase == Phase::Busy);
    self->end(RelayEnd::Timeout, *fatal);
  });
}

}  // namespace reservoir::proxy

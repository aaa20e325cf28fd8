// The relay's server direction (see client_relay.cc for the whole): server_reader and the
// steps it shares with serve_server(), which relays a reply inside the epoll wake-up that
// reported it; and the release of the held server back to its pool when it has answered
// everything.
#include "protocol/message_types.h"
#include "protocol/messages/parameter_status.h"
#include "proxy/asio_readiness.h"
#include "proxy/client_session.h"
#include "proxy/server_query.h"

namespace reservoir::proxy {

Task<void> ClientSession::server_reader() {
  // The relay parts live as long as the relay's coroutines (park() frees them after).
  RelayParts& parts = rp();
  auto self = shared_from_this();
  while (end_ == RelayEnd::None && !parked_) {
    ServerChunk sc;
    ChunkStep step = ChunkStep::None;
    ReadResult read;
    if (!held_ || releasing_) {  // between transactions: wait for start_server_reader()
      auto [e, got] = co_await parts.server_wake.wait();
      const std::optional<ReadStart> started = parts.server_wake.take_read();
      reading_server_ = false;
      if (parts.server_step == ChunkStep::None) {
        // Notified, or woken by the server's readiness (hand_to): look again, and read.
        if (!started || !held_) continue;
        // Woken by the read start_server_reader() began on the server it attached.
        read = read_waited(held_->server->socket(), held_->server->landing(), *started, e, got);
      }
    } else {
      ServerConn& server = *held_->server;
      reading_server_ = true;
      Socket& socket = server.socket();
      if (readiness::ReadyWait::usable(socket)) {
        ReadStart start = read_now(socket);
        if (!start.result) server.ready().serve_with(&ClientSession::serve_server, this);
        while (!start.result) {  // woken when the server may be read (rarely for nothing)
          auto [e, unused] = co_await server.ready().wait(socket);
          if (parts.server_step != ChunkStep::None) break;  // serve_server() began a reply
          // serve_server() gave this server back (the waiter moved to server_wake): look again.
          if (!held_ || held_->server.get() != &server || releasing_) break;
          start = e ? ReadStart{ReadResult{e, {}}} : read_now(socket);
        }
        if (start.result) {
          read = *start.result;
        } else if (parts.server_step == ChunkStep::None) {
          reading_server_ = false;
          continue;
        }
      } else {
        const std::span<std::uint8_t> landing = server.landing();
        ReadStart start = read_start(socket, landing);  // read_ready() without its frame
        if (!start.result) {
          start.result = read_waited(socket, landing, start,
                                     co_await wait_read(socket, landing, parts.server_read_op));
        }
        read = *start.result;
      }
    }
    reading_server_ = false;
    if (parts.server_step != ChunkStep::None) {
      step = std::exchange(parts.server_step, ChunkStep::None);
      sc = parts.server_handoff;
    } else {
      step = take_server_chunk(read, sc);
    }
    if (step == ChunkStep::Write) {  // the client took part of it: the rest when it has room
      const bool written = co_await forward_rest(client_, sc.rest, parts.to_client_spill);
      step = after_server_write(sc, written);
    }
    if (step == ChunkStep::Return) break;
    if (step == ChunkStep::Violation) {
      // The client opened a transaction block: undo it now, refuse its next request.
      co_await release_server(/*rollback_first=*/true);
    } else if (step == ChunkStep::Release && !release_now(sc.now)) {
      co_await release_server();
    }
  }
  server_reader_running_ = false;
  parts.reader_exit.cancel();
}

// What server_reader does with what it read from the held server, up to the first thing that
// must wait: Done (relayed; the server stays held), Release (relayed, and the server may go
// back), Violation (relayed; statement mode: the transaction must be rolled back), Return
// (the relay ends) or Write (the client took only part: sc.rest is the rest).
ClientSession::ChunkStep ClientSession::take_server_chunk(const ReadResult& read, ServerChunk& sc) {
  RelayParts& parts = rp();
  ServerConn& server = *held_->server;
  auto [ec, chunk, short_read] = read;
  if (end_ != RelayEnd::None) return ChunkStep::Return;
  if (ec) {
    end(RelayEnd::ServerGone);
    return ChunkStep::Return;
  }
  if (prepared_on_) {
    chunk = tx_mode().prepared.server_input(chunk, parts.from_server);
    if (chunk.empty()) return ChunkStep::Done;
  }
  // One clock read per server read serves the meter, the phase and the release.
  const TimePoint now = SteadyClock::now();
  sc.now = now;
  const bool client_at_boundary = parts.from_server.at_boundary();  // all relayed so far
  Status scanned = parts.from_server.scan(chunk, [&](const protocol::MessageHeader& h) {
    if (tracked(h.type)) track_server_message(h, chunk, server, now);
  });
  if (!scanned) {  // nothing of this chunk is relayed
    client_mid_message_ = !client_at_boundary;
    end(RelayEnd::ServerProtocolError, scanned.error());
    return ChunkStep::Return;
  }
  // A reply that ended with ReadyForQuery: the server sends nothing more unasked (a later
  // NOTIFY or FATAL arrives as new data, with its own epoll edge). After anything else (an
  // ErrorResponse FATAL, say) a FIN may be queued behind it: the next read must look.
  if (short_read && parts.from_server.at_boundary() &&
      parts.from_server.last_type() == protocol::msg::kReadyForQuery) {
    readiness::mark_drained(server.socket());
  }
  if (prepared_on_) chunk = tx_mode().prepared.to_client(chunk);
  meter_.on_server_bytes(chunk.size());
  writing_to_client_ = true;
  const bool written = forward_now(client_, chunk);
  if (written && !chunk.empty()) {
    sc.rest = chunk;
    return ChunkStep::Write;
  }
  return after_server_write(sc, written);
}

ClientSession::ChunkStep ClientSession::after_server_write(const ServerChunk& sc, bool written) {
  writing_to_client_ = false;
  if (!written) {
    end(RelayEnd::ClientGone);
    return ChunkStep::Return;
  }
  if (end_ != RelayEnd::None) return ChunkStep::Return;
  if (auto status = rp().from_server.ready_at_end();
      status && replies_seen_ == replies_expected_ && !writing_to_server_) {
    const bool in_tx = *status != 'I';
    if (!in_tx) held_->server->statements().end_transaction();
    tx_since_ = in_tx ? (tx_since_ ? tx_since_.load() : sc.now.time_since_epoch().count()) : 0;
    set_phase(in_tx ? Phase::IdleInTx : Phase::Held, sc.now);
    if (mode_ == config::PoolMode::Statement && in_tx) {
      statement_violation_ = true;
      return ChunkStep::Violation;
    }
  }
  return release_ready() ? ChunkStep::Release : ChunkStep::Done;
}

// The held server's ReadyWait::Serve: its reply may be there while server_reader waits for
// it. Relays it as server_reader would, inside the wake-up and without resuming it, and gives
// the server back when the reply is whole; hands what must wait (or the end) over to
// server_reader, which the wake-up then resumes.
bool ClientSession::serve_server(void* session) {
  auto& self = *static_cast<ClientSession*>(session);
  RelayParts& parts = *self.relay_parts_;
  while (self.end_ == RelayEnd::None && !self.parked_ && self.held_ && !self.releasing_) {
    ServerConn& server = *self.held_->server;
    ReadStart start = read_now(server.socket());
    if (!start.result) return true;  // nothing there after all: wait on
    self.reading_server_ = false;
    ServerChunk& sc = parts.server_handoff;
    sc = ServerChunk{};
    const ChunkStep step = self.take_server_chunk(*start.result, sc);
    if (step == ChunkStep::Done) {
      self.reading_server_ = true;
      if (!readiness::will_speculate(server.socket())) return true;
      continue;  // more may be there: read again, as server_reader's loop would
    }
    if (step != ChunkStep::Release) {
      parts.server_step = step;
      return false;
    }
    // The waiter leaves the server's readiness before the server goes back to the pool (and
    // perhaps at once to a client of another worker), and waits for the next transaction.
    parts.server_wake.take_from(server.ready());
    if (self.release_now(sc.now)) return true;
    parts.server_step = step;  // a release with work to do on the server: server_reader's
    parts.server_wake.notify();
    return true;
  }
  return false;  // server_reader looks (ends, or waits elsewhere)
}

// Keeps the server's ParameterStatus values current as they pass by, and shows the prepared
// statement relay and the meter what they look at. Called only for tracked() types.
void ClientSession::track_server_message(const protocol::MessageHeader& h, ByteView chunk,
                                         ServerConn& server, TimePoint now) {
  if (prepared_on_) tx_mode().prepared.on_server_message(h, server.statements());
  meter_.on_server_message(h, chunk, now);
  if (h.type == protocol::msg::kReadyForQuery) {
    ++replies_seen_;
  } else if (h.type == protocol::msg::kParameterStatus) {
    server.forget_synced();
    if (!h.straddled && h.end <= chunk.size()) {
      auto p = protocol::ParameterStatus::decode(chunk.subspan(h.offset + 5, h.body_size()));
      if (p) server.params()[p->name] = p->value;
    }
    settings_touched_ = true;  // the client changed a reported setting (or we could not read it)
  }
}

// A server can go back to the pool when it has answered everything it was asked, the last
// thing it said was ReadyForQuery 'I', and the client is between messages.
bool ClientSession::release_ready() const {
  if (mode_ == config::PoolMode::Session || !held_ || pinned()) return false;
  return server_idle() && rp().from_server.ready_at_end() == std::optional<char>('I');
}

// Gives the server back when nothing has to run on it first (no settings to capture, no
// session to reset): the common case, without a coroutine frame. False when something has,
// for release_server() to do.
bool ClientSession::release_now(TimePoint now) {
  if (settings_touched_ || server_dirty_) return false;
  begin_release();
  finish_release(now);
  return true;
}

Task<void> ClientSession::release_server(bool rollback_first) {
  releasing_ = true;
  begin_release();
  if (rollback_first) {
    if (auto rolled = co_await run_on_server(*held_->server, "ROLLBACK"); !rolled) {
      services_->pools->discard(*pool_, std::move(*held_), client_.get_executor());
      held_.reset();
    }
  }
  if (held_ && settings_touched_) co_await capture_and_reset(*held_->server);
  if (held_ && server_dirty_) co_await reset_session(*held_->server);
  finish_release();
}

// The client stops being cancellable through the server, and its transaction is over.
void ClientSession::begin_release() {
  hold(nullptr);
  tx_since_ = 0;
  held_->server->statements().end_transaction();
}

// The server (unless it was closed on the way) goes back to its pool; the client is idle.
void ClientSession::finish_release(TimePoint now) {
  server_dirty_ = false;
  if (held_) {
    services_->pools->release(*pool_, std::move(*held_), client_.get_executor(), now);
    held_.reset();
  }
  settings_touched_ = false;
  releasing_ = false;
  rp().release_gate.cancel();
  set_phase(Phase::Idle, now);
}

bool ClientSession::server_idle() const {
  return rp().from_client.at_boundary() && rp().from_server.at_boundary() && !writing_to_server_ &&
         replies_seen_ == replies_expected_ && unsynced_ == 0 &&
         (!prepared_on_ || !tx_mode_ || tx_mode_->prepared.nothing_held_back()) &&
         (rp().from_server.last_type() == protocol::msg::kReadyForQuery ||
          rp().from_server.messages_seen() == 0);
}

}  // namespace reservoir::proxy

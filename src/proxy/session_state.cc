// What a client does to its server's session, beyond the bytes relayed: the settings it
// wants (given to each server it is lent, captured when it changes them) and the session
// state it creates (LISTEN, advisory locks, temporary objects, cursors, SQL PREPARE), which
// pins it to its server until a reset. The relay (client_relay.cc) calls these at attach,
// at each Query or Parse, and at release.
#include <spdlog/spdlog.h>

#include "protocol/message_types.h"
#include "protocol/sql_scan.h"
#include "proxy/client_session.h"
#include "proxy/server_query.h"

namespace reservoir::proxy {

// Looks at a Query or Parse (the caller passes no other message) the client sends in
// transaction mode, with one cheap scan (protocol/sql_scan.h): notes that it may change session
// settings (so the settings are compared when the server is released), and what it does to its
// server's session (LISTEN, advisory locks, temporary objects, WITH HOLD cursors, SQL PREPARE),
// parsed with libpg_query only when the scan says so; the effects apply once the bytes go to a
// server, or, with transaction_mode_pinning=off, are refused. A Query or Parse that does not fit in
// this chunk counts as changing settings and is not classified. Returns the scan's hints
// (PreparedRelay::kNotScanned when it did not scan).
unsigned ClientSession::note_client_sql(const protocol::MessageHeader& h, ByteView chunk) {
  constexpr unsigned kNotScanned = PreparedRelay::kNotScanned;
  if (h.straddled || h.end > chunk.size()) {
    settings_touched_ = true;
    return kNotScanned;
  }
  const std::string_view body = protocol::statement_text(
      h.type, as_chars(chunk.subspan(h.offset + protocol::kHeaderSize, h.body_size())));
  const unsigned hints =
      h.type == protocol::msg::kParse ? scan_parse_sql(body) : protocol::scan_sql(body);
  if (hints == 0) return 0;  // the usual statement
  if (hints & protocol::kChangesSettings) settings_touched_ = true;
  const unsigned session =
      protocol::kTouchesSession | (tx_mode().pins.has_temp_objects() ? protocol::kDrops : 0u);
  if ((hints & session) == 0) return hints;
  for (auto& effect : protocol::classify_sql(body)) {
    if (protocol::needs_pinning(effect) && !settings_.transaction_mode_pinning) {
      pin_refused_ = true;
    }
    tx_mode().pending_effects.push_back(std::move(effect));
  }
  return hints;
}

// scan_sql() of a Parse's text. Drivers that send every statement as an unnamed Parse
// (node-postgres, JDBC before prepareThreshold, pgbench -M extended) send the same few texts
// over and over: the last one scanned and its hints are remembered (in the relay parts, so
// that a parked client does not keep them), and the same text again costs one comparison.
unsigned ClientSession::scan_parse_sql(std::string_view text) {
  RelayParts& parts = rp();
  if (text == parts.last_parse) {
    return parts.last_parse_hints;
  }
  const unsigned hints = protocol::scan_sql(text);
  if (text.size() <= kRememberedParseMax) {
    parts.last_parse.assign(text);
    parts.last_parse_hints = hints;
  }
  return hints;
}

void ClientSession::apply_session_effects() {
  TxModeState& tx = tx_mode();
  const bool was = tx.pins.pinned();
  for (const auto& effect : tx.pending_effects) tx.pins.apply(effect);
  tx.pending_effects.clear();
  const bool now = tx.pins.pinned();
  if (now) server_dirty_ = true;
  if (now == was) return;
  (now ? pool_->pins : pool_->unpins).fetch_add(1, std::memory_order_relaxed);
  if (now) {
    spdlog::debug("client {} {}@{}: pinned to its server ({})", peer_, user_, database_,
                  tx.pins.describe());
  } else {
    spdlog::debug("client {} {}@{}: unpinned; its server is reset when given back", peer_, user_,
                  database_);
  }
}

std::string ClientSession::session_reset_sql() const {
  return settings_.server_reset_query.empty() ? "DISCARD ALL" : settings_.server_reset_query;
}

// A server a pinned client held: LISTEN, locks, temporary tables, cursors and prepared
// statements go before another client gets it. A failure closes the server instead.
Task<void> ClientSession::reset_session(ServerConn& server) {
  const std::string sql = session_reset_sql();
  if (auto reset = co_await run_on_server(server, sql); !reset) {
    spdlog::warn("client {}: \"{}\" failed on a server it was pinned to ({}); closing it", peer_,
                 sql, reset.error().message);
    services_->pools->discard(*pool_, std::move(*held_), client_.get_executor());
    held_.reset();
    co_return;
  }
  server.note_reset();
  server.statements().clear();
}

// Gives the server exactly this client's settings before the client's bytes reach it, so
// that a client never sees another client's values.
// Most transactions get a server last synced for the same settings (all clients of an app
// ask for the same ones): comparing the lists is far cheaper than working out changes.
bool ClientSession::settings_synced(const ServerConn& server) const {
  // The same shared list (share_settings) is the usual case; equal contents the rest.
  const SettingList* synced = server.synced_for();
  return synced == settings_wanted_.get() || (synced && *synced == *settings_wanted_);
}

// For a server not settings_synced() (the caller asks first, so that the usual case costs no
// coroutine frame).
Task<Status> ClientSession::sync_parameters(ServerConn& server) {
  const SettingChanges changes =
      settings_to_apply(*settings_wanted_, server.applied(), server.params());
  if (changes.empty()) {
    server.note_synced(settings_wanted_);
    co_return Ok{};
  }
  const std::string sql = change_statement(changes);
  if (!sql.empty()) {
    auto applied = co_await run_on_server(server, sql);
    if (!applied) co_return applied.error();
  }
  for (const auto& name : changes.reset) server.note_unapplied(name);
  for (const auto& [name, value] : changes.set) server.note_applied(name, value);
  server.note_synced(settings_wanted_);
  co_return Ok{};
}

// The client changed session settings: remember them as its own (they follow it to its next
// server) and return the server to its defaults. A failure closes the server instead.
Task<void> ClientSession::capture_and_reset(ServerConn& server) {
  auto rows = co_await query_server(
      server, "SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session'");
  if (rows) {
    // pg_settings omits custom placeholders ("app.tenant"): those the client asked for
    // are kept as they were.
    SettingList next;
    for (const auto& [name, value] : *settings_wanted_) {
      if (name.find('.') != std::string::npos) next.emplace_back(name, value);
    }
    for (const auto& row : *rows) {
      if (row.size() == 2) next.emplace_back(lower_ascii(row[0]), row[1]);
    }
    settings_wanted_ = share_settings(std::move(next));
    auto reset = co_await run_on_server(server, "RESET ALL");
    if (reset) {
      server.note_reset();
      co_return;
    }
    rows = reset.error();
  }
  spdlog::warn("client {}: could not reset a server's settings ({}); closing it", peer_,
               rows.error().message);
  services_->pools->discard(*pool_, std::move(*held_), client_.get_executor());
  held_.reset();
}

}  // namespace reservoir::proxy

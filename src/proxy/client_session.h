#pragma once
// One client connection, from accept to close. The whole flow reads top to bottom in
// ClientSession::serve(): startup -> authenticate -> (wait for a server) -> relay -> release.
// The relay (client_relay.cc) lends the client a server per session, per transaction or per
// statement, depending on its pool's mode.
//
// Client phases (docs/architecture.md has the full table):
//   Login       startup packet and authentication
//   Idle        logged in, holds no server, waits for the client's next message
//   Waiting     queued in its pool for a server
//   Busy        holds a server that owes it a reply
//   IdleInTx    holds a server inside a transaction, waits for the client
//   Held        holds a server between transactions (session mode only)
#include <array>
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/scram_secret_cache.h"
#include "auth/userlist.h"
#include "common/spin_lock.h"
#include "config/config.h"
#include "protocol/message_scanner.h"
#include "protocol/message_types.h"
#include "protocol/sql_classify.h"
#include "protocol/startup.h"
#include "proxy/admin_backend.h"
#include "proxy/asio_readiness.h"
#include "proxy/client_auth.h"
#include "proxy/net.h"
#include "proxy/parking_lot.h"
#include "proxy/pool_registry.h"
#include "proxy/prepared_relay.h"
#include "proxy/relay_meter.h"
#include "proxy/sessions.h"
#include "proxy/startup_params.h"

namespace reservoir::proxy {

// What a session needs from the process; owned by the App, outlives every session.
struct Services {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const auth::CredentialStore> credentials;
  auth::ScramSecretCache* scram_cache = nullptr;
  PoolRegistry* pools = nullptr;
  SessionRegistry* sessions = nullptr;
  AdminBackend* admin = nullptr;  // the admin console's view of the process
};

enum class Phase : std::uint8_t { Login, Idle, Waiting, Busy, IdleInTx, Held };

// Why a relay ended.
enum class RelayEnd {
  None,
  ClientTerminated,  // the client sent Terminate
  ClientGone,        // the client's socket closed or failed
  ServerGone,        // the server's socket closed or failed
  ClientProtocolError,
  ServerProtocolError,
  Shutdown,   // Reservoir is shutting down
  Timeout,    // a client timeout fired; the client was told which
  PoolError,  // no server could be had; the client was told why
};

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  // `peer` names the client in logs ("host:port", "unix").
  // `family`: the socket's address family (AF_INET, AF_INET6, AF_UNIX).
  ClientSession(Socket socket, int family, std::string peer,
                std::shared_ptr<const Services> services);

  // Serves the client until it leaves; logs one line at connect and one at disconnect.
  Task<void> run();

  // An idle client (no server held, nothing pending) is parked after kParkAfter: its relay
  // coroutines end, its RelayParts go, and its socket moves from Asio to the worker's
  // ParkingLot (parking_lot.h) until it sends something; then resume() starts the relay
  // again. So an idle client costs this object and a kernel epoll entry, nothing more.
  static constexpr Duration kParkAfter = std::chrono::milliseconds(500);

  // The ParkingLot's wake function: `guest` is a session parked there; it takes its socket
  // back and resumes. Called on the session's own thread.
  static void wake_parked(void* guest);

  // Asks the session to end with 57P01 (Reservoir shutting down). Any thread.
  void shut_down();

  // Closes this worker's clients that have not logged in within client_login_timeout (as
  // it was when each connected). Called on each worker about twice a second; what is left of
  // a login then is a list entry, unlinked when the client logs in or goes.
  static void expire_logins(TimePoint now);
  struct LoginEntry;

  // Checks the client timeouts against `now`; posts the action to the session's own thread
  // when one is due. Called about once a second from a sweeper. Any thread.
  void check_timeouts(TimePoint now, const config::Settings& settings);

  // The server this client holds right now, for a CancelRequest. Any thread.
  struct CancelTarget {
    std::shared_ptr<const ServerTarget> target;
    std::int32_t pid;
    std::int32_t secret;
  };
  std::optional<CancelTarget> cancel_target();

  // --- For observers (admin console, HTTP, upkeep); any thread. ---
  // Fixed once logged in (before that: empty / nullptr).
  PoolState* pool_state() const { return logged_in_ ? pool_ : nullptr; }
  const std::string& peer() const { return peer_; }
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }
  std::string application_name() const { return application_name_; }
  BackendKey key() const { return key_; }
  Phase phase() const { return phase_.load(std::memory_order_relaxed); }
  // How long the client has been inside its current transaction (zero when not in one).
  Duration transaction_age(TimePoint now) const {
    const auto tx = tx_since_.load(std::memory_order_relaxed);
    return tx ? now - TimePoint(Duration(tx)) : Duration::zero();
  }
  TimePoint connected_at() const { return connected_at_; }
  // When the current transaction began (TimePoint{} when not in one): identifies it.
  TimePoint transaction_started() const {
    return TimePoint(Duration(tx_since_.load(std::memory_order_relaxed)));
  }
  TimePoint phase_started() const {
    return TimePoint(Duration(phase_since_.load(std::memory_order_relaxed)));
  }

 private:
  // --- login (client_session.cc) ---
  Task<std::string> serve();  // returns the reason the session ended, for the log
  // Startup, authentication and welcome; the reason on failure. Its own coroutine so that
  // what login needs (parameters, auth state) is freed before the long relay.
  Task<std::optional<std::string>> log_in();
  Task<Result<ClientAuthOutcome>> authenticate();
  Task<Result<protocol::StartupMessage>> read_startup();
  Task<Result<std::size_t>> read_startup_packet(Bytes& in);
  Task<void> handle_cancel(const protocol::CancelRequest& request);
  // ParameterStatus for each of `params` (the client's own settings in place of the
  // server's), BackendKeyData and ReadyForQuery.
  void append_welcome(Bytes& out, const ServerParams& params) const;
  Task<void> send_fatal(const Error& error);
  // Non-blocking, for timeouts; `then_ready` adds ReadyForQuery for a client awaiting a reply.
  void send_fatal_now(const Error& error, bool then_ready = false);
  Task<bool> refuse(const Error& error, std::uint64_t requests, char status = 'I');

  // --- admin console (admin_console.cc) ---
  Task<std::string> serve_admin();  // after login's startup and authentication
  Task<void> run_admin_query(const std::string& sql, bool admin, Bytes& out);

  // --- relay (client_relay.cc) ---
  Task<RelayEnd> relay();
  Task<void> client_reader();
  Task<void> server_reader();
  // client_reader's work on one read, in steps that need no waiting (client_relay.cc).
  enum class ChunkStep : std::uint8_t { None, Done, Return, Slow, Write, Release, Violation };
  struct ClientChunk {
    ByteView out;           // what goes to the server
    std::size_t begin = 0;  // out's offset in the chunk read
    std::uint64_t requests = 0;
    std::optional<std::size_t> cut;  // a Terminate's offset
    TimePoint now{};
    bool attached = false;
    bool sync_skipped = false;
  };
  ChunkStep take_client_chunk(const ReadResult& read, ClientChunk& c);
  ChunkStep forward_chunk(ClientChunk& c);
  ChunkStep after_write(ClientChunk& c, bool written);
  static bool serve_client(void* session);
  // server_reader's work on one read of the held server, likewise.
  struct ServerChunk {
    ByteView rest;  // Write: what the client has yet to take
    TimePoint now{};
  };
  ChunkStep take_server_chunk(const ReadResult& read, ServerChunk& sc);
  ChunkStep after_server_write(const ServerChunk& sc, bool written);
  static bool serve_server(void* session);
  void start_server_reader();
  // The per-transaction steps have a plain function for the common case (nothing to wait
  // for) and a coroutine for the rest; the coroutine is only entered when the plain one fails.
  bool attach_now(TimePoint now);
  Task<bool> attach_server(std::uint64_t requests, bool at_login = false);
  void adopt(Lease&& lease);
  bool settings_synced(const ServerConn& server) const;
  Task<Status> sync_parameters(ServerConn& server);
  bool release_ready() const;
  bool release_now(TimePoint now);
  Task<void> release_server(bool rollback_first = false);
  void begin_release();
  void finish_release(TimePoint now = SteadyClock::now());
  Task<void> capture_and_reset(ServerConn& server);
  Task<std::string> finish();
  bool server_idle() const;
  void end(RelayEnd why, Error error = {});
  void hold(ServerConn* server);
  void set_phase(Phase phase, TimePoint now = SteadyClock::now());
  unsigned note_client_sql(const protocol::MessageHeader& h, ByteView chunk);
  void apply_session_effects();
  Task<void> reset_session(ServerConn& server);
  std::string session_reset_sql() const;
  void track_server_message(const protocol::MessageHeader& h, ByteView chunk, ServerConn& server,
                            TimePoint now);
  // The server message types track_server_message() looks at: ReadyForQuery and
  // ParameterStatus for itself, ErrorResponse for the meter, ParseComplete and CloseComplete
  // (and those two) for the prepared-statement relay. Rows, descriptions and command tags
  // skip the call.
  static constexpr bool tracked(char type) {
    return type == protocol::msg::kReadyForQuery || type == protocol::msg::kParameterStatus ||
           type == protocol::msg::kErrorResponse || type == protocol::msg::kParseComplete ||
           type == protocol::msg::kCloseComplete;
  }

  Socket client_;
  std::shared_ptr<const Services> services_;  // shared by the clients of one config snapshot
  const config::Settings& settings_;
  std::string application_name_;  // set before the session is registered; then read-only
  BackendKey key_{};
  std::string peer_;
  std::string database_;
  std::string user_;
  // While logging in with client_login_timeout set: its entry in the worker's list of
  // logins, which expire_logins() checks (no timer per login).
  std::list<LoginEntry>::iterator login_entry_;
  bool login_listed_ = false;
  void unlist_login();
  TimePoint connected_at_ = SteadyClock::now();
  RelayMeter meter_;  // counts for the pool's metrics (relay_meter.h)

  // Relay state; touched only on the session's own thread.
  PoolState* pool_ = nullptr;
  std::optional<Lease> held_;
  // Startup settings plus SETs captured from the client (shared with clients wanting the same).
  SharedSettings settings_wanted_ = no_settings();
  // Transaction and statement mode state, made when the client first sends something (an
  // idle client does not pay for it): its prepared statements (prepared_relay.h), what it
  // holds in its server's session (transaction_mode_pinning; while pins.pinned() the server
  // is not given back), and the session effects of the chunk being relayed.
  struct TxModeState {
    explicit TxModeState(std::uint32_t max_packet_size) : prepared(max_packet_size) {}
    PreparedRelay prepared;
    protocol::SessionPins pins;
    std::vector<protocol::SqlEffect> pending_effects;
  };
  std::unique_ptr<TxModeState> tx_mode_;
  TxModeState& tx_mode() {
    if (!tx_mode_) tx_mode_ = std::make_unique<TxModeState>(settings_.max_packet_size);
    return *tx_mode_;
  }
  bool pinned() const { return tx_mode_ && tx_mode_->pins.pinned(); }
  std::uint64_t replies_expected_ = 0;  // Query, Sync, FunctionCall: one ReadyForQuery each
  std::uint64_t replies_seen_ = 0;
  // The small fields sit together, so that an idle client's object carries no padding.
  int unsynced_ = 0;  // extended-protocol messages since the last Sync
  RelayEnd end_ = RelayEnd::None;
  config::PoolMode mode_ = config::PoolMode::Session;
  std::atomic<bool> logged_in_{false};
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> query_cancel_sent_{false};  // read by the timeout sweeper
  std::atomic<Phase> phase_{Phase::Login};      // read by the timeout sweeper
  // Named prepared statements across servers (transaction and statement mode, unless
  // max_prepared_statements = 0); see prepared_relay.h.
  bool prepared_on_ = false;
  bool pin_refused_ = false;   // pinning is off and the chunk needs it: refuse it
  bool server_dirty_ = false;  // the held server was pinned: reset it before giving it back
  bool writing_to_server_ = false;
  bool writing_to_client_ = false;  // server_reader is mid-write: no message of ours now
  // The server's stream failed its checks in a chunk that began inside a message: the client
  // has part of that message, so no message of ours can follow it.
  bool client_mid_message_ = false;
  bool releasing_ = false;            // server being cleaned and given back
  bool skip_until_sync_ = false;      // an error was answered mid-batch: drop until Sync
  bool statement_violation_ = false;  // statement mode: the client opened a transaction
  bool settings_touched_ = false;     // the client may have changed session settings
  // The server reader is started by the first transaction and then lives as long as the
  // session, waiting on server_wake_ between transactions: spawning a coroutine per
  // transaction cost about a sixth of the relay's instructions.
  bool server_reader_running_ = false;
  bool reading_server_ = false;  // in a read of the held server's socket
  // Parking (see kParkAfter): client_reader is in a read of the client; a park was asked
  // for (the read is being cancelled); the relay has ended and park() waits for the client.
  bool reading_client_ = false;
  // In serve_client(), inside the wake-up: an end() there leaves client_reader armed, and
  // the wake-up resumes it inline once serve_client() returns (no cancel posted).
  bool serving_client_ = false;
  bool parking_ = false;
  bool parked_ = false;
  std::atomic<bool> may_park_{false};    // a transaction or statement pool client; any thread
  std::atomic<bool> park_asked_{false};  // a request_park() is posted or done; any thread
  std::array<std::uint8_t, 1> park_probe_{};
  // In the relay since login, waiting for its first request (`fresh_`), rather than parked:
  // a client that has just logged in, while few others on its worker are (kFreshMax). Most
  // such clients send their first request at once (an app opening a connection to use it),
  // which is then served inside the wake-up that brings it, with no trip through a park; one
  // that stays idle is parked by the sweeper like any idle client.
  static constexpr int kFreshMax = 64;
  bool fresh_ = false;
  void leave_fresh();  // no longer counted as fresh on its worker (parked, or gone)
  // Parked in Asio, on a peek of the socket, where the worker has no usable lot (or the lot
  // refused it); `to_lot_`: the sweeper cancelled the peek to move it to the lot.
  bool asio_parked_ = false;
  bool to_lot_ = false;
  void park_in_asio();
  SpinLock cancel_lock_;  // guards held_target_ against CancelRequests from other threads
  // Parked in this worker's ParkingLot (parking_lot.h): the socket is out of Asio, this is
  // its fd, and the lot's wake (or end()) gives it back. The session keeps itself alive
  // meanwhile, as the peek operation's handler does where there is no lot.
  int lot_fd_ = -1;
  int family_;                  // the client socket's address family, to give the fd back to Asio
  bool lot_known_ = false;      // the fd is in the lot's set (disarmed) from an earlier stay
  std::uint8_t lot_modes_ = 0;  // the socket's non-blocking modes before it left Asio
  std::shared_ptr<ClientSession> lot_self_;
  bool enter_lot(ParkingLot& lot);
  void leave_lot(bool woken);
  bool back_to_asio(int fd);
  int client_fd() { return lot_fd_ >= 0 ? lot_fd_ : client_.native_handle(); }
  void request_park();
  void park();
  void cancel_client_read();
  void cancel_server_read();
  Task<void> resume();
  void conclude(const std::string& reason);
  ReadResult take_unread();
  // Why the relay ended, when it says more than end_ (most ends need no message).
  std::unique_ptr<Error> end_error_;
  const Error& end_error() const;
  // What only a running relay uses, about 1 KB: made when the client is read from (login,
  // or the first request after parking) and freed when it parks, so a parked client costs
  // the rest of this object only.
  struct RelayParts {
    RelayParts(const Socket::executor_type& ex, std::uint32_t max_packet_size)
        : reader(max_packet_size), reader_exit(ex), server_wake(ex), release_gate(ex) {}
    std::array<std::uint8_t, 256> client_landing;  // first bytes of each read (read_ready)
    // Where the relay's pending read of the client, and of its server, is built (Asio frees
    // each before running its handler; the handler keeps the session, and so these, alive).
    OpMemory client_read_op;
    OpMemory server_read_op;
    // Where client_reader waits for the client's requests, where the shim allows
    // (asio_readiness.h): then neither read above is used on the relay's path.
    readiness::ReadyWait client_ready;
    // A read serve_client() took, and what is left of it for client_reader to do.
    ClientChunk handoff;
    ChunkStep handoff_step = ChunkStep::None;
    // The same for serve_server() and server_reader.
    ServerChunk server_handoff;
    ChunkStep server_step = ChunkStep::None;
    protocol::FrameReader reader;  // whole client messages: login and the admin console
    protocol::MessageScanner from_client;
    protocol::MessageScanner from_server{protocol::Checks::kBackend};
    Bytes unread;   // sent by the client during login after its last login message; relayed first
    Bytes pending;  // a request kept while the client waits for a server
    Bytes to_server_spill;                 // bytes the server could not take yet
    Bytes to_client_spill;                 // bytes the client could not take yet
    Timer reader_exit;                     // cancelled when the server reader stops
    Signal server_wake;                    // the server reader has work (or must stop)
    Timer release_gate;                    // cancelled when a release finishes
    std::shared_ptr<Waiter> spare_waiter;  // kept between waits for a server (acquire())
    std::string last_parse;                // the text of the last Parse scanned, and its hints
    unsigned last_parse_hints = 0;         // (scan_parse_sql)
  };
  // Parse texts longer than this are scanned every time rather than remembered.
  static constexpr std::size_t kRememberedParseMax = 4096;
  unsigned scan_parse_sql(std::string_view text);
  // mutable: const questions (is the stream at a boundary?) may be asked of a parked client,
  // which makes the parts again.
  mutable std::unique_ptr<RelayParts> relay_parts_;
  RelayParts& rp() const {
    if (relay_parts_) [[likely]]
      return *relay_parts_;
    return make_relay_parts();
  }
  RelayParts& make_relay_parts() const;

  // Read by the timeout sweeper from another thread.
  std::atomic<TimePoint::rep> phase_since_{0};
  std::atomic<TimePoint::rep> tx_since_{0};

  CancelTarget held_target_;  // pid == 0 (or target == nullptr): none
};

// Both directions of the relay (client_relay.cc, server_relay.cc) call these on every
// transaction: defined here so that each inlines them.
inline void ClientSession::set_phase(Phase phase, TimePoint now) {
  phase_.store(phase, std::memory_order_relaxed);
  phase_since_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

// The target's shared_ptr stays after a release (pid 0: nothing held), so that lending the
// next server of the same pool, every transaction, copies no reference count.
inline void ClientSession::hold(ServerConn* server) {
  std::lock_guard lock(cancel_lock_);
  if (server == nullptr) {
    held_target_.pid = 0;
    held_target_.secret = 0;
    return;
  }
  if (held_target_.target != server->target()) held_target_.target = server->target();
  held_target_.pid = server->backend_pid();
  held_target_.secret = server->backend_secret();
}

}  // namespace reservoir::proxy

#pragma once
// One connection from Reservoir to PostgreSQL: opening it, logging in, and the facts kept
// about it (BackendKeyData for cancels, the ParameterStatus values it reported).
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "auth/userlist.h"
#include "common/clock.h"
#include "pool/prepared.h"
#include "protocol/startup.h"
#include "proxy/asio_readiness.h"
#include "proxy/net.h"
#include "proxy/startup_params.h"

namespace reservoir::proxy {

// ParameterStatus values a server reported at login, in name order.
using ServerParams = std::vector<std::pair<std::string, std::string>>;

// Where and as whom to log in. Built by the pool registry from the [databases] entry and the
// auth_file; immutable once built (a new one is made when a client's SCRAM login supplies a
// ClientKey the pool did not have).
struct ServerTarget {
  std::string host;  // empty or "/dir": unix socket; otherwise a host name or address
  int port = 5432;
  std::string dbname;
  std::string user;
  std::string password;                           // plain text, when known
  std::string md5_hash;                           // "md5..." when only that is known
  std::optional<auth::ScramSecret> scram_secret;  // with scram_client_key: SCRAM pass-through
  Bytes scram_client_key;
  protocol::StartupParams extra_params;  // application_name etc. from the entry
  Duration connect_timeout = std::chrono::seconds(15);
  Duration dns_max_ttl = std::chrono::seconds(15);  // see lookup_host()
  Duration dns_nxdomain_ttl = std::chrono::seconds(15);
  TcpOptions tcp;  // keepalive settings for the server socket
  // Bumped when a reload changes how servers are reached; servers of an older generation
  // are closed when they come back to the pool.
  std::uint64_t generation = 0;

  // Same server, same login (everything but generation and the learned SCRAM key).
  bool same_login(const ServerTarget& other) const;

  // "host:port/dbname" for logs and errors.
  std::string describe() const;
};

class ServerConn {
 public:
  explicit ServerConn(Socket socket) : socket_(std::move(socket)) {}

  Socket& socket() { return socket_; }
  // First bytes of each relay read (see read_ready): small, and owned by the server so an
  // idle client holds none.
  std::span<std::uint8_t> landing() { return landing_; }
  // Where the relay's server reader waits for this server's replies (asio_readiness.h).
  readiness::ReadyWait& ready() { return ready_; }
  std::int32_t backend_pid() const { return pid_; }
  std::int32_t backend_secret() const { return secret_; }
  const std::shared_ptr<const ServerTarget>& target() const { return target_; }
  std::uint64_t id() const { return id_; }

  // ParameterStatus values as last reported by the server. Callers that change them through
  // this reference call forget_synced().
  std::map<std::string, std::string, std::less<>>& params() { return params_; }
  ServerParams reported_params() const;
  // Settings Reservoir applied for the client now holding it (lower-case name -> value);
  // forgotten by note_reset() once the server is reset.
  const std::map<std::string, std::string, std::less<>>& applied() const { return applied_; }
  void note_applied(const std::string& name, const std::string& value) {
    applied_[name] = value;
    forget_synced();
  }
  void note_unapplied(const std::string& name) {
    applied_.erase(name);
    forget_synced();
  }
  void note_reset() {
    applied_.clear();
    forget_synced();
  }

  // The client settings this server was last brought in line with (sync_parameters), while
  // nothing has changed its settings since: a client wanting exactly these needs no check.
  const SettingList* synced_for() const { return synced_for_.get(); }
  void note_synced(SharedSettings wanted) { synced_for_ = std::move(wanted); }
  void forget_synced() { synced_for_.reset(); }

  // The named statements prepared on it for transaction-mode clients (see prepared_relay.h).
  pool::ServerStatements& statements() { return statements_; }

  // A cheap, non-blocking look at an idle server: false if PostgreSQL closed it or sent
  // something unasked (such as a FATAL before shutting down).
  bool looks_alive() const;

  // Moves the socket onto another worker's event loop; only while no operation is pending.
  void rebind(const Executor& executor);

  // Sends Terminate (best effort) and closes.
  void close();

  // Called once by the login sequence when the server is ready.
  void set_login_facts(std::int32_t pid, std::int32_t secret,
                       std::shared_ptr<const ServerTarget> target, std::uint64_t id) {
    pid_ = pid;
    secret_ = secret;
    target_ = std::move(target);
    id_ = id;
  }

 private:
  Socket socket_;
  int family_ = 0;  // the socket's address family, learnt at the first rebind()
  std::int32_t pid_ = 0;
  std::int32_t secret_ = 0;
  std::shared_ptr<const ServerTarget> target_;
  std::map<std::string, std::string, std::less<>> params_;
  std::map<std::string, std::string, std::less<>> applied_;
  SharedSettings synced_for_;  // null: not known to be in line with any client's
  pool::ServerStatements statements_;
  std::uint64_t id_ = 0;
  std::array<std::uint8_t, 1024> landing_;
  readiness::ReadyWait ready_{/*moves_between_loops=*/true};
};

using ServerPtr = std::unique_ptr<ServerConn>;

// Connects and logs in within target->connect_timeout. An error the server sent (bad
// password, unknown database) keeps its SQLSTATE and message; network failures are 08001.
Task<Result<ServerPtr>> open_server(Executor executor, std::shared_ptr<const ServerTarget> target);

// True for login errors that retrying will not cure (bad password, unknown database), so
// waiting clients are told at once; false for network trouble and transient refusals.
bool is_server_refusal(const Error& error);

// Opens a fresh connection to `target` and sends a CancelRequest for (pid, secret).
Task<void> send_cancel(Executor executor, std::shared_ptr<const ServerTarget> target,
                       std::int32_t pid, std::int32_t secret);

}  // namespace reservoir::proxy

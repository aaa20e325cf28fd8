#pragma once
// One client connection, from accept to close. The whole flow reads top to bottom in
// ClientSession::serve(): startup -> authenticate -> wait for a server -> relay -> release.
//
// Client states (see docs/architecture.md):
//   Startup       reading the startup packet (SSL/GSS requests answered 'N', cancels handled)
//   Auth          the authentication exchange with the client
//   Waiting       queued in its pool for a server
//   Active        relaying to its server
//   Closing       server being reset and released (or closed); client told why it ends
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/scram_secret_cache.h"
#include "auth/userlist.h"
#include "config/config.h"
#include "protocol/startup.h"
#include "proxy/client_auth.h"
#include "proxy/net.h"
#include "proxy/pool_registry.h"
#include "proxy/relay.h"
#include "proxy/sessions.h"

namespace reservoir::proxy {

// What a session needs from the process; owned by the App, outlives every session.
struct Services {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const auth::CredentialStore> credentials;
  auth::ScramSecretCache* scram_cache = nullptr;
  PoolRegistry* pools = nullptr;
  SessionRegistry* sessions = nullptr;
};

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Socket socket, Services services);

  // Serves the client until it leaves; logs one line at connect and one at disconnect.
  Task<void> run();

  // Asks the session to end with 57P01 (Reservoir shutting down). Any thread.
  void shut_down();

  // The server this client holds right now, for a CancelRequest. Any thread.
  struct CancelTarget {
    std::shared_ptr<const ServerTarget> target;
    std::int32_t pid;
    std::int32_t secret;
  };
  std::optional<CancelTarget> cancel_target();

 private:
  Task<std::string> serve();
  Task<void> login_watchdog();  // returns the reason the session ended, for the log
  Task<Result<protocol::StartupMessage>> read_startup();
  Task<Result<ClientAuthOutcome>> login();
  Task<void> handle_cancel(const protocol::CancelRequest& request);
  Task<Status> sync_parameters(ServerConn& server);
  Task<bool> send_welcome(ServerConn& server);
  Task<std::string> finish(PoolState& ps, Lease lease, const RelayOutcome& outcome);
  Task<void> send_fatal(const Error& error);
  void hold(ServerConn* server);

  Socket client_;
  Services services_;
  const config::Settings& settings_;
  protocol::FrameReader reader_;
  protocol::StartupMessage startup_;
  BackendKey key_{};
  std::string peer_;
  std::string database_;
  std::string user_;
  asio::steady_timer shutdown_signal_;
  asio::steady_timer login_timer_;
  bool logged_in_ = false;
  std::atomic<bool> shutting_down_{false};

  std::mutex cancel_mu_;  // guards held_ against CancelRequests from other threads
  std::optional<CancelTarget> held_;
};

}  // namespace reservoir::proxy

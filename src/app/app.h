#pragma once
// The process: owns the configuration snapshot, the pools, the worker threads and the
// listeners. No globals: everything a session needs is handed to it through Services.
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "auth/scram_secret_cache.h"
#include "auth/userlist.h"
#include "config/config.h"
#include "http/server.h"
#include "observability/watch.h"
#include "proxy/busy_poll.h"
#include "proxy/client_session.h"
#include "proxy/pool_registry.h"
#include "proxy/sessions.h"

namespace reservoir::app {

namespace asio = boost::asio;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol, proxy::Executor>;

inline constexpr const char* kVersion = "0.1.0";

class App : public http::Source, public proxy::AdminBackend {
 public:
  App(std::shared_ptr<const config::Config> config,
      std::shared_ptr<const auth::CredentialStore> credentials);

  // Binds the listeners; an error (address in use, bad address) says which and why.
  Status listen();

  // Serves until SIGTERM or SIGINT, then shuts down cleanly. Returns the exit code.
  int run();

  // http::Source: snapshots for the HTTP endpoint (and the admin console); any thread.
  std::vector<observability::PoolReport> pools() override;
  observability::ProcessReport process() override;
  std::vector<http::ProbeTarget> databases() override;
  std::vector<observability::ClientReport> clients() override;

  // proxy::AdminBackend (admin.cc): the admin console's snapshot and commands.
  admin::Snapshot admin_snapshot() override;
  proxy::Task<Status> admin_run(const admin::Command& command, proxy::Executor ex) override;

 private:
  // `busy_poll = auto`: samples the machine every upkeep tick (100 ms) and switches the workers'
  // polling (proxy/busy_poll.h). Inert with a fixed window.
  class BusyPollWatch {
   public:
    BusyPollWatch(const config::Config& config, std::size_t workers);
    void sample(TimePoint now);

   private:
    proxy::BusyPollGovernor governor_;
    std::optional<proxy::CpuSample> last_;  // none: the watch is off (not auto, or no /proc)
    TimePoint last_time_{};
  };

  proxy::Task<void> accept_loop(Acceptor& acceptor);
  proxy::Task<void> maintenance_loop();
  proxy::Task<void> signal_loop();
  proxy::Task<void> shut_down();
  void reload();
  proxy::Services services();
  // The same, shared by every session accepted under one config snapshot: a session keeps
  // a pointer to it rather than its own copy.
  std::shared_ptr<const proxy::Services> session_services();
  Status listen_tcp(const std::string& address, int port);
  Status listen_unix(const std::string& path);
  Status share_listeners();
  Status set_setting(const std::string& key, const std::string& value);
  proxy::Task<void> shut_down_when_clients_leave();
  void watch_pools(TimePoint now);  // watch.cc: stats lines, warnings, leaks
  void watch_leaks(TimePoint now, Duration limit);

  std::mutex config_mu_;  // guards the two snapshots below, swapped by reload()
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const auth::CredentialStore> credentials_;
  std::shared_ptr<const proxy::Services> session_services_;  // for config_ and credentials_
  auth::ScramSecretCache scram_cache_;
  proxy::PoolRegistry pools_;
  proxy::SessionRegistry sessions_;
  // One event loop per worker thread; index 0 also runs listeners, signals and upkeep.
  std::vector<std::unique_ptr<asio::io_context>> loops_;
  // Each loop's parked clients (proxy/parking_lot.h); destroyed before the loops.
  std::vector<std::unique_ptr<proxy::ParkingLot>> lots_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::string unix_socket_path_;
  bool stopping_ = false;
  TimePoint started_ = SteadyClock::now();
  http::Server http_{*this};
  // Upkeep-thread state of watch_pools().
  observability::EpisodeWatch watch_;
  TimePoint last_stats_ = SteadyClock::now();
  std::map<std::pair<std::string, std::string>, observability::PoolCounters> stats_before_;
  std::map<std::int32_t, TimePoint> leak_warned_;  // client id -> the transaction warned about
};

}  // namespace reservoir::app

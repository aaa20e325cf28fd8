// The App's side of the admin console: snapshots for SHOW and the commands that act on
// pools, clients, the configuration and the process.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <map>

#include "app/app.h"
#include "config/settings_table.h"
#include "config/validate.h"

namespace reservoir::app {

namespace {

using proxy::nothrow;
using proxy::Task;

std::string client_state(proxy::Phase phase, bool admin) {
  if (admin) return "active";
  switch (phase) {
    case proxy::Phase::Login:
      return "login";
    case proxy::Phase::Waiting:
      return "waiting";
    case proxy::Phase::Busy:
    case proxy::Phase::Held:
      return "active";
    case proxy::Phase::IdleInTx:
      return "idle_in_transaction";
    case proxy::Phase::Idle:
      break;
  }
  return "idle";
}

// The phase as /api/clients shows it: "running" is a request a server is working on.
std::string phase_name(proxy::Phase phase) {
  switch (phase) {
    case proxy::Phase::Login:
      return "login";
    case proxy::Phase::Idle:
      return "idle";
    case proxy::Phase::Waiting:
      return "waiting";
    case proxy::Phase::Busy:
      return "running";
    case proxy::Phase::IdleInTx:
      return "idle_in_transaction";
    case proxy::Phase::Held:
      return "held";
  }
  return "unknown";
}

// "1.2.3.4:5678" -> ("1.2.3.4", 5678); a unix socket path stays whole with port 0.
std::pair<std::string, int> split_peer(const std::string& peer) {
  const auto colon = peer.rfind(':');
  if (colon == std::string::npos || peer.empty() || peer[0] == '/') return {peer, 0};
  try {
    return {peer.substr(0, colon), std::stoi(peer.substr(colon + 1))};
  } catch (...) {
    return {peer, 0};
  }
}

// Settings a running process cannot apply (they are read once at start).
bool needs_restart(const std::string& key) {
  static const char* kFixed[] = {
      "listen_addr",  "listen_port",      "unix_socket_dir", "unix_socket_mode", "workers",
      "http_listen",  "logfile",          "pidfile",         "log_format",       "auth_file",
      "so_reuseport", "tcp_defer_accept", "busy_poll"};
  for (const char* k : kFixed) {
    if (key == k) return true;
  }
  return false;
}

}  // namespace

std::vector<observability::ClientReport> App::clients() {
  std::vector<observability::ClientReport> out;
  const TimePoint now = SteadyClock::now();
  for (const auto& session : sessions_.all()) {
    observability::ClientReport c;
    c.id = session->key().pid;
    c.user = session->user();
    c.database = session->database();
    c.addr = session->peer();
    c.application_name = session->application_name();
    const bool admin = proxy::is_admin_database(c.database);
    c.state = admin ? "admin" : phase_name(session->phase());
    const TimePoint since = session->phase_started() == TimePoint{} ? session->connected_at()
                                                                    : session->phase_started();
    c.state_s = std::chrono::duration<double>(now - since).count();
    c.transaction_s = std::chrono::duration<double>(session->transaction_age(now)).count();
    out.push_back(std::move(c));
  }
  return out;
}

admin::Snapshot App::admin_snapshot() {
  admin::Snapshot s;
  s.process = process();
  s.pools = pools();
  s.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  s.paused = pools_.paused_all();
  const auto cfg = services().config;
  const TimePoint now = SteadyClock::now();
  const auto steady_to_unix = [&](TimePoint t) {
    return s.now_unix - std::chrono::duration_cast<std::chrono::seconds>(now - t).count();
  };
  std::map<std::string, int> clients_per_db, clients_per_user;
  for (const auto& session : sessions_.all()) {
    admin::ClientInfo c;
    c.id = session->key().pid;
    c.user = session->user();
    c.database = session->database();
    c.admin = proxy::is_admin_database(c.database);
    const proxy::Phase phase = session->phase();
    c.state = client_state(phase, c.admin);
    auto [addr, port] = split_peer(session->peer());
    c.addr = addr;
    c.port = port;
    c.connect_time_unix = steady_to_unix(session->connected_at());
    c.application_name = session->application_name();
    c.transaction_s = std::chrono::duration<double>(session->transaction_age(now)).count();
    if (phase == proxy::Phase::Waiting) {
      c.wait_s = std::chrono::duration<double>(now - session->phase_started()).count();
    }
    ++clients_per_db[c.database];
    ++clients_per_user[c.user];
    if (auto held = session->cancel_target(); held && held->target) {
      s.servers.push_back(admin::ServerInfo{0, c.user, c.database, "active", held->target->host,
                                            held->target->port, held->pid, c.id});
    }
    s.clients.push_back(std::move(c));
  }
  for (const auto& idle : pools_.idle_servers()) {
    s.servers.push_back(admin::ServerInfo{static_cast<std::int64_t>(idle.id), idle.user,
                                          idle.database, "idle", idle.host, idle.port,
                                          idle.backend_pid, 0});
  }
  std::map<std::string, int> servers_per_db, servers_per_user;
  for (const auto& p : s.pools) {
    const int n = p.gauges.servers_active + p.gauges.servers_idle + p.gauges.servers_connecting;
    servers_per_db[p.database] += n;
    servers_per_user[p.user] += n;
  }
  const auto& st = cfg->settings;
  for (const auto& d : cfg->databases) {
    admin::DatabaseInfo info;
    info.name = d.name;
    info.host = d.host;
    info.port = d.port;
    info.dbname = d.dbname.empty() ? d.name : d.dbname;
    info.force_user = d.user;
    info.pool_size = d.pool_size.value_or(st.default_pool_size);
    info.min_pool_size = d.min_pool_size.value_or(st.min_pool_size);
    info.reserve_pool = d.reserve_pool_size.value_or(st.reserve_pool_size);
    info.server_lifetime = st.server_lifetime.count();
    info.pool_mode = config::to_string(d.pool_mode.value_or(st.pool_mode));
    info.max_connections = d.max_db_connections.value_or(st.max_db_connections);
    info.current_connections = servers_per_db[d.name];
    info.current_client_connections = clients_per_db[d.name];
    info.disabled = pools_.disabled(d.name);
    for (const auto& p : s.pools) {
      if (p.database == d.name && p.gauges.paused) info.paused = true;
    }
    s.databases.push_back(std::move(info));
  }
  std::map<std::string, admin::UserInfo> users;
  for (const auto& u : cfg->users) {
    auto& info = users[u.name];
    info.name = u.name;
    info.pool_mode = u.pool_mode ? config::to_string(*u.pool_mode) : "";
    info.pool_size = u.pool_size.value_or(0);
    info.max_user_connections = u.max_user_connections.value_or(st.max_user_connections);
  }
  for (const auto& p : s.pools) {
    auto& info = users[p.user];
    if (info.name.empty()) {
      info.name = p.user;
      info.max_user_connections = st.max_user_connections;
    }
  }
  for (auto& [name, info] : users) {
    info.current_connections = servers_per_user[name];
    info.current_client_connections = clients_per_user[name];
    s.users.push_back(info);
  }
  const config::Settings defaults;
  for (const auto& spec : config::setting_specs()) {
    s.config.push_back(
        admin::ConfigInfo{spec.key, spec.get(st), spec.get(defaults), !needs_restart(spec.key)});
  }
  return s;
}

// SET key = value: a new configuration snapshot with the one setting changed, applied like a
// reload (pools resize, timings change at once).
Status App::set_setting(const std::string& key, const std::string& value) {
  const config::SettingSpec* spec = config::find_setting(key);
  if (spec == nullptr) return make_error("42704", fmt::format("unknown setting \"{}\"", key));
  if (needs_restart(key)) {
    return make_error("55000", fmt::format("\"{}\" cannot be changed without a restart", key));
  }
  std::shared_ptr<config::Config> next;
  std::shared_ptr<const auth::CredentialStore> credentials;
  {
    std::lock_guard lock(config_mu_);
    next = std::make_shared<config::Config>(*config_);
    credentials = credentials_;
  }
  if (auto st = spec->set(next->settings, value); !st) {
    return make_error("22023",
                      fmt::format("invalid value for \"{}\": {}", key, st.error().message));
  }
  if (auto st = config::validate(*next); !st) return make_error("22023", st.error().message);
  for (auto& source : next->sources) {
    if (source.key == key) {
      source.value = spec->get(next->settings);
      source.origin = "SET";
    }
  }
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
  }
  pools_.reload(next, credentials, loops_[0]->get_executor());
  spdlog::info("admin console: {} set to {}", key, spec->get(next->settings));
  return Ok{};
}

Task<void> App::shut_down_when_clients_leave() {
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);  // no new clients (the accept loops end)
  }
  proxy::Timer timer(*loops_[0]);
  for (;;) {
    int clients = 0;
    for (const auto& session : sessions_.all()) {
      if (!proxy::is_admin_database(session->database())) ++clients;
    }
    if (clients == 0) break;
    timer.expires_after(std::chrono::milliseconds(50));
    (void)co_await timer.async_wait(nothrow);
  }
  co_await shut_down();
}

Task<Status> App::admin_run(const admin::Command& c, proxy::Executor ex) {
  using admin::Verb;
  switch (c.verb) {
    case Verb::Show:
      co_return Ok{};
    case Verb::Pause: {
      // Like PgBouncer: new requests wait; the command returns once no server is in use,
      // and the idle servers are closed.
      if (auto st = pools_.pause(c.target); !st) co_return st;
      proxy::Timer timer(ex);
      while (!pools_.drained(c.target)) {
        timer.expires_after(std::chrono::milliseconds(20));
        (void)co_await timer.async_wait(nothrow);
      }
      pools_.close_idle(c.target);
      co_return Ok{};
    }
    case Verb::Resume:
      co_return pools_.resume(c.target);
    case Verb::Reload:
      reload();
      co_return Ok{};
    case Verb::Kill: {
      if (auto st = pools_.pause(c.target); !st) co_return st;
      for (const auto& session : sessions_.all()) {
        if (session->pool_state() != nullptr && session->database() == c.target) {
          session->shut_down();
        }
      }
      pools_.close_idle(c.target);
      co_return Ok{};
    }
    case Verb::KillClient: {
      const auto id = std::stoll(c.target);
      for (const auto& session : sessions_.all()) {
        if (session->key().pid == id) {
          session->shut_down();
          co_return Ok{};
        }
      }
      co_return make_error("42704", fmt::format("no client with id {} (see SHOW CLIENTS)", id));
    }
    case Verb::Reconnect:
      co_return pools_.reconnect(c.target);
    case Verb::Disable:
      co_return pools_.disable(c.target);
    case Verb::Enable:
      co_return pools_.enable(c.target);
    case Verb::Shutdown:
      if (c.wait_for_clients) {
        asio::co_spawn(*loops_[0], shut_down_when_clients_leave(), asio::detached);
      } else {
        // Let the console's CommandComplete go out first.
        auto timer = std::make_shared<proxy::Timer>(*loops_[0], std::chrono::milliseconds(50));
        timer->async_wait([this, timer](const boost::system::error_code&) {
          asio::co_spawn(*loops_[0], shut_down(), asio::detached);
        });
      }
      co_return Ok{};
    case Verb::Set:
      co_return set_setting(c.target, c.value);
  }
  co_return make_error("0A000", "unsupported admin command");
}

}  // namespace reservoir::app

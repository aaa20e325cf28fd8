#pragma once
// The immutable configuration snapshot. Plain structs, built by load_config() from a
// pgbouncer.ini-compatible file plus RESERVOIR_* environment overrides. Whoever needs
// settings is handed a `std::shared_ptr<const Config>`; nothing mutates it after loading.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace reservoir::config {

using Seconds = std::chrono::duration<double>;
using Millis = std::chrono::milliseconds;

enum class PoolMode { Session, Transaction, Statement };
enum class AuthType { ScramSha256, Md5, Plain, Trust };
enum class LogFormat { Text, Json };

// One line of [databases]: `name = host=... port=... dbname=... user=... password=...`.
// `name` may be "*": the fallback used for any database not listed.
struct DatabaseEntry {
  std::string name;
  std::string host = "";  // empty or starting with '/' means a unix socket directory
  int port = 5432;
  std::string dbname;    // empty: same as `name` (for "*": the client's database name)
  std::string user;      // empty: the client's user name
  std::string password;  // empty: look the user up in auth_file
  std::optional<int> pool_size;
  std::optional<int> min_pool_size;
  std::optional<int> reserve_pool_size;
  std::optional<int> max_db_connections;
  std::optional<PoolMode> pool_mode;
  std::string application_name;
  std::string client_encoding;
  std::string datestyle;
  std::string timezone;
  std::string connect_query;
  std::string auth_user;  // accepted and kept for PgBouncer compatibility; not used yet
  std::string origin;     // "file:LINE" of the line that defined it
};

// One line of [users]: `name = pool_mode=... pool_size=... max_user_connections=...`.
struct UserEntry {
  std::string name;
  std::optional<PoolMode> pool_mode;
  std::optional<int> pool_size;
  std::optional<int> max_user_connections;
  std::optional<int> reserve_pool_size;
  std::string origin;  // "file:LINE" of the line that defined it
};

// The `busy_poll` setting: a fixed window, or `auto`.
struct BusyPoll {
  static constexpr Seconds kAutoWindow{50e-6};
  bool automatic = true;
  Seconds window = kAutoWindow;
};

// Every setting of the main section ([reservoir] or [pgbouncer]), with its default.
// Names match PgBouncer's. Durations in the file are seconds (fractions allowed).
struct Settings {
  // Listening
  std::string listen_addr = "127.0.0.1";  // "*" means all addresses; comma-separated list
  int listen_port = 6432;
  std::string unix_socket_dir = "/tmp";  // empty: no unix socket
  int unix_socket_mode = 0777;
  int workers = 0;  // 0: number of cores
  // How long a worker out of work polls epoll for the next event before it sleeps (proxy/net.cc):
  // trades CPU for the latency of wake-ups. `auto` (the default) polls 50 us, and only while
  // the machine has CPU to spare (proxy/busy_poll.h); 0 sleeps at once.
  BusyPoll busy_poll;

  // Authentication
  AuthType auth_type = AuthType::ScramSha256;
  std::string auth_file;
  std::vector<std::string> admin_users;
  std::vector<std::string> stats_users;

  // Pools
  PoolMode pool_mode = PoolMode::Session;
  int default_pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  Seconds reserve_pool_timeout{5.0};
  int max_client_conn = 100;
  int max_db_connections = 0;    // 0: unlimited
  int max_user_connections = 0;  // 0: unlimited
  int max_waiting_clients = 0;   // 0: unlimited
  std::vector<std::string> ignore_startup_parameters;

  // Server connections
  std::string server_reset_query = "DISCARD ALL";
  bool server_reset_query_always = false;
  // Transaction and statement mode: named prepared statements per server (least recently used
  // closed beyond this); 0 turns the support off and passes Parse/Bind through untouched.
  int max_prepared_statements = 200;
  // Transaction and statement mode: a client using LISTEN, session advisory locks, temporary
  // tables, WITH HOLD cursors or SQL PREPARE keeps its server until it undoes them (on), or
  // gets an error for them (off).
  bool transaction_mode_pinning = true;
  std::string server_check_query = "";  // empty: an empty query
  Seconds server_check_delay{30.0};
  Seconds server_connect_timeout{15.0};
  Seconds server_login_retry{15.0};
  Seconds dns_max_ttl{15.0};       // how long a server host name's addresses are kept; 0: never
  Seconds dns_nxdomain_ttl{15.0};  // how long a failed lookup is kept; 0: never
  Seconds server_lifetime{3600.0};
  Seconds server_idle_timeout{600.0};

  // Client timeouts (0: disabled)
  Seconds client_login_timeout{60.0};
  Seconds client_idle_timeout{0.0};
  Seconds query_timeout{0.0};
  Seconds query_wait_timeout{120.0};
  Seconds query_wait_notify{5.0};
  Seconds idle_transaction_timeout{0.0};
  Seconds transaction_timeout{0.0};

  // Limits and low-level network
  std::uint32_t max_packet_size = 2147483647u;
  int pkt_buf = 4096;
  bool tcp_keepalive = true;
  int tcp_keepidle = 0;  // 0: OS default
  int tcp_keepintvl = 0;
  int tcp_keepcnt = 0;
  int tcp_user_timeout = 0;      // milliseconds
  bool tcp_defer_accept = true;  // TCP_DEFER_ACCEPT on TCP listeners (Linux)
  bool so_reuseport = false;     // let other processes share the TCP port (SO_REUSEPORT)

  // Observability
  std::string logfile;
  std::string pidfile;
  int verbose = 0;
  LogFormat log_format = LogFormat::Text;
  bool log_connections = true;     // a line per client login (as PgBouncer)
  bool log_disconnections = true;  // a line per client disconnect, with its reason
  Seconds stats_period{60.0};
  std::string http_listen = "127.0.0.1:6490";  // empty: no HTTP endpoint
  int warn_pool_utilization = 80;     // percent of pool_size in use that starts a warning; 0: off
  Seconds leak_warn_time{60.0};       // one transaction holding a server longer: warn; 0: off
  Seconds slow_query_threshold{0.0};  // log statements slower than this; 0: off
};

// Where a setting's effective value came from; printed by `reservoir --check`.
struct SettingSource {
  std::string key;
  std::string value;   // effective value as text
  std::string origin;  // "default", "file:LINE" (e.g. "/etc/r.ini:12"), or "env RESERVOIR_KEY"
};

struct Config {
  Settings settings;
  std::vector<DatabaseEntry> databases;  // in file order; may include "*"
  std::vector<UserEntry> users;
  std::vector<SettingSource> sources;  // one per main-section setting, sorted by key
  std::vector<std::string> warnings;   // e.g. "file.ini:7: unknown setting 'foo'"
  std::string path;                    // the file it was loaded from

  // The entry for a database name, falling back to "*"; nullptr if neither exists.
  const DatabaseEntry* find_database(const std::string& name) const;
  const UserEntry* find_user(const std::string& name) const;
};

using Environment = std::map<std::string, std::string>;

// Reads `path` (following %include), applies RESERVOIR_<KEY> overrides from `env`, validates.
// Errors carry "file:line: reason" in their message. Never throws.
Result<std::shared_ptr<const Config>> load_config(const std::string& path, const Environment& env);

// Same, from text already in memory (`name` is used in messages); %include paths are
// resolved relative to the directory of `name`.
Result<std::shared_ptr<const Config>> parse_config(const std::string& text, const std::string& name,
                                                   const Environment& env);

// The current process environment as an Environment (only RESERVOIR_* variables).
// Every RESERVOIR_<KEY> whose key names a main-section setting overrides it; the names in
// kReservedEnvironment belong to the launcher and are skipped; any other RESERVOIR_* name
// produces a warning.
Environment process_environment();

inline constexpr const char* kReservedEnvironment[] = {"RESERVOIR_BIN", "RESERVOIR_CONFIG"};

// The spelling used in configuration files: "session", "scram-sha-256", "json", ...
std::string to_string(PoolMode mode);
std::string to_string(AuthType type);
std::string to_string(LogFormat format);

}  // namespace reservoir::config

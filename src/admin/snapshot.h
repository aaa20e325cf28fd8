#pragma once
// What the admin console shows, gathered by the proxy into plain values (no pointers into
// live objects), and the pure functions that turn it into PgBouncer-compatible result sets
// (PgBouncer's column names first, Reservoir's extra columns at the end).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "admin/command.h"
#include "admin/result_set.h"
#include "observability/report.h"

namespace reservoir::admin {

struct ClientInfo {
  std::int64_t id = 0;  // the client's BackendKeyData pid: KILL_CLIENT takes it
  std::string user;
  std::string database;
  std::string state;  // login | idle | waiting | active | idle_in_transaction
  std::string addr;
  int port = 0;
  std::int64_t connect_time_unix = 0;
  std::string application_name;
  double wait_s = 0.0;         // in the queue now (waiting only)
  double transaction_s = 0.0;  // inside the current transaction
  bool admin = false;          // a console client
};

struct ServerInfo {
  std::int64_t id = 0;  // Reservoir's server id
  std::string user;
  std::string database;
  std::string state;  // active | idle
  std::string addr;
  int port = 0;
  int backend_pid = 0;
  std::int64_t client_id = 0;  // the client holding it (active), else 0
};

struct DatabaseInfo {
  std::string name;
  std::string host;
  int port = 0;
  std::string dbname;
  std::string force_user;
  int pool_size = 0;
  int min_pool_size = 0;
  int reserve_pool = 0;
  double server_lifetime = 0;
  std::string pool_mode;
  int max_connections = 0;
  int current_connections = 0;
  int current_client_connections = 0;
  bool paused = false;
  bool disabled = false;
};

struct UserInfo {
  std::string name;
  std::string pool_mode;  // empty: default
  int pool_size = 0;      // 0: default
  int max_user_connections = 0;
  int current_connections = 0;
  int current_client_connections = 0;
};

struct ConfigInfo {
  std::string key;
  std::string value;
  std::string default_value;
  bool changeable = true;
};

struct Snapshot {
  observability::ProcessReport process;
  std::int64_t now_unix = 0;
  std::vector<observability::PoolReport> pools;
  std::vector<ClientInfo> clients;
  std::vector<ServerInfo> servers;
  std::vector<DatabaseInfo> databases;
  std::vector<UserInfo> users;
  std::vector<ConfigInfo> config;
  bool paused = false;  // PAUSE without a database
};

// The rows of SHOW <what>.
ResultSet show(ShowWhat what, const Snapshot& snapshot);

}  // namespace reservoir::admin

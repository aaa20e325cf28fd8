#pragma once
// What the readers of metrics see: plain snapshots of every pool and of the process, and
// the pure renderers that turn them into Prometheus text and JSON. Tested without any
// server (tests/unit/observability).
#include <cstdint>
#include <string>
#include <vector>

#include "observability/metrics.h"

namespace reservoir::observability {

// The state of one pool at the moment of the snapshot (taken under the registry lock).
struct PoolGauges {
  std::string mode;  // session | transaction | statement
  int pool_size = 0;
  int reserve_pool_size = 0;
  int servers_active = 0;
  int servers_idle = 0;
  int servers_connecting = 0;
  int clients_waiting = 0;
  int clients = 0;              // logged-in clients of this pool
  int reserve_in_use = 0;       // servers beyond pool_size
  int peak_in_use = 0;          // most servers lent at once since start
  double longest_wait_s = 0.0;  // of the client at the head of the queue
  int long_transactions = 0;    // clients in one transaction longer than leak_warn_time
  bool paused = false;
  std::string last_connect_error;  // empty once a login works
};

struct PoolReport {
  std::string database;
  std::string user;
  PoolGauges gauges;
  PoolCounters counters;
};

struct ProcessReport {
  std::string version;
  double uptime_s = 0.0;
  int clients = 0;  // every logged-in or logging-in client
  int workers = 0;
  bool busy_polling = false;       // workers poll before they sleep now (busy_poll)
  double busy_poll_seconds = 0.0;  // time all workers have spent polling
};

// One client, for /api/clients and `reservoir top`.
struct ClientReport {
  std::int64_t id = 0;
  std::string user;
  std::string database;
  std::string addr;
  std::string application_name;
  std::string state;     // login | idle | waiting | running | idle_in_transaction | held | admin
  double state_s = 0.0;  // time in that state (for active: the running request)
  double transaction_s = 0.0;  // inside the current transaction
};

// {"clients": [...]}: every client, in no particular order.
std::string render_clients_json(const std::vector<ClientReport>& clients);

// Prometheus text exposition format 0.0.4: names prefixed reservoir_, pools labelled by
// database and user, counters suffixed _total, histograms as _bucket/_sum/_count.
std::string render_prometheus(const std::vector<PoolReport>& pools, const ProcessReport& process);

// {"process": {...}, "pools": [{...}]}: per pool size, idle, active, waiting, reserve in use,
// peak, longest wait, wait-time p50/p95/p99, timeouts and the counters.
std::string render_json(const std::vector<PoolReport>& pools, const ProcessReport& process);

// JSON string literal (with quotes) for `text`.
std::string json_string(std::string_view text);

}  // namespace reservoir::observability

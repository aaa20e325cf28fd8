#include <fmt/format.h>

#include "observability/report.h"

namespace reservoir::observability {

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

namespace {

std::string seconds(double v) { return fmt::format("{:.6f}", v); }

void pool_json(std::string& out, const PoolReport& p) {
  const auto& g = p.gauges;
  const auto& c = p.counters;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\"database\":{},\"user\":{},\"mode\":{},", json_string(p.database),
                 json_string(p.user), json_string(g.mode));
  fmt::format_to(it,
                 "\"size\":{},\"reserve_size\":{},\"active\":{},\"idle\":{},\"connecting\":{},"
                 "\"waiting\":{},\"clients\":{},\"reserve_in_use\":{},\"peak_in_use\":{},"
                 "\"longest_wait_s\":{},\"long_transactions\":{},\"paused\":{},",
                 g.pool_size, g.reserve_pool_size, g.servers_active, g.servers_idle,
                 g.servers_connecting, g.clients_waiting, g.clients, g.reserve_in_use,
                 g.peak_in_use, seconds(g.longest_wait_s), g.long_transactions,
                 g.paused ? "true" : "false");
  fmt::format_to(it,
                 "\"wait_p50_s\":{},\"wait_p95_s\":{},\"wait_p99_s\":{},\"query_p95_s\":{},"
                 "\"transaction_p95_s\":{},",
                 seconds(c.wait_time.quantile(0.50)), seconds(c.wait_time.quantile(0.95)),
                 seconds(c.wait_time.quantile(0.99)), seconds(c.query_time.quantile(0.95)),
                 seconds(c.transaction_time.quantile(0.95)));
  fmt::format_to(it,
                 "\"timeouts\":{},\"transactions\":{},\"queries\":{},\"bytes_received\":{},"
                 "\"bytes_sent\":{},\"client_connections\":{},\"server_connections\":{},"
                 "\"server_connect_failures\":{},\"last_connect_error\":{},\"errors\":{{",
                 c.wait_timeouts, c.transactions, c.queries, c.bytes_received, c.bytes_sent,
                 c.client_connections, c.server_connections, c.server_connect_failures,
                 json_string(g.last_connect_error));
  bool first = true;
  for (const auto& [cls, n] : c.errors_by_class) {
    fmt::format_to(it, "{}{}:{}", first ? "" : ",", json_string(cls), n);
    first = false;
  }
  out += "}}";
}

}  // namespace

std::string render_clients_json(const std::vector<ClientReport>& clients) {
  std::string out = "{\"clients\":[";
  auto it = std::back_inserter(out);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto& c = clients[i];
    fmt::format_to(it,
                   "{}{{\"id\":{},\"user\":{},\"database\":{},\"addr\":{},"
                   "\"application_name\":{},\"state\":{},\"state_s\":{},\"transaction_s\":{}}}",
                   i ? "," : "", c.id, json_string(c.user), json_string(c.database),
                   json_string(c.addr), json_string(c.application_name), json_string(c.state),
                   seconds(c.state_s), seconds(c.transaction_s));
  }
  out += "]}";
  return out;
}

std::string render_json(const std::vector<PoolReport>& pools, const ProcessReport& process) {
  std::string out;
  fmt::format_to(std::back_inserter(out),
                 "{{\"process\":{{\"version\":{},\"uptime_s\":{},\"clients\":{},\"workers\":{},"
                 "\"busy_polling\":{},\"busy_poll_s\":{}}},\"pools\":[",
                 json_string(process.version), seconds(process.uptime_s), process.clients,
                 process.workers, process.busy_polling, seconds(process.busy_poll_seconds));
  for (std::size_t i = 0; i < pools.size(); ++i) {
    if (i > 0) out += ',';
    pool_json(out, pools[i]);
  }
  out += "]}";
  return out;
}

}  // namespace reservoir::observability

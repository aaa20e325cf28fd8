#include <fmt/format.h>

#include <functional>

#include "observability/report.h"

namespace reservoir::observability {

namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string pool_labels(const PoolReport& p) {
  return fmt::format("database=\"{}\",user=\"{}\"", escape_label(p.database), escape_label(p.user));
}

// Formats a double the way Prometheus reads it back exactly.
std::string number(double v) { return fmt::format("{}", v); }

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// One metric family with one sample per pool.
template <class Get>
void per_pool(std::string& out, const std::vector<PoolReport>& pools, std::string_view name,
              std::string_view type, std::string_view help, Get get) {
  header(out, name, type, help);
  for (const auto& p : pools) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, pool_labels(p), get(p));
  }
}

void histogram(std::string& out, const std::vector<PoolReport>& pools, std::string_view name,
               std::string_view help,
               const std::function<const HistogramSnapshot&(const PoolReport&)>& get) {
  header(out, name, "histogram", help);
  for (const auto& p : pools) {
    const HistogramSnapshot& h = get(p);
    const std::string labels = pool_labels(p);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBucketBoundsUs.size(); ++i) {
      cumulative += h.counts[i];
      fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                     number(static_cast<double>(kBucketBoundsUs[i]) / 1e6), cumulative);
    }
    cumulative += h.counts[kBuckets - 1];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels,
                   cumulative);
    fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels,
                   number(h.sum_seconds()));
    fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
  }
}

}  // namespace

std::string render_prometheus(const std::vector<PoolReport>& pools, const ProcessReport& process) {
  std::string out;
  out.reserve(4096 + pools.size() * 8192);
  header(out, "reservoir_up", "gauge", "1 while Reservoir serves.");
  out += "reservoir_up 1\n";
  header(out, "reservoir_info", "gauge", "Build information.");
  fmt::format_to(std::back_inserter(out), "reservoir_info{{version=\"{}\"}} 1\n",
                 escape_label(process.version));
  header(out, "reservoir_uptime_seconds", "gauge", "Seconds since Reservoir started.");
  fmt::format_to(std::back_inserter(out), "reservoir_uptime_seconds {}\n",
                 number(process.uptime_s));
  header(out, "reservoir_clients", "gauge", "Client connections open now, all pools.");
  fmt::format_to(std::back_inserter(out), "reservoir_clients {}\n", process.clients);
  header(out, "reservoir_busy_poll_active", "gauge",
         "1 while workers poll before they sleep (busy_poll; auto polls while CPU is spare).");
  fmt::format_to(std::back_inserter(out), "reservoir_busy_poll_active {}\n",
                 process.busy_polling ? 1 : 0);
  header(out, "reservoir_busy_poll_seconds_total", "counter",
         "Time the workers have spent polling before they sleep (busy_poll), all workers.");
  fmt::format_to(std::back_inserter(out), "reservoir_busy_poll_seconds_total {}\n",
                 number(process.busy_poll_seconds));

  using P = const PoolReport&;
  per_pool(out, pools, "reservoir_transactions_total", "counter",
           "Transactions completed (ReadyForQuery idle after a request).",
           [](P p) { return p.counters.transactions; });
  per_pool(out, pools, "reservoir_queries_total", "counter",
           "Requests answered by a server (one per ReadyForQuery).",
           [](P p) { return p.counters.queries; });
  per_pool(out, pools, "reservoir_bytes_received_total", "counter",
           "Bytes received from clients and forwarded to servers.",
           [](P p) { return p.counters.bytes_received; });
  per_pool(out, pools, "reservoir_bytes_sent_total", "counter",
           "Bytes received from servers and forwarded to clients.",
           [](P p) { return p.counters.bytes_sent; });
  per_pool(out, pools, "reservoir_client_connections_total", "counter", "Client logins accepted.",
           [](P p) { return p.counters.client_connections; });
  per_pool(out, pools, "reservoir_server_connections_total", "counter",
           "Server connections opened (logged in).",
           [](P p) { return p.counters.server_connections; });
  per_pool(out, pools, "reservoir_wait_timeouts_total", "counter",
           "Clients that gave up waiting for a server (query_wait_timeout).",
           [](P p) { return p.counters.wait_timeouts; });
  per_pool(out, pools, "reservoir_server_connect_failures_total", "counter",
           "Server connections that failed to open or log in.",
           [](P p) { return p.counters.server_connect_failures; });

  header(out, "reservoir_errors_total", "counter",
         "ErrorResponses from servers, by SQLSTATE class (first two characters).");
  for (const auto& p : pools) {
    for (const auto& [cls, n] : p.counters.errors_by_class) {
      fmt::format_to(std::back_inserter(out), "reservoir_errors_total{{{},class=\"{}\"}} {}\n",
                     pool_labels(p), escape_label(cls), n);
    }
  }

  header(out, "reservoir_pool_servers", "gauge", "Server connections by state.");
  for (const auto& p : pools) {
    const std::string labels = pool_labels(p);
    const auto& g = p.gauges;
    fmt::format_to(std::back_inserter(out),
                   "reservoir_pool_servers{{{},state=\"active\"}} {}\n"
                   "reservoir_pool_servers{{{},state=\"idle\"}} {}\n"
                   "reservoir_pool_servers{{{},state=\"connecting\"}} {}\n",
                   labels, g.servers_active, labels, g.servers_idle, labels, g.servers_connecting);
  }
  per_pool(out, pools, "reservoir_pool_size", "gauge", "Configured pool_size.",
           [](P p) { return p.gauges.pool_size; });
  per_pool(out, pools, "reservoir_pool_utilization_ratio", "gauge",
           "Servers in use divided by pool_size.", [](P p) {
             return number(p.gauges.pool_size > 0
                               ? static_cast<double>(p.gauges.servers_active) / p.gauges.pool_size
                               : 0.0);
           });
  per_pool(out, pools, "reservoir_pool_clients", "gauge", "Logged-in clients of the pool.",
           [](P p) { return p.gauges.clients; });
  per_pool(out, pools, "reservoir_pool_clients_waiting", "gauge", "Clients queued for a server.",
           [](P p) { return p.gauges.clients_waiting; });
  per_pool(out, pools, "reservoir_pool_reserve_in_use", "gauge",
           "Servers open beyond pool_size (the reserve).",
           [](P p) { return p.gauges.reserve_in_use; });
  per_pool(out, pools, "reservoir_pool_peak_in_use", "gauge",
           "Most servers lent at once since start.", [](P p) { return p.gauges.peak_in_use; });
  per_pool(out, pools, "reservoir_pool_longest_wait_seconds", "gauge",
           "How long the client at the head of the queue has waited.",
           [](P p) { return number(p.gauges.longest_wait_s); });
  per_pool(out, pools, "reservoir_pool_long_transactions", "gauge",
           "Clients inside one transaction for longer than leak_warn_time (possible leaks).",
           [](P p) { return p.gauges.long_transactions; });
  per_pool(out, pools, "reservoir_pool_paused", "gauge", "1 while the pool is paused.",
           [](P p) { return p.gauges.paused ? 1 : 0; });

  histogram(out, pools, "reservoir_wait_seconds",
            "Time clients waited for a server (zero when one was idle).",
            [](P p) -> const HistogramSnapshot& { return p.counters.wait_time; });
  histogram(out, pools, "reservoir_transaction_duration_seconds",
            "Time from a transaction's first request to ReadyForQuery idle.",
            [](P p) -> const HistogramSnapshot& { return p.counters.transaction_time; });
  histogram(out, pools, "reservoir_query_duration_seconds",
            "Time from a request to its ReadyForQuery.",
            [](P p) -> const HistogramSnapshot& { return p.counters.query_time; });
  return out;
}

}  // namespace reservoir::observability

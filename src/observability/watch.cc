#include "observability/watch.h"

#include <fmt/format.h>

namespace reservoir::observability {

namespace {

double per_second(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

// Average in milliseconds of the observations made during the period.
double avg_ms(const HistogramSnapshot& now, const HistogramSnapshot& before) {
  const std::uint64_t n = now.count() - before.count();
  if (n == 0 || now.sum_us < before.sum_us) return 0.0;
  return static_cast<double>(now.sum_us - before.sum_us) / static_cast<double>(n) / 1000.0;
}

std::string rate_bytes(double bytes_per_s) {
  if (bytes_per_s >= 1024.0 * 1024.0) return fmt::format("{:.1f} MiB/s", bytes_per_s / 1048576.0);
  if (bytes_per_s >= 1024.0) return fmt::format("{:.1f} KiB/s", bytes_per_s / 1024.0);
  return fmt::format("{:.0f} B/s", bytes_per_s);
}

}  // namespace

std::string stats_line(const PoolReport& p, const PoolCounters& before, double seconds) {
  const auto& c = p.counters;
  const auto& g = p.gauges;
  return fmt::format(
      "stats: pool {}/{}: {:.1f} xact/s, {:.1f} queries/s, in {}, out {}, xact avg {:.2f} ms, "
      "query avg {:.2f} ms, wait avg {:.2f} ms, servers {} active {} idle, clients {}, {} "
      "waiting, {} wait timeouts",
      p.database, p.user, per_second(c.transactions, before.transactions, seconds),
      per_second(c.queries, before.queries, seconds),
      rate_bytes(per_second(c.bytes_received, before.bytes_received, seconds)),
      rate_bytes(per_second(c.bytes_sent, before.bytes_sent, seconds)),
      avg_ms(c.transaction_time, before.transaction_time), avg_ms(c.query_time, before.query_time),
      avg_ms(c.wait_time, before.wait_time), g.servers_active, g.servers_idle, g.clients,
      g.clients_waiting, c.wait_timeouts - std::min(c.wait_timeouts, before.wait_timeouts));
}

std::vector<EpisodeWatch::Event> EpisodeWatch::update(const std::vector<PoolReport>& pools,
                                                      int warn_utilization, TimePoint now) {
  std::vector<Event> events;
  for (const auto& p : pools) {
    auto& e = pools_[{p.database, p.user}];
    const auto& g = p.gauges;
    const std::string name = p.database + "/" + p.user;
    // Utilization: servers lent to clients, as a share of pool_size.
    const int used = g.servers_active;
    const bool saturated =
        warn_utilization > 0 && g.pool_size > 0 && used * 100 >= warn_utilization * g.pool_size;
    if (saturated && !e.saturated.open) {
      e.saturated = Episode{true, now, used};
      events.push_back(
          {true, fmt::format("pool {}: {} of {} servers in use ({}%), at or above "
                             "warn_pool_utilization={}%",
                             name, used, g.pool_size, used * 100 / g.pool_size, warn_utilization)});
    } else if (saturated) {
      e.saturated.peak = std::max(e.saturated.peak, used);
    } else if (e.saturated.open) {
      e.saturated.open = false;
      events.push_back(
          {false, fmt::format("pool {}: utilization back below warn_pool_utilization={}% ({} of "
                              "{} in use) after {:.1f} s, peak {} in use",
                              name, warn_utilization, used, g.pool_size,
                              std::chrono::duration<double>(now - e.saturated.since).count(),
                              e.saturated.peak)});
    }
    const int waiting = g.clients_waiting;
    if (waiting > 0 && !e.waiting.open) {
      e.waiting = Episode{true, now, waiting};
      events.push_back({true, fmt::format("pool {}: clients are waiting for a server ({} "
                                          "waiting, longest {:.1f} s; pool_size={}, {} in use)",
                                          name, waiting, g.longest_wait_s, g.pool_size, used)});
    } else if (waiting > 0) {
      e.waiting.peak = std::max(e.waiting.peak, waiting);
    } else if (e.waiting.open) {
      e.waiting.open = false;
      events.push_back(
          {false, fmt::format("pool {}: no client waiting any more after {:.1f} s (peak {} "
                              "waiting)",
                              name, std::chrono::duration<double>(now - e.waiting.since).count(),
                              e.waiting.peak)});
    }
  }
  return events;
}

}  // namespace reservoir::observability

// Periodic log lines, run by the upkeep tick: per-pool stats every stats_period, warnings
// when a pool is saturated or clients wait (once per episode, plus a line when it ends), and
// a warning naming the client that has held a server inside one transaction longer than
// leak_warn_time (once per transaction).
#include <spdlog/spdlog.h>

#include "app/app.h"

namespace reservoir::app {

void App::watch_pools(TimePoint now) {
  const auto cfg = services().config;
  const auto& s = cfg->settings;
  const auto reports = pools();
  for (const auto& event : watch_.update(reports, s.warn_pool_utilization, now)) {
    spdlog::log(event.warning ? spdlog::level::warn : spdlog::level::info, "{}", event.message);
  }
  const Duration period = proxy::to_duration(s.stats_period);
  if (period > Duration::zero() && now - last_stats_ >= period) {
    const double seconds = std::chrono::duration<double>(now - last_stats_).count();
    for (const auto& p : reports) {
      auto& before = stats_before_[{p.database, p.user}];
      spdlog::info("{}", observability::stats_line(p, before, seconds));
      before = p.counters;
    }
    last_stats_ = now;
  }
  watch_leaks(now, proxy::to_duration(s.leak_warn_time));
}

void App::watch_leaks(TimePoint now, Duration limit) {
  std::map<std::int32_t, TimePoint> still_open;
  if (limit <= Duration::zero()) {
    leak_warned_.clear();
    return;
  }
  for (const auto& session : sessions_.all()) {
    const TimePoint began = session->transaction_started();
    if (began == TimePoint{} || session->pool_state() == nullptr) continue;
    const std::int32_t id = session->key().pid;
    if (now - began <= limit) continue;
    still_open[id] = began;
    auto it = leak_warned_.find(id);
    if (it != leak_warned_.end() && it->second == began) continue;  // warned for this one
    spdlog::warn(
        "possible connection leak: client {} (application_name={}, user={}, database={}, id {}) "
        "has held a server inside one transaction for {:.1f} s (leak_warn_time={:.0f} s)",
        session->peer(), session->application_name(), session->user(), session->database(), id,
        std::chrono::duration<double>(now - began).count(),
        std::chrono::duration<double>(limit).count());
  }
  leak_warned_ = std::move(still_open);
}

}  // namespace reservoir::app

#pragma once
// Pure logic behind the periodic log lines: the per-pool stats line and the warning
// "episodes" (a pool above warn_pool_utilization, clients waiting), each reported once when
// it starts and once when it ends, not once per client or per tick. Time is a parameter.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "observability/report.h"

namespace reservoir::observability {

// "pool app/alice: 12.0 xact/s, 30.0 queries/s, in 1.2 KiB/s, out 3.4 KiB/s, xact avg 1.20 ms,
// query avg 0.40 ms, wait avg 0.00 ms, servers 2 active 3 idle, clients 5, 0 waiting" from the
// counters at the start and end of a period of `seconds`.
std::string stats_line(const PoolReport& now, const PoolCounters& before, double seconds);

class EpisodeWatch {
 public:
  struct Event {
    bool warning = true;  // true: an episode starts (warn); false: it ended (info)
    std::string message;
  };

  // Looks at every pool once per tick; returns the lines to log. `warn_utilization` is a
  // percentage of pool_size (0 disables that warning).
  std::vector<Event> update(const std::vector<PoolReport>& pools, int warn_utilization,
                            TimePoint now);

 private:
  struct Episode {
    bool open = false;
    TimePoint since{};
    int peak = 0;
  };
  struct PoolEpisodes {
    Episode saturated;
    Episode waiting;
  };
  std::map<std::pair<std::string, std::string>, PoolEpisodes> pools_;
};

}  // namespace reservoir::observability

#include "observability/metrics.h"

namespace reservoir::observability {

void ErrorClassCounts::add(std::string_view sqlstate) {
  if (sqlstate.size() < 2) {
    overflow_.add();
    return;
  }
  const std::uint32_t key =
      (static_cast<std::uint8_t>(sqlstate[0]) << 8) | static_cast<std::uint8_t>(sqlstate[1]);
  std::size_t slot = key % kSlots;
  for (std::size_t probe = 0; probe < kSlots; ++probe, slot = (slot + 1) % kSlots) {
    const std::uint32_t here = keys_[slot].load(std::memory_order_relaxed);
    if (here == key) {
      counts_[slot].add();
      return;
    }
    if (here == 0) {
      counts_[slot].add();
      keys_[slot].store(key, std::memory_order_release);  // readers see the count first
      return;
    }
  }
  overflow_.add();
}

void ErrorClassCounts::add_to(std::map<std::string, std::uint64_t>& out) const {
  for (std::size_t i = 0; i < kSlots; ++i) {
    const std::uint32_t key = keys_[i].load(std::memory_order_acquire);
    if (key == 0) continue;
    const std::string cls{static_cast<char>(key >> 8), static_cast<char>(key & 0xff)};
    out[cls] += counts_[i].value();
  }
  if (overflow_.value() > 0) out["??"] += overflow_.value();
}

void PoolMetricsCell::add_to(PoolCounters& out) const {
  out.transactions += transactions.value();
  out.queries += queries.value();
  out.bytes_received += bytes_received.value();
  out.bytes_sent += bytes_sent.value();
  out.client_connections += client_connections.value();
  out.server_connections += server_connections.value();
  out.wait_timeouts += wait_timeouts.value();
  out.server_connect_failures += server_connect_failures.value();
  errors.add_to(out.errors_by_class);
  wait_time.add_to(out.wait_time);
  transaction_time.add_to(out.transaction_time);
  query_time.add_to(out.query_time);
}

PoolMetrics::PoolMetrics(int workers) {
  for (int i = 0; i < (workers > 0 ? workers : 1); ++i) {
    cells_.push_back(std::make_unique<PoolMetricsCell>());
  }
}

PoolCounters PoolMetrics::snapshot() const {
  PoolCounters out;
  for (const auto& cell : cells_) cell->add_to(out);
  return out;
}

}  // namespace reservoir::observability

#pragma once
// The metrics of one (database, user) pool, declared once.
//
// PoolMetricsCell: what one worker thread counts for one pool (single writer, see Counter).
// PoolMetrics: one cell per worker; each thread writes only cells[its worker index], so the
// relay never shares a cache line with another thread, takes no lock and issues no atomic
// read-modify-write. Readers (HTTP, admin console, stats log) merge all cells into a
// PoolCounters value with snapshot().
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "observability/histogram.h"

namespace reservoir::observability {

// Counts of ErrorResponses by SQLSTATE class (first two characters of the code), single
// writer. A fixed open-addressed table: no allocation when an error is counted.
class ErrorClassCounts {
 public:
  void add(std::string_view sqlstate);
  void add_to(std::map<std::string, std::uint64_t>& out) const;

 private:
  static constexpr std::size_t kSlots = 64;  // classes are 2 chars of [0-9A-Z]: few in practice
  std::array<std::atomic<std::uint32_t>, kSlots> keys_{};  // 0: empty, else c0 << 8 | c1
  std::array<Counter, kSlots> counts_;
  Counter overflow_;
};

// Merged, plain values of one pool's counters and histograms.
struct PoolCounters {
  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;
  std::uint64_t bytes_received = 0;  // from clients
  std::uint64_t bytes_sent = 0;      // to clients
  std::uint64_t client_connections = 0;
  std::uint64_t server_connections = 0;
  std::uint64_t wait_timeouts = 0;
  std::uint64_t server_connect_failures = 0;
  std::map<std::string, std::uint64_t> errors_by_class;  // "42" -> n
  HistogramSnapshot wait_time;
  HistogramSnapshot transaction_time;
  HistogramSnapshot query_time;
};

struct PoolMetricsCell {
  Counter transactions;
  Counter queries;
  Counter bytes_received;
  Counter bytes_sent;
  Counter client_connections;
  Counter server_connections;
  Counter wait_timeouts;
  Counter server_connect_failures;
  ErrorClassCounts errors;
  HistogramCell wait_time;
  HistogramCell transaction_time;
  HistogramCell query_time;

  void add_to(PoolCounters& out) const;
};

class PoolMetrics {
 public:
  explicit PoolMetrics(int workers);
  // The cell of worker `index` (out-of-range indexes share the last cell's owner rule: the
  // caller must be that worker).
  PoolMetricsCell& cell(int index) {
    return *cells_[static_cast<std::size_t>(index) < cells_.size() ? index : 0];
  }
  PoolCounters snapshot() const;

 private:
  // Separate allocations, so cells of different workers never share a cache line.
  std::vector<std::unique_ptr<PoolMetricsCell>> cells_;
};

}  // namespace reservoir::observability

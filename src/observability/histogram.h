#pragma once
// Latency histograms with fixed, log-spaced buckets (1-2.5-5 steps from 100 us to 60 s).
//
// HistogramCell is written by exactly one thread (the worker that owns it) and read by any:
// its fields are relaxed atomics updated with a plain load + store, never a read-modify-write,
// so recording costs the same as incrementing a plain integer (no lock, no locked instruction).
// Readers take a HistogramSnapshot (plain integers), merge snapshots of all workers and ask
// for quantiles; that part is pure and unit-tested.
#include <array>
#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace reservoir::observability {

// Upper bounds of the finite buckets, in microseconds; a last bucket holds everything above.
inline constexpr std::array<std::uint64_t, 18> kBucketBoundsUs = {
    100,     250,     500,     1'000,     2'500,     5'000,     10'000,     25'000,     50'000,
    100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000};
inline constexpr std::size_t kBuckets = kBucketBoundsUs.size() + 1;  // + the overflow bucket

// Index of the bucket holding `micros`.
// A linear scan from the smallest bound: most relay timings fall in the first few buckets,
// where it takes one to three comparisons (a binary search always takes five). Inline: the
// relay observes three timings per transaction.
inline std::size_t bucket_of(std::uint64_t micros) {
  std::size_t i = 0;
  while (i < kBucketBoundsUs.size() && micros > kBucketBoundsUs[i]) ++i;
  return i;
}

// A single-writer counter: add() is a relaxed load and store (no atomic RMW), so only the
// owning thread may call it; value() may be called from any thread.
class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Plain, mergeable copy of a histogram.
struct HistogramSnapshot {
  std::array<std::uint64_t, kBuckets> counts{};  // per bucket, not cumulative
  std::uint64_t sum_us = 0;

  std::uint64_t count() const;
  void merge(const HistogramSnapshot& other);
  // The q-quantile (0..1) in seconds, interpolated linearly inside its bucket; 0 when empty.
  // A quantile in the overflow bucket is reported as the last finite bound.
  double quantile(double q) const;
  double sum_seconds() const { return static_cast<double>(sum_us) / 1e6; }
};

// One thread's histogram (see the single-writer rule above).
class HistogramCell {
 public:
  void observe(Duration d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    observe_us(us > 0 ? static_cast<std::uint64_t>(us) : 0);
  }
  void observe_us(std::uint64_t micros) {
    counts_[bucket_of(micros)].add();
    sum_us_.add(micros);
  }
  void add_to(HistogramSnapshot& out) const;

 private:
  std::array<Counter, kBuckets> counts_;
  Counter sum_us_;
};

}  // namespace reservoir::observability

#include "observability/histogram.h"

#include <algorithm>

namespace reservoir::observability {

std::uint64_t HistogramSnapshot::count() const {
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  return total;
}

void HistogramSnapshot::merge(const HistogramSnapshot& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts[i] += other.counts[i];
  sum_us += other.sum_us;
}

double HistogramSnapshot::quantile(double q) const {
  const std::uint64_t total = count();
  if (total == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    const std::uint64_t here = counts[i];
    if (here == 0) continue;
    if (static_cast<double>(below + here) >= rank) {
      if (i == kBuckets - 1) return static_cast<double>(kBucketBoundsUs.back()) / 1e6;
      const double lo = i == 0 ? 0.0 : static_cast<double>(kBucketBoundsUs[i - 1]);
      const double hi = static_cast<double>(kBucketBoundsUs[i]);
      const double share = (rank - static_cast<double>(below)) / static_cast<double>(here);
      return (lo + (hi - lo) * std::clamp(share, 0.0, 1.0)) / 1e6;
    }
    below += here;
  }
  return static_cast<double>(kBucketBoundsUs.back()) / 1e6;
}

void HistogramCell::add_to(HistogramSnapshot& out) const {
  for (std::size_t i = 0; i < kBuckets; ++i) out.counts[i] += counts_[i].value();
  out.sum_us += sum_us_.value();
}

}  // namespace reservoir::observability

#include "observability/histogram.h"

#include <gtest/gtest.h>

namespace reservoir::observability {
namespace {

TEST(Histogram, BucketOfUsesUpperBoundsInclusive) {
  EXPECT_EQ(bucket_of(0), 0u);
  EXPECT_EQ(bucket_of(100), 0u);
  EXPECT_EQ(bucket_of(101), 1u);
  EXPECT_EQ(bucket_of(60'000'000), kBucketBoundsUs.size() - 1);
  EXPECT_EQ(bucket_of(60'000'001), kBuckets - 1);
}

TEST(Histogram, EmptyQuantileIsZero) {
  HistogramSnapshot h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0.0);
}

TEST(Histogram, QuantilesInterpolateInsideBuckets) {
  HistogramCell cell;
  // 100 observations spread evenly over (1 ms, 2.5 ms]: all in one bucket.
  for (int i = 0; i < 100; ++i) cell.observe_us(1'001 + i * 14);
  HistogramSnapshot h;
  cell.add_to(h);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_NEAR(h.quantile(0.5), 0.00175, 1e-6);
  EXPECT_NEAR(h.quantile(0.99), 0.001 + 0.0015 * 0.99, 1e-6);
  EXPECT_NEAR(h.quantile(1.0), 0.0025, 1e-9);
}

TEST(Histogram, QuantilePicksTheRightBucket) {
  HistogramCell cell;
  for (int i = 0; i < 90; ++i) cell.observe(std::chrono::microseconds(50));   // bucket <=100us
  for (int i = 0; i < 10; ++i) cell.observe(std::chrono::milliseconds(400));  // <=500ms
  HistogramSnapshot h;
  cell.add_to(h);
  EXPECT_LE(h.quantile(0.5), 0.0001);
  EXPECT_GT(h.quantile(0.95), 0.25);
  EXPECT_LE(h.quantile(0.95), 0.5);
  EXPECT_NEAR(h.sum_seconds(), 90 * 50e-6 + 10 * 0.4, 1e-9);
}

TEST(Histogram, OverflowReportsLastBound) {
  HistogramCell cell;
  cell.observe(std::chrono::seconds(120));
  HistogramSnapshot h;
  cell.add_to(h);
  EXPECT_EQ(h.counts[kBuckets - 1], 1u);
  EXPECT_EQ(h.quantile(0.5), 60.0);
}

TEST(Histogram, MergeAddsCountsAndSums) {
  HistogramCell a, b;
  a.observe_us(10);
  b.observe_us(3'000);
  b.observe_us(3'000);
  HistogramSnapshot s;
  a.add_to(s);
  b.add_to(s);
  HistogramSnapshot t;
  t.merge(s);
  EXPECT_EQ(t.count(), 3u);
  EXPECT_EQ(t.sum_us, 6'010u);
}

TEST(Histogram, NegativeDurationCountsAsZero) {
  HistogramCell cell;
  cell.observe(std::chrono::microseconds(-5));
  HistogramSnapshot h;
  cell.add_to(h);
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.sum_us, 0u);
}

}  // namespace
}  // namespace reservoir::observability

#include "observability/watch.h"

#include <gtest/gtest.h>

namespace reservoir::observability {
namespace {

PoolReport pool(int active, int waiting, int size = 10) {
  PoolReport p;
  p.database = "app";
  p.user = "alice";
  p.gauges.pool_size = size;
  p.gauges.servers_active = active;
  p.gauges.clients_waiting = waiting;
  return p;
}

TEST(EpisodeWatch, SaturationWarnsOncePerEpisodeAndSaysWhenItEnds) {
  EpisodeWatch w;
  ManualClock clock;
  EXPECT_TRUE(w.update({pool(7, 0)}, 80, clock.now()).empty());
  auto e = w.update({pool(8, 0)}, 80, clock.now());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].warning);
  EXPECT_NE(e[0].message.find("8 of 10 servers in use (80%)"), std::string::npos) << e[0].message;
  clock.advance(std::chrono::seconds(1));
  EXPECT_TRUE(w.update({pool(10, 0)}, 80, clock.now()).empty());
  EXPECT_TRUE(w.update({pool(9, 0)}, 80, clock.now()).empty());
  clock.advance(std::chrono::seconds(2));
  e = w.update({pool(3, 0)}, 80, clock.now());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_FALSE(e[0].warning);
  EXPECT_NE(e[0].message.find("after 3.0 s, peak 10 in use"), std::string::npos) << e[0].message;
  // A new episode warns again.
  EXPECT_EQ(w.update({pool(9, 0)}, 80, clock.now()).size(), 1u);
}

TEST(EpisodeWatch, WaitingClientsAreOneEpisode) {
  EpisodeWatch w;
  ManualClock clock;
  auto e = w.update({pool(10, 1)}, 0, clock.now());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("clients are waiting"), std::string::npos);
  EXPECT_TRUE(w.update({pool(10, 5)}, 0, clock.now()).empty());
  e = w.update({pool(10, 0)}, 0, clock.now());
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("peak 5 waiting"), std::string::npos) << e[0].message;
}

TEST(EpisodeWatch, ZeroThresholdOrSizeDisablesSaturation) {
  EpisodeWatch w;
  EXPECT_TRUE(w.update({pool(10, 0)}, 0, TimePoint{}).empty());
  EXPECT_TRUE(w.update({pool(0, 0, 0)}, 80, TimePoint{}).empty());
}

TEST(StatsLine, RatesAndAveragesOverThePeriod) {
  PoolReport now = pool(2, 0);
  now.gauges.servers_idle = 3;
  now.counters.transactions = 130;
  now.counters.queries = 400;
  now.counters.bytes_received = 2048 + 10 * 1024;
  now.counters.transaction_time.counts[3] = 10;
  now.counters.transaction_time.sum_us = 20'000;
  PoolCounters before;
  before.transactions = 10;
  before.queries = 100;
  before.bytes_received = 2048;
  const std::string line = stats_line(now, before, 10.0);
  EXPECT_NE(line.find("pool app/alice: 12.0 xact/s, 30.0 queries/s, in 1.0 KiB/s"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("xact avg 2.00 ms"), std::string::npos) << line;
  EXPECT_NE(line.find("servers 2 active 3 idle"), std::string::npos) << line;
}

}  // namespace
}  // namespace reservoir::observability

#include <gtest/gtest.h>

#include <sstream>

#include "observability/metrics.h"
#include "observability/report.h"

namespace reservoir::observability {
namespace {

PoolReport sample_pool() {
  PoolMetrics metrics(2);
  metrics.cell(0).transactions.add(3);
  metrics.cell(1).transactions.add(4);
  metrics.cell(0).queries.add(10);
  metrics.cell(1).errors.add("42P01");
  metrics.cell(1).errors.add("42601");
  metrics.cell(0).errors.add("23505");
  metrics.cell(0).wait_time.observe_us(50);
  metrics.cell(1).wait_time.observe_us(2'000'000);
  PoolReport p;
  p.database = "app";
  p.user = "we\"ird";
  p.gauges.mode = "transaction";
  p.gauges.pool_size = 4;
  p.gauges.servers_active = 3;
  p.gauges.servers_idle = 1;
  p.gauges.clients_waiting = 2;
  p.counters = metrics.snapshot();
  return p;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

TEST(PoolMetrics, SnapshotMergesWorkers) {
  const PoolReport p = sample_pool();
  EXPECT_EQ(p.counters.transactions, 7u);
  EXPECT_EQ(p.counters.queries, 10u);
  EXPECT_EQ(p.counters.errors_by_class.at("42"), 2u);
  EXPECT_EQ(p.counters.errors_by_class.at("23"), 1u);
  EXPECT_EQ(p.counters.wait_time.count(), 2u);
}

TEST(ErrorClassCounts, ShortCodeGoesToOverflow) {
  ErrorClassCounts e;
  e.add("4");
  std::map<std::string, std::uint64_t> out;
  e.add_to(out);
  EXPECT_EQ(out.at("??"), 1u);
}

TEST(ErrorClassCounts, ManyClassesFitOrOverflow) {
  ErrorClassCounts e;
  const std::string chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (char a : chars) {
    for (char b : chars) e.add(std::string{a, b, '0', '0', '0'});
  }
  std::map<std::string, std::uint64_t> out;
  e.add_to(out);
  std::uint64_t total = 0;
  for (const auto& [k, v] : out) total += v;
  EXPECT_EQ(total, chars.size() * chars.size());
}

TEST(Prometheus, CountersHaveHelpTypeAndLabels) {
  const std::string text = render_prometheus({sample_pool()}, ProcessReport{"0.1.0", 5, 1, 2});
  EXPECT_TRUE(has_line(text, "# TYPE reservoir_transactions_total counter")) << text;
  EXPECT_TRUE(has_line(text,
                       "# HELP reservoir_transactions_total Transactions completed "
                       "(ReadyForQuery idle after a request)."));
  EXPECT_TRUE(has_line(text, "reservoir_transactions_total{database=\"app\",user=\"we\\\"ird\"} 7"))
      << text;
  EXPECT_TRUE(
      has_line(text, "reservoir_errors_total{database=\"app\",user=\"we\\\"ird\",class=\"42\"} 2"));
  EXPECT_TRUE(has_line(
      text, "reservoir_pool_servers{database=\"app\",user=\"we\\\"ird\",state=\"active\"} 3"));
  EXPECT_TRUE(
      has_line(text, "reservoir_pool_utilization_ratio{database=\"app\",user=\"we\\\"ird\"} 0.75"));
  EXPECT_TRUE(has_line(text, "reservoir_up 1"));
}

TEST(Prometheus, HistogramBucketsAreCumulative) {
  const std::string text = render_prometheus({sample_pool()}, ProcessReport{});
  const std::string l = "database=\"app\",user=\"we\\\"ird\"";
  EXPECT_TRUE(has_line(text, "# TYPE reservoir_wait_seconds histogram"));
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_bucket{" + l + ",le=\"0.0001\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_bucket{" + l + ",le=\"1\"} 1"));
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_bucket{" + l + ",le=\"2.5\"} 2"));
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_bucket{" + l + ",le=\"+Inf\"} 2"));
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_count{" + l + "} 2"));
  EXPECT_TRUE(has_line(text, "reservoir_wait_seconds_sum{" + l + "} 2.00005"));
}

TEST(Prometheus, EveryFamilyDeclaredOnce) {
  const std::string text = render_prometheus({sample_pool(), sample_pool()}, ProcessReport{});
  std::istringstream in(text);
  std::map<std::string, int> types;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("# TYPE ", 0) == 0) ++types[l.substr(7, l.find(' ', 7) - 7)];
  }
  for (const auto& [name, n] : types) EXPECT_EQ(n, 1) << name;
  EXPECT_GT(types.size(), 15u);
}

TEST(Json, PoolsCarryGaugesQuantilesAndErrors) {
  const std::string text = render_json({sample_pool()}, ProcessReport{"0.1.0", 1.5, 3, 2});
  EXPECT_NE(text.find("\"user\":\"we\\\"ird\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"size\":4,"), std::string::npos);
  EXPECT_NE(text.find("\"waiting\":2,"), std::string::npos);
  EXPECT_NE(text.find("\"wait_p50_s\":0.000100"), std::string::npos) << text;
  EXPECT_NE(text.find("\"errors\":{\"23\":1,\"42\":2}"), std::string::npos) << text;
  EXPECT_NE(text.find("\"clients\":3"), std::string::npos);
  EXPECT_EQ(text.front(), '{');
  EXPECT_EQ(text.back(), '}');
}

TEST(Json, StringsAreEscaped) {
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace reservoir::observability

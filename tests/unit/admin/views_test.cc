#include <gtest/gtest.h>

#include "admin/snapshot.h"
#include "common/bytes.h"

namespace reservoir::admin {
namespace {

Snapshot sample() {
  Snapshot s;
  s.process.version = "0.1.0";
  s.process.uptime_s = 10;
  observability::PoolReport p;
  p.database = "app";
  p.user = "alice";
  p.gauges.mode = "transaction";
  p.gauges.pool_size = 5;
  p.gauges.servers_active = 2;
  p.gauges.servers_idle = 3;
  p.gauges.clients = 6;
  p.gauges.clients_waiting = 1;
  p.gauges.longest_wait_s = 1.5;
  p.counters.transactions = 100;
  p.counters.queries = 300;
  p.counters.bytes_received = 1000;
  p.counters.transaction_time.sum_us = 5000;
  p.counters.transaction_time.counts[0] = 100;
  s.pools.push_back(p);
  p.user = "bob";
  s.pools.push_back(p);
  ClientInfo c;
  c.id = 17;
  c.user = "alice";
  c.database = "app";
  c.state = "active";
  c.addr = "127.0.0.1";
  c.port = 5555;
  c.application_name = "psql";
  s.clients.push_back(c);
  return s;
}

std::string cell(const ResultSet& rs, std::size_t row, std::string_view column) {
  const int i = rs.column(column);
  EXPECT_GE(i, 0) << column;
  if (i < 0 || row >= rs.rows.size()) return "<missing>";
  return rs.rows[row][static_cast<std::size_t>(i)].value_or("<null>");
}

TEST(AdminViews, PoolsHavePgBouncerColumnsFirst) {
  const auto rs = show(ShowWhat::Pools, sample());
  const std::vector<std::string> first = {"database", "user", "cl_active", "cl_waiting"};
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(rs.columns[i].name, first[i]);
  ASSERT_EQ(rs.rows.size(), 2u);
  EXPECT_EQ(cell(rs, 0, "cl_active"), "5");
  EXPECT_EQ(cell(rs, 0, "cl_waiting"), "1");
  EXPECT_EQ(cell(rs, 0, "sv_active"), "2");
  EXPECT_EQ(cell(rs, 0, "sv_idle"), "3");
  EXPECT_EQ(cell(rs, 0, "maxwait"), "1");
  EXPECT_EQ(cell(rs, 0, "maxwait_us"), "500000");
  EXPECT_EQ(cell(rs, 0, "pool_mode"), "transaction");
  EXPECT_EQ(cell(rs, 0, "pool_size"), "5");
  EXPECT_EQ(rs.columns.back().name, "paused");
}

TEST(AdminViews, StatsAreSummedPerDatabase) {
  const auto rs = show(ShowWhat::Stats, sample());
  ASSERT_EQ(rs.rows.size(), 1u);
  EXPECT_EQ(cell(rs, 0, "database"), "app");
  EXPECT_EQ(cell(rs, 0, "total_xact_count"), "200");
  EXPECT_EQ(cell(rs, 0, "total_query_count"), "600");
  EXPECT_EQ(cell(rs, 0, "total_received"), "2000");
  EXPECT_EQ(cell(rs, 0, "avg_xact_count"), "20");  // per second over 10 s
  EXPECT_EQ(cell(rs, 0, "avg_xact_time"), "50");   // us per transaction
  const auto totals = show(ShowWhat::StatsTotals, sample());
  EXPECT_EQ(cell(totals, 0, "xact_count"), "200");
  EXPECT_EQ(cell(totals, 0, "bytes_received"), "2000");
  const auto averages = show(ShowWhat::StatsAverages, sample());
  EXPECT_EQ(cell(averages, 0, "query_count"), "60");
}

TEST(AdminViews, ClientsListIdAndApplicationName) {
  const auto rs = show(ShowWhat::Clients, sample());
  ASSERT_EQ(rs.rows.size(), 1u);
  EXPECT_EQ(cell(rs, 0, "type"), "C");
  EXPECT_EQ(cell(rs, 0, "id"), "17");
  EXPECT_EQ(cell(rs, 0, "application_name"), "psql");
  EXPECT_EQ(cell(rs, 0, "state"), "active");
}

TEST(AdminViews, VersionStateLists) {
  EXPECT_EQ(cell(show(ShowWhat::Version, sample()), 0, "version"), "Reservoir 0.1.0");
  auto s = sample();
  s.paused = true;
  EXPECT_EQ(cell(show(ShowWhat::State, s), 1, "value"), "yes");
  const auto lists = show(ShowWhat::Lists, sample());
  EXPECT_EQ(cell(lists, 2, "list"), "pools");
  EXPECT_EQ(cell(lists, 2, "items"), "2");
}

TEST(AdminWire, EncodesRowDescriptionDataRowsAndTag) {
  ResultSet rs;
  rs.columns = {{"a", ColumnType::Text}, {"b", ColumnType::Int8}};
  rs.rows = {{"x", std::nullopt}};
  Bytes out;
  encode_result(rs, "SHOW", out);
  ASSERT_GT(out.size(), 10u);
  EXPECT_EQ(out[0], 'T');
  const std::uint32_t t_len = load_be32(&out[1]);
  const std::size_t d = 1 + t_len;
  EXPECT_EQ(out[d], 'D');
  const std::uint32_t d_len = load_be32(&out[d + 1]);
  // 2 columns: "x" (len 1) and NULL (-1).
  EXPECT_EQ(d_len, 4u + 2 + 4 + 1 + 4);
  EXPECT_EQ(out[d + 1 + d_len], 'C');
}

}  // namespace
}  // namespace reservoir::admin

#include <fmt/format.h>

#include <ctime>
#include <map>

#include "admin/snapshot.h"

namespace reservoir::admin {

namespace {

using observability::PoolReport;
using Row = std::vector<std::optional<std::string>>;
constexpr auto T = ColumnType::Text;
constexpr auto I = ColumnType::Int8;
constexpr auto F = ColumnType::Float8;

std::string num(std::int64_t v) { return std::to_string(v); }
std::string num(std::uint64_t v) { return std::to_string(v); }
std::string num(int v) { return std::to_string(v); }
std::string real(double v) { return fmt::format("{:.6f}", v); }
std::uint64_t us(double seconds) { return static_cast<std::uint64_t>(seconds * 1e6); }

std::string timestamp(std::int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

ResultSet pools(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"database", T},
                {"user", T},
                {"cl_active", I},
                {"cl_waiting", I},
                {"cl_active_cancel_req", I},
                {"cl_waiting_cancel_req", I},
                {"sv_active", I},
                {"sv_active_cancel", I},
                {"sv_being_canceled", I},
                {"sv_idle", I},
                {"sv_used", I},
                {"sv_tested", I},
                {"sv_login", I},
                {"maxwait", I},
                {"maxwait_us", I},
                {"pool_mode", T},
                // Reservoir's own:
                {"pool_size", I},
                {"reserve_in_use", I},
                {"peak_in_use", I},
                {"wait_p50_us", I},
                {"wait_p95_us", I},
                {"wait_p99_us", I},
                {"wait_timeouts", I},
                {"paused", T}};
  for (const auto& p : s.pools) {
    const auto& g = p.gauges;
    const auto wait_us = us(g.longest_wait_s);
    const auto& w = p.counters.wait_time;
    rs.rows.push_back(Row{p.database,
                          p.user,
                          num(std::max(0, g.clients - g.clients_waiting)),
                          num(g.clients_waiting),
                          "0",
                          "0",
                          num(g.servers_active),
                          "0",
                          "0",
                          num(g.servers_idle),
                          "0",
                          "0",
                          num(g.servers_connecting),
                          num(wait_us / 1'000'000),
                          num(wait_us % 1'000'000),
                          g.mode,
                          num(g.pool_size),
                          num(g.reserve_in_use),
                          num(g.peak_in_use),
                          num(us(w.quantile(0.50))),
                          num(us(w.quantile(0.95))),
                          num(us(w.quantile(0.99))),
                          num(p.counters.wait_timeouts),
                          g.paused ? "yes" : "no"});
  }
  return rs;
}

// Counters summed per database (PgBouncer's STATS are per database).
std::map<std::string, observability::PoolCounters> per_database(const Snapshot& s) {
  std::map<std::string, observability::PoolCounters> out;
  for (const auto& p : s.pools) {
    auto& c = out[p.database];
    const auto& x = p.counters;
    c.transactions += x.transactions;
    c.queries += x.queries;
    c.bytes_received += x.bytes_received;
    c.bytes_sent += x.bytes_sent;
    c.wait_timeouts += x.wait_timeouts;
    c.wait_time.merge(x.wait_time);
    c.transaction_time.merge(x.transaction_time);
    c.query_time.merge(x.query_time);
  }
  return out;
}

std::uint64_t per_item(std::uint64_t total_us, std::uint64_t n) { return n ? total_us / n : 0; }
std::uint64_t per_second(std::uint64_t n, double uptime) {
  return uptime > 0 ? static_cast<std::uint64_t>(static_cast<double>(n) / uptime) : 0;
}

// One set of totals columns, with or without the "total_" prefix.
void totals_columns(ResultSet& rs, const std::string& prefix) {
  for (const char* name : {"server_assignment_count", "xact_count", "query_count"}) {
    rs.columns.push_back({prefix + name, I});
  }
  rs.columns.push_back({prefix + (prefix.empty() ? "bytes_received" : "received"), I});
  rs.columns.push_back({prefix + (prefix.empty() ? "bytes_sent" : "sent"), I});
  for (const char* name : {"xact_time", "query_time", "wait_time"}) {
    rs.columns.push_back({prefix + name, I});
  }
}

// Servers handed to clients: every observed wait except those that timed out.
std::uint64_t assignments(const observability::PoolCounters& c) {
  const std::uint64_t waits = c.wait_time.count();
  return waits > c.wait_timeouts ? waits - c.wait_timeouts : 0;
}

void totals_cells(Row& row, const observability::PoolCounters& c) {
  row.push_back(num(assignments(c)));
  row.push_back(num(c.transactions));
  row.push_back(num(c.queries));
  row.push_back(num(c.bytes_received));
  row.push_back(num(c.bytes_sent));
  row.push_back(num(c.transaction_time.sum_us));
  row.push_back(num(c.query_time.sum_us));
  row.push_back(num(c.wait_time.sum_us));
}

// Averages since start: counts and bytes per second; times per transaction, query, wait.
void average_cells(Row& row, const observability::PoolCounters& c, double uptime) {
  row.push_back(num(per_second(assignments(c), uptime)));
  row.push_back(num(per_second(c.transactions, uptime)));
  row.push_back(num(per_second(c.queries, uptime)));
  row.push_back(num(per_second(c.bytes_received, uptime)));
  row.push_back(num(per_second(c.bytes_sent, uptime)));
  row.push_back(num(per_item(c.transaction_time.sum_us, c.transaction_time.count())));
  row.push_back(num(per_item(c.query_time.sum_us, c.query_time.count())));
  row.push_back(num(per_item(c.wait_time.sum_us, c.wait_time.count())));
}

ResultSet stats(const Snapshot& s) {
  ResultSet rs;
  rs.columns.push_back({"database", T});
  totals_columns(rs, "total_");
  for (const char* name :
       {"avg_server_assignment_count", "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
        "avg_xact_time", "avg_query_time", "avg_wait_time"}) {
    rs.columns.push_back({name, I});
  }
  for (const auto& [db, c] : per_database(s)) {
    Row row{db};
    totals_cells(row, c);
    average_cells(row, c, s.process.uptime_s);
    rs.rows.push_back(std::move(row));
  }
  return rs;
}

ResultSet stats_totals(const Snapshot& s) {
  ResultSet rs;
  rs.columns.push_back({"database", T});
  totals_columns(rs, "");
  for (const auto& [db, c] : per_database(s)) {
    Row row{db};
    totals_cells(row, c);
    rs.rows.push_back(std::move(row));
  }
  return rs;
}

ResultSet stats_averages(const Snapshot& s) {
  ResultSet rs;
  rs.columns.push_back({"database", T});
  totals_columns(rs, "");
  for (const auto& [db, c] : per_database(s)) {
    Row row{db};
    average_cells(row, c, s.process.uptime_s);
    rs.rows.push_back(std::move(row));
  }
  return rs;
}

ResultSet clients(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"type", T},         {"user", T},         {"database", T},
                {"state", T},        {"addr", T},         {"port", I},
                {"local_addr", T},   {"local_port", I},   {"connect_time", T},
                {"request_time", T}, {"wait", I},         {"wait_us", I},
                {"close_needed", I}, {"ptr", T},          {"link", T},
                {"remote_pid", I},   {"tls", T},          {"application_name", T},
                {"id", I},           {"transaction_s", F}};
  for (const auto& c : s.clients) {
    const auto wait_us = us(c.wait_s);
    // PgBouncer's states: active (logged in, not waiting), waiting, login.
    rs.rows.push_back(Row{"C",
                          c.user,
                          c.database,
                          c.state,
                          c.addr,
                          num(c.port),
                          std::nullopt,
                          std::nullopt,
                          timestamp(c.connect_time_unix),
                          std::nullopt,
                          num(wait_us / 1'000'000),
                          num(wait_us % 1'000'000),
                          "0",
                          fmt::format("{:x}", c.id),
                          std::nullopt,
                          "0",
                          std::nullopt,
                          c.application_name,
                          num(c.id),
                          real(c.transaction_s)});
  }
  return rs;
}

ResultSet servers(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"type", T},
                {"user", T},
                {"database", T},
                {"state", T},
                {"addr", T},
                {"port", I},
                {"local_addr", T},
                {"local_port", I},
                {"connect_time", T},
                {"request_time", T},
                {"wait", I},
                {"wait_us", I},
                {"close_needed", I},
                {"ptr", T},
                {"link", T},
                {"remote_pid", I},
                {"tls", T},
                {"application_name", T},
                {"id", I}};
  for (const auto& v : s.servers) {
    rs.rows.push_back(
        Row{"S", v.user, v.database, v.state, v.addr, num(v.port), std::nullopt, std::nullopt,
            std::nullopt, std::nullopt, "0", "0", "0", fmt::format("{:x}", v.id),
            v.client_id ? std::optional(fmt::format("{:x}", v.client_id)) : std::nullopt,
            num(v.backend_pid), std::nullopt, std::nullopt, num(v.id)});
  }
  return rs;
}

ResultSet databases(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"name", T},
                {"host", T},
                {"port", I},
                {"database", T},
                {"force_user", T},
                {"pool_size", I},
                {"min_pool_size", I},
                {"reserve_pool", I},
                {"server_lifetime", I},
                {"pool_mode", T},
                {"max_connections", I},
                {"current_connections", I},
                {"max_client_connections", I},
                {"current_client_connections", I},
                {"paused", I},
                {"disabled", I}};
  for (const auto& d : s.databases) {
    rs.rows.push_back(Row{d.name, d.host, num(d.port), d.dbname,
                          d.force_user.empty() ? std::nullopt : std::optional(d.force_user),
                          num(d.pool_size), num(d.min_pool_size), num(d.reserve_pool),
                          num(static_cast<std::int64_t>(d.server_lifetime)), d.pool_mode,
                          num(d.max_connections), num(d.current_connections), "0",
                          num(d.current_client_connections), d.paused ? "1" : "0",
                          d.disabled ? "1" : "0"});
  }
  return rs;
}

ResultSet users(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"name", T},
                {"pool_size", I},
                {"reserve_pool_size", I},
                {"pool_mode", T},
                {"max_user_connections", I},
                {"current_connections", I},
                {"max_user_client_connections", I},
                {"current_client_connections", I}};
  for (const auto& u : s.users) {
    rs.rows.push_back(Row{u.name, u.pool_size ? std::optional(num(u.pool_size)) : std::nullopt,
                          std::nullopt,
                          u.pool_mode.empty() ? std::nullopt : std::optional(u.pool_mode),
                          num(u.max_user_connections), num(u.current_connections), "0",
                          num(u.current_client_connections)});
  }
  return rs;
}

ResultSet config(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"key", T}, {"value", T}, {"default", T}, {"changeable", T}};
  for (const auto& c : s.config) {
    rs.rows.push_back(Row{c.key, c.value, c.default_value, c.changeable ? "yes" : "no"});
  }
  return rs;
}

ResultSet lists(const Snapshot& s) {
  int used_servers = 0, idle_servers = 0, login_servers = 0;
  for (const auto& p : s.pools) {
    used_servers += p.gauges.servers_active;
    idle_servers += p.gauges.servers_idle;
    login_servers += p.gauges.servers_connecting;
  }
  ResultSet rs;
  rs.columns = {{"list", T}, {"items", I}};
  auto add = [&](const char* name, std::size_t n) {
    rs.rows.push_back(Row{name, num(static_cast<std::int64_t>(n))});
  };
  add("databases", s.databases.size());
  add("users", s.users.size());
  add("pools", s.pools.size());
  add("used_clients", s.clients.size());
  add("used_servers", static_cast<std::size_t>(used_servers));
  add("idle_servers", static_cast<std::size_t>(idle_servers));
  add("login_servers", static_cast<std::size_t>(login_servers));
  return rs;
}

ResultSet state(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"key", T}, {"value", T}};
  rs.rows.push_back(Row{"active", s.paused ? "no" : "yes"});
  rs.rows.push_back(Row{"paused", s.paused ? "yes" : "no"});
  rs.rows.push_back(Row{"suspended", "no"});
  return rs;
}

ResultSet version(const Snapshot& s) {
  ResultSet rs;
  rs.columns = {{"version", T}};
  rs.rows.push_back(Row{"Reservoir " + s.process.version});
  return rs;
}

}  // namespace

ResultSet show(ShowWhat what, const Snapshot& s) {
  switch (what) {
    case ShowWhat::Pools:
      return pools(s);
    case ShowWhat::Stats:
      return stats(s);
    case ShowWhat::StatsTotals:
      return stats_totals(s);
    case ShowWhat::StatsAverages:
      return stats_averages(s);
    case ShowWhat::Clients:
      return clients(s);
    case ShowWhat::Servers:
      return servers(s);
    case ShowWhat::Databases:
      return databases(s);
    case ShowWhat::Users:
      return users(s);
    case ShowWhat::Config:
      return config(s);
    case ShowWhat::Lists:
      return lists(s);
    case ShowWhat::State:
      return state(s);
    case ShowWhat::Version:
      return version(s);
  }
  return {};
}

}  // namespace reservoir::admin

#include "config/settings_table.h"

#include <algorithm>
#include <climits>

#include "config/values.h"

namespace reservoir::config {
namespace {

// Builds a spec from a field, a parser returning Result<V> and a formatter of the field.
template <class T, class Parse, class Format>
SettingSpec make(std::string key, T Settings::*field, Parse parse, Format format) {
  return SettingSpec{std::move(key),
                     [field, parse](Settings& settings, std::string_view text) -> Status {
                       auto value = parse(text);
                       if (!value) return value.error();
                       settings.*field = static_cast<T>(*value);
                       return Ok{};
                     },
                     [field, format](const Settings& settings) { return format(settings.*field); }};
}

template <class T>
SettingSpec integer(std::string key, T Settings::*field, long long min, long long max) {
  return make(
      std::move(key), field, [min, max](std::string_view t) { return parse_integer(t, min, max); },
      [](T v) { return std::to_string(v); });
}

SettingSpec count(std::string key, int Settings::*field) {
  return integer(std::move(key), field, 0, INT_MAX);
}

SettingSpec text(std::string key, std::string Settings::*field) {
  return make(
      std::move(key), field, [](std::string_view t) { return Result<std::string>(std::string(t)); },
      [](const std::string& v) { return v; });
}

SettingSpec boolean(std::string key, bool Settings::*field) {
  return make(std::move(key), field, parse_bool, [](bool v) { return std::string(v ? "1" : "0"); });
}

SettingSpec duration(std::string key, Seconds Settings::*field) {
  return make(std::move(key), field, parse_duration, format_seconds);
}

SettingSpec list(std::string key, std::vector<std::string> Settings::*field) {
  return make(
      std::move(key), field,
      [](std::string_view t) { return Result<std::vector<std::string>>(parse_list(t)); },
      format_list);
}

std::vector<SettingSpec> build_specs() {
  using S = Settings;
  auto enum_text = [](auto v) { return to_string(v); };
  std::vector<SettingSpec> specs = {
      text("listen_addr", &S::listen_addr),
      integer("listen_port", &S::listen_port, 1, 65535),
      text("unix_socket_dir", &S::unix_socket_dir),
      make("unix_socket_mode", &S::unix_socket_mode, parse_octal_mode, format_octal_mode),
      count("workers", &S::workers),
      make("busy_poll", &S::busy_poll, parse_busy_poll, format_busy_poll),
      make("auth_type", &S::auth_type, parse_auth_type, enum_text),
      text("auth_file", &S::auth_file),
      list("admin_users", &S::admin_users),
      list("stats_users", &S::stats_users),
      make("pool_mode", &S::pool_mode, parse_pool_mode, enum_text),
      count("default_pool_size", &S::default_pool_size),
      count("min_pool_size", &S::min_pool_size),
      count("reserve_pool_size", &S::reserve_pool_size),
      duration("reserve_pool_timeout", &S::reserve_pool_timeout),
      count("max_client_conn", &S::max_client_conn),
      count("max_db_connections", &S::max_db_connections),
      count("max_user_connections", &S::max_user_connections),
      count("max_waiting_clients", &S::max_waiting_clients),
      list("ignore_startup_parameters", &S::ignore_startup_parameters),
      text("server_reset_query", &S::server_reset_query),
      boolean("server_reset_query_always", &S::server_reset_query_always),
      count("max_prepared_statements", &S::max_prepared_statements),
      boolean("transaction_mode_pinning", &S::transaction_mode_pinning),
      text("server_check_query", &S::server_check_query),
      duration("server_check_delay", &S::server_check_delay),
      duration("server_connect_timeout", &S::server_connect_timeout),
      duration("server_login_retry", &S::server_login_retry),
      duration("dns_max_ttl", &S::dns_max_ttl),
      duration("dns_nxdomain_ttl", &S::dns_nxdomain_ttl),
      duration("server_lifetime", &S::server_lifetime),
      duration("server_idle_timeout", &S::server_idle_timeout),
      duration("client_login_timeout", &S::client_login_timeout),
      duration("client_idle_timeout", &S::client_idle_timeout),
      duration("query_timeout", &S::query_timeout),
      duration("query_wait_timeout", &S::query_wait_timeout),
      duration("query_wait_notify", &S::query_wait_notify),
      duration("idle_transaction_timeout", &S::idle_transaction_timeout),
      duration("transaction_timeout", &S::transaction_timeout),
      integer("max_packet_size", &S::max_packet_size, 1, INT_MAX),  // a protocol length is int32
      integer("pkt_buf", &S::pkt_buf, 512, INT_MAX),
      boolean("tcp_keepalive", &S::tcp_keepalive),
      count("tcp_keepidle", &S::tcp_keepidle),
      count("tcp_keepintvl", &S::tcp_keepintvl),
      count("tcp_keepcnt", &S::tcp_keepcnt),
      count("tcp_user_timeout", &S::tcp_user_timeout),
      boolean("tcp_defer_accept", &S::tcp_defer_accept),
      boolean("so_reuseport", &S::so_reuseport),
      text("logfile", &S::logfile),
      boolean("log_connections", &S::log_connections),
      boolean("log_disconnections", &S::log_disconnections),
      text("pidfile", &S::pidfile),
      count("verbose", &S::verbose),
      make("log_format", &S::log_format, parse_log_format, enum_text),
      duration("stats_period", &S::stats_period),
      text("http_listen", &S::http_listen),
      integer("warn_pool_utilization", &S::warn_pool_utilization, 0, 100),
      duration("leak_warn_time", &S::leak_warn_time),
      duration("slow_query_threshold", &S::slow_query_threshold),
  };
  std::sort(specs.begin(), specs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return specs;
}

// PgBouncer settings with no Reservoir counterpart (yet). server_tls_* and client_tls_* are
// matched by prefix below.
constexpr std::string_view kUnsupported[] = {
    "application_name_add_host",
    "auth_dbname",
    "auth_hba_file",
    "auth_ident_file",
    "auth_key_file",
    "auth_ldap_options",
    "auth_query",
    "auth_user",
    "autodb_idle_timeout",
    "conffile",
    "disable_pqexec",
    "dns_zone_check_period",
    "job_name",
    "listen_backlog",
    "log_pooler_errors",
    "log_stats",
    "max_db_client_connections",
    "max_user_client_connections",
    "peer_id",
    "resolv_conf",
    "sbuf_loopcnt",
    "scram_iterations",
    "server_fast_close",
    "server_round_robin",
    "service_name",
    "suspend_timeout",
    "syslog",
    "syslog_facility",
    "syslog_ident",
    "tcp_socket_buffer",
    "track_extra_parameters",
    "unix_socket_group",
    "user",
};

}  // namespace

const std::vector<SettingSpec>& setting_specs() {
  static const std::vector<SettingSpec> specs = build_specs();
  return specs;
}

const SettingSpec* find_setting(std::string_view key) {
  const auto& specs = setting_specs();
  const auto it = std::lower_bound(specs.begin(), specs.end(), key,
                                   [](const auto& s, std::string_view k) { return s.key < k; });
  return it != specs.end() && it->key == key ? &*it : nullptr;
}

bool is_unsupported_pgbouncer_setting(std::string_view key) {
  if (key.starts_with("server_tls") || key.starts_with("client_tls")) return true;
  return std::find(std::begin(kUnsupported), std::end(kUnsupported), key) != std::end(kUnsupported);
}

}  // namespace reservoir::config

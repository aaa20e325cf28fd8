#include "config/sections.h"

#include <algorithm>
#include <climits>
#include <string_view>

#include "config/conn_params.h"
#include "config/values.h"

namespace reservoir::config {
namespace {

// PgBouncer database parameters that Reservoir accepts and ignores.
constexpr std::string_view kUnsupportedDatabaseParams[] = {
    "auth_dbname", "auth_query", "load_balance_hosts", "max_db_client_connections",
    "server_lifetime"};

Error invalid(const IniEntry& line, const char* what, const ConnParam& param, const Error& why) {
  return make_error(kConfigFileError, line.where.to_string() + ": invalid value '" + param.value +
                                          "' for '" + param.key + "' in " + what + " '" + line.key +
                                          "': " + why.message);
}

void warn_ignored(const IniEntry& line, const char* what, const ConnParam& param,
                  std::vector<std::string>& warnings) {
  const bool known =
      std::find(std::begin(kUnsupportedDatabaseParams), std::end(kUnsupportedDatabaseParams),
                param.key) != std::end(kUnsupportedDatabaseParams);
  warnings.push_back(
      line.where.to_string() + ": " + what + " '" + line.key + "': parameter '" + param.key + "' " +
      (known ? "is not supported by Reservoir and is ignored" : "is unknown and ignored"));
}

// Stores a parsed value into an optional field; returns the parser's error if any.
template <class T, class V>
Status assign(std::optional<T>& field, Result<V> parsed) {
  if (!parsed) return parsed.error();
  field = static_cast<T>(*parsed);
  return Ok{};
}

Result<long long> size_value(std::string_view text) { return parse_integer(text, 0, INT_MAX); }

// Applies one parameter shared by [databases] and [users]; nullopt if the key is not one.
std::optional<Status> apply_pool_param(const ConnParam& p, std::optional<int>& pool_size,
                                       std::optional<int>& reserve_pool_size,
                                       std::optional<PoolMode>& pool_mode) {
  if (p.key == "pool_size") return assign(pool_size, size_value(p.value));
  if (p.key == "reserve_pool_size" || p.key == "reserve_pool")
    return assign(reserve_pool_size, size_value(p.value));
  if (p.key == "pool_mode") return assign(pool_mode, parse_pool_mode(p.value));
  return std::nullopt;
}

std::string* text_field(DatabaseEntry& db, const std::string& key) {
  if (key == "host") return &db.host;
  if (key == "dbname") return &db.dbname;
  if (key == "user") return &db.user;
  if (key == "password") return &db.password;
  if (key == "application_name") return &db.application_name;
  if (key == "client_encoding") return &db.client_encoding;
  if (key == "datestyle") return &db.datestyle;
  if (key == "timezone") return &db.timezone;
  if (key == "connect_query") return &db.connect_query;
  if (key == "auth_user") return &db.auth_user;
  return nullptr;
}

// nullopt: not a database parameter.
std::optional<Status> apply_database_param(DatabaseEntry& db, const ConnParam& p) {
  if (std::string* field = text_field(db, p.key)) {
    *field = p.value;
    return Ok{};
  }
  if (p.key == "port") {
    auto port = parse_integer(p.value, 1, 65535);
    if (!port) return port.error();
    db.port = static_cast<int>(*port);
    return Ok{};
  }
  if (p.key == "min_pool_size") return assign(db.min_pool_size, size_value(p.value));
  if (p.key == "max_db_connections") return assign(db.max_db_connections, size_value(p.value));
  return apply_pool_param(p, db.pool_size, db.reserve_pool_size, db.pool_mode);
}

std::optional<Status> apply_user_param(UserEntry& user, const ConnParam& p) {
  if (p.key == "max_user_connections")
    return assign(user.max_user_connections, size_value(p.value));
  return apply_pool_param(p, user.pool_size, user.reserve_pool_size, user.pool_mode);
}

// Shared driver: split the value, apply each parameter, warn about unknown ones.
template <class Entry, class Apply>
Result<Entry> parse_line(const IniEntry& line, const char* what, std::vector<std::string>& warnings,
                         Apply apply) {
  Entry entry;
  entry.name = line.key;
  entry.origin = line.where.to_string();
  auto params = parse_conn_params(line.value);
  if (!params) {
    return make_error(kConfigFileError, line.where.to_string() + ": cannot parse " + what + " '" +
                                            line.key + "': " + params.error().message);
  }
  for (const ConnParam& param : *params) {
    const std::optional<Status> applied = apply(entry, param);
    if (!applied) {
      warn_ignored(line, what, param, warnings);
    } else if (!applied->ok()) {
      return invalid(line, what, param, applied->error());
    }
  }
  return entry;
}

}  // namespace

Result<DatabaseEntry> parse_database_line(const IniEntry& line,
                                          std::vector<std::string>& warnings) {
  return parse_line<DatabaseEntry>(line, "database", warnings, apply_database_param);
}

Result<UserEntry> parse_user_line(const IniEntry& line, std::vector<std::string>& warnings) {
  return parse_line<UserEntry>(line, "user", warnings, apply_user_param);
}

}  // namespace reservoir::config

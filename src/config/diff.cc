#include "config/diff.h"

#include <map>
#include <tuple>

#include "config/settings_table.h"

namespace reservoir::config {
namespace {

auto connection_fields(const DatabaseEntry& d) {
  return std::tie(d.host, d.port, d.dbname, d.user, d.password, d.application_name,
                  d.client_encoding, d.datestyle, d.timezone, d.connect_query, d.auth_user);
}

auto pool_fields(const DatabaseEntry& d) {
  return std::tie(d.pool_size, d.min_pool_size, d.reserve_pool_size, d.max_db_connections,
                  d.pool_mode);
}

auto user_fields(const UserEntry& u) {
  return std::tie(u.pool_mode, u.pool_size, u.max_user_connections, u.reserve_pool_size);
}

template <class Entry>
const Entry* find_by_name(const std::vector<Entry>& entries, const std::string& name) {
  for (const auto& entry : entries) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

void diff_databases(const Config& old, const Config& next, ConfigDiff& out) {
  for (const auto& db : next.databases) {
    const DatabaseEntry* before = find_by_name(old.databases, db.name);
    if (before == nullptr) {
      out.databases_added.push_back(db.name);
    } else if (connection_fields(*before) != connection_fields(db)) {
      out.databases_reconnect.push_back(db.name);
    } else if (pool_fields(*before) != pool_fields(db)) {
      out.databases_resized.push_back(db.name);
    }
  }
  for (const auto& db : old.databases) {
    if (find_by_name(next.databases, db.name) == nullptr) out.databases_removed.push_back(db.name);
  }
}

void diff_users(const Config& old, const Config& next, ConfigDiff& out) {
  for (const auto& user : next.users) {
    const UserEntry* before = find_by_name(old.users, user.name);
    if (before == nullptr || user_fields(*before) != user_fields(user))
      out.users_changed.push_back(user.name);
  }
  for (const auto& user : old.users) {
    if (find_by_name(next.users, user.name) == nullptr) out.users_changed.push_back(user.name);
  }
}

}  // namespace

bool ConfigDiff::empty() const {
  return databases_added.empty() && databases_removed.empty() && databases_reconnect.empty() &&
         databases_resized.empty() && users_changed.empty() && settings_changed.empty();
}

ConfigDiff diff(const Config& old, const Config& next) {
  ConfigDiff out;
  diff_databases(old, next, out);
  diff_users(old, next, out);
  // Compared through the settings table, so no setting can be forgotten here.
  for (const SettingSpec& spec : setting_specs()) {
    if (spec.get(old.settings) != spec.get(next.settings)) out.settings_changed.push_back(spec.key);
  }
  return out;
}

}  // namespace reservoir::config

#pragma once
// What `reservoir --check` prints: the effective configuration with where each value came from.
#include <string>

#include "config/config.h"

namespace reservoir::config {

// One line per main-section setting, `key = value  (origin)`, sorted by key; then a
// [databases] and a [users] section in file order, each line followed by its origin.
// Passwords are shown as "***".
std::string format_effective_settings(const Config& config);

// One [databases] entry as `key=value` pairs (only what is set; password masked).
std::string describe_database(const DatabaseEntry& db);
std::string describe_user(const UserEntry& user);

}  // namespace reservoir::config

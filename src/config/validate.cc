#include "config/validate.h"

#include "config/ini_reader.h"

namespace reservoir::config {
namespace {

const SettingSource* source_of(const Config& config, const std::string& key) {
  for (const auto& source : config.sources) {
    if (source.key == key) return &source;
  }
  return nullptr;
}

std::string origin_of(const Config& config, const std::string& key) {
  const SettingSource* source = source_of(config, key);
  return source ? source->origin : "default";
}

Error problem(std::string message) { return make_error(kConfigFileError, std::move(message)); }

Status check_auth(const Config& config) {
  const AuthType type = config.settings.auth_type;
  if (type != AuthType::Trust && config.settings.auth_file.empty()) {
    return problem("auth_file must be set when auth_type is " + to_string(type) +
                   " (auth_type from " + origin_of(config, "auth_type") + ")");
  }
  return Ok{};
}

Status check_global_pool(const Config& config) {
  const Settings& s = config.settings;
  if (s.min_pool_size > s.default_pool_size) {
    return problem("min_pool_size (" + std::to_string(s.min_pool_size) + ", from " +
                   origin_of(config, "min_pool_size") + ") must not exceed default_pool_size (" +
                   std::to_string(s.default_pool_size) + ", from " +
                   origin_of(config, "default_pool_size") + ")");
  }
  return Ok{};
}

// A worker polls for up to busy_poll after every event, timer ticks included (every 100 ms):
// a window near that would keep an idle worker polling for ever.
Status check_busy_poll(const Config& config) {
  constexpr double kMaxSeconds = 0.01;
  if (config.settings.busy_poll.window.count() > kMaxSeconds) {
    const SettingSource* source = source_of(config, "busy_poll");  // one per setting
    return problem("busy_poll (" + source->value + " s, from " + source->origin +
                   ") must be at most 10ms; auto (the default) polls 50us while CPU is spare");
  }
  return Ok{};
}

// A database's own sizes override the global ones; the effective pair must still be ordered.
Status check_database(const Config& config, const DatabaseEntry& db) {
  const int size = db.pool_size.value_or(config.settings.default_pool_size);
  const int min = db.min_pool_size.value_or(config.settings.min_pool_size);
  if (min > size) {
    return problem(db.origin + ": database '" + db.name + "': min_pool_size (" +
                   std::to_string(min) + ") must not exceed its pool size (" +
                   std::to_string(size) + ")");
  }
  return Ok{};
}

}  // namespace

Status validate(const Config& config) {
  if (auto status = check_auth(config); !status) return status;
  if (auto status = check_global_pool(config); !status) return status;
  if (auto status = check_busy_poll(config); !status) return status;
  for (const auto& db : config.databases) {
    if (auto status = check_database(config, db); !status) return status;
  }
  return Ok{};
}

}  // namespace reservoir::config

#pragma once
// The main-section settings: one entry per field of Settings, with its PgBouncer key, its
// parser (with range) and its formatter. Loading, env overrides, `sources` and --check all
// go through this one table, so a new setting is added in exactly one place.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace reservoir::config {

struct SettingSpec {
  std::string key;
  // Parses `text` into its field; on error the message is the reason only.
  std::function<Status(Settings&, std::string_view text)> set;
  std::function<std::string(const Settings&)> get;  // the value as it would be written
};

// All settings, sorted by key.
const std::vector<SettingSpec>& setting_specs();
// The spec for a lower-case key, or nullptr.
const SettingSpec* find_setting(std::string_view key);
// PgBouncer settings that Reservoir accepts and ignores (with a warning).
bool is_unsupported_pgbouncer_setting(std::string_view key);

}  // namespace reservoir::config

// load_config / parse_config: file entries -> Config, then RESERVOIR_* overrides, then checks.
#include <algorithm>
#include <map>
#include <set>

#include "config/config.h"
#include "config/ini_reader.h"
#include "config/sections.h"
#include "config/settings_table.h"
#include "config/validate.h"
#include "config/values.h"

namespace reservoir::config {
namespace {

enum class Section { Main, Databases, Users, Unknown };

Section classify(const std::string& section) {
  const std::string name = lowercase(section);
  if (name == "reservoir" || name == "pgbouncer") return Section::Main;
  if (name == "databases") return Section::Databases;
  if (name == "users") return Section::Users;
  return Section::Unknown;
}

Error config_error(std::string message) { return make_error(kConfigFileError, std::move(message)); }

// Adds or replaces (by name) an entry, keeping file order; a later definition wins, as in
// PgBouncer.
template <class Entry>
void upsert(std::vector<Entry>& entries, Entry entry, std::vector<std::string>& warnings,
            const char* what) {
  for (auto& existing : entries) {
    if (existing.name == entry.name) {
      warnings.push_back(entry.origin + ": " + what + " '" + entry.name +
                         "' is defined again (first at " + existing.origin +
                         "); the later definition wins");
      existing = std::move(entry);
      return;
    }
  }
  entries.push_back(std::move(entry));
}

class Loader {
 public:
  Status apply_file(const std::vector<IniEntry>& entries) {
    for (const IniEntry& entry : entries) {
      if (auto status = apply_entry(entry); !status) return status;
    }
    return Ok{};
  }

  // Env beats file: applied after it. `label` is "env RESERVOIR_KEY".
  Status apply_environment(const Environment& env) {
    for (const auto& [name, value] : env) {
      if (!name.starts_with("RESERVOIR_") || is_reserved(name)) continue;
      const std::string key = lowercase(name.substr(10));
      const std::string label = "env " + name;
      if (auto status = apply_setting(key, trim(value), label); !status) return status;
    }
    return Ok{};
  }

  Result<std::shared_ptr<const Config>> finish(std::string path) {
    config_.path = std::move(path);
    for (const SettingSpec& spec : setting_specs()) {
      const auto origin = origins_.find(spec.key);
      config_.sources.push_back(
          SettingSource{spec.key, spec.get(config_.settings),
                        origin == origins_.end() ? "default" : origin->second});
    }
    if (auto status = validate(config_); !status) return status.error();
    return std::make_shared<const Config>(std::move(config_));
  }

 private:
  static bool is_reserved(const std::string& name) {
    return std::find_if(std::begin(kReservedEnvironment), std::end(kReservedEnvironment),
                        [&](const char* reserved) { return name == reserved; }) !=
           std::end(kReservedEnvironment);
  }

  Status apply_entry(const IniEntry& entry) {
    switch (classify(entry.section)) {
      case Section::Main:
        return apply_setting(lowercase(entry.key), entry.value, entry.where.to_string());
      case Section::Databases:
        return add_database(entry);
      case Section::Users:
        return add_user(entry);
      case Section::Unknown:
        warn_unknown_section(entry);
        return Ok{};
    }
    return Ok{};
  }

  // `origin` is "file:line" or "env RESERVOIR_KEY"; it prefixes every message.
  Status apply_setting(const std::string& key, const std::string& value,
                       const std::string& origin) {
    const SettingSpec* spec = find_setting(key);
    if (spec == nullptr) {
      config_.warnings.push_back(
          origin + ": " +
          (is_unsupported_pgbouncer_setting(key)
               ? "setting '" + key + "' is not supported by Reservoir and is ignored"
               : "unknown setting '" + key + "'"));
      return Ok{};
    }
    if (auto status = spec->set(config_.settings, value); !status) {
      return config_error(origin + ": invalid value '" + value + "' for setting '" + key +
                          "': " + status.error().message);
    }
    origins_[key] = origin;
    return Ok{};
  }

  Status add_database(const IniEntry& entry) {
    auto db = parse_database_line(entry, config_.warnings);
    if (!db) return db.error();
    upsert(config_.databases, std::move(*db), config_.warnings, "database");
    return Ok{};
  }

  Status add_user(const IniEntry& entry) {
    auto user = parse_user_line(entry, config_.warnings);
    if (!user) return user.error();
    upsert(config_.users, std::move(*user), config_.warnings, "user");
    return Ok{};
  }

  void warn_unknown_section(const IniEntry& entry) {
    if (!warned_sections_.insert(entry.section).second) return;
    const std::string what =
        entry.section.empty() ? "settings before any [section]" : "section [" + entry.section + "]";
    const bool pgbouncer = lowercase(entry.section) == "peers";
    config_.warnings.push_back(
        entry.where.to_string() + ": " + what +
        (pgbouncer ? " is not supported by Reservoir and is ignored" : " is unknown and ignored"));
  }

  Config config_;
  std::map<std::string, std::string> origins_;  // setting key -> where its value came from
  std::set<std::string> warned_sections_;
};

}  // namespace

Result<std::shared_ptr<const Config>> parse_config(const std::string& text, const std::string& name,
                                                   const Environment& env) {
  auto entries = read_ini(text, name);
  if (!entries) return entries.error();
  Loader loader;
  if (auto status = loader.apply_file(*entries); !status) return status.error();
  if (auto status = loader.apply_environment(env); !status) return status.error();
  return loader.finish(name);
}

Result<std::shared_ptr<const Config>> load_config(const std::string& path, const Environment& env) {
  auto text = read_whole_file(path);
  if (!text) return text.error();
  return parse_config(*text, path, env);
}

}  // namespace reservoir::config

// The small members of config.h; loading lives in loader.cc.
#include "config/config.h"

#include <algorithm>

extern char** environ;  // POSIX

namespace reservoir::config {

const DatabaseEntry* Config::find_database(const std::string& name) const {
  const DatabaseEntry* fallback = nullptr;
  for (const auto& db : databases) {
    if (db.name == name) return &db;
    if (db.name == "*") fallback = &db;
  }
  return fallback;
}

const UserEntry* Config::find_user(const std::string& name) const {
  const auto it =
      std::find_if(users.begin(), users.end(), [&](const UserEntry& u) { return u.name == name; });
  return it == users.end() ? nullptr : &*it;
}

Environment process_environment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos || !text.starts_with("RESERVOIR_")) continue;
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

std::string to_string(PoolMode mode) {
  switch (mode) {
    case PoolMode::Session:
      return "session";
    case PoolMode::Transaction:
      return "transaction";
    case PoolMode::Statement:
      return "statement";
  }
  return "unknown";
}

std::string to_string(AuthType type) {
  switch (type) {
    case AuthType::ScramSha256:
      return "scram-sha-256";
    case AuthType::Md5:
      return "md5";
    case AuthType::Plain:
      return "plain";
    case AuthType::Trust:
      return "trust";
  }
  return "unknown";
}

std::string to_string(LogFormat format) {
  switch (format) {
    case LogFormat::Text:
      return "text";
    case LogFormat::Json:
      return "json";
  }
  return "unknown";
}

}  // namespace reservoir::config

#include "config/describe.h"

#include <optional>

namespace reservoir::config {
namespace {

// Quotes a value the way [databases] lines accept it, when it needs quoting.
std::string quote(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t'\\") == std::string::npos) return value;
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

class Pairs {
 public:
  void text(const char* key, const std::string& value) {
    if (!value.empty()) add(key, quote(value));
  }
  void number(const char* key, const std::optional<int>& value) {
    if (value) add(key, std::to_string(*value));
  }
  void mode(const std::optional<PoolMode>& value) {
    if (value) add("pool_mode", to_string(*value));
  }
  void add(const char* key, const std::string& value) {
    if (!out_.empty()) out_ += ' ';
    out_.append(key).append("=").append(value);
  }
  std::string str() const { return out_; }

 private:
  std::string out_;
};

}  // namespace

std::string describe_database(const DatabaseEntry& db) {
  Pairs p;
  p.text("host", db.host);
  p.add("port", std::to_string(db.port));
  p.text("dbname", db.dbname);
  p.text("user", db.user);
  if (!db.password.empty()) p.add("password", "***");
  p.number("pool_size", db.pool_size);
  p.number("min_pool_size", db.min_pool_size);
  p.number("reserve_pool_size", db.reserve_pool_size);
  p.number("max_db_connections", db.max_db_connections);
  p.mode(db.pool_mode);
  p.text("application_name", db.application_name);
  p.text("client_encoding", db.client_encoding);
  p.text("datestyle", db.datestyle);
  p.text("timezone", db.timezone);
  p.text("connect_query", db.connect_query);
  p.text("auth_user", db.auth_user);
  return p.str();
}

std::string describe_user(const UserEntry& user) {
  Pairs p;
  p.mode(user.pool_mode);
  p.number("pool_size", user.pool_size);
  p.number("reserve_pool_size", user.reserve_pool_size);
  p.number("max_user_connections", user.max_user_connections);
  return p.str();
}

std::string format_effective_settings(const Config& config) {
  std::string out;
  for (const auto& s : config.sources) out += s.key + " = " + s.value + "  (" + s.origin + ")\n";
  out += "\n[databases]\n";
  for (const auto& db : config.databases)
    out += db.name + " = " + describe_database(db) + "  (" + db.origin + ")\n";
  out += "\n[users]\n";
  for (const auto& u : config.users)
    out += u.name + " = " + describe_user(u) + "  (" + u.origin + ")\n";
  return out;
}

}  // namespace reservoir::config

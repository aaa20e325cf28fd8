#include "proxy/startup_params.h"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace reservoir::proxy {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_setting_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.';
  });
}

// Splits libpq's `options` value on unescaped spaces (backslash escapes a space).
std::vector<std::string> split_options(std::string_view options) {
  std::vector<std::string> words;
  std::string word;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const char c = options[i];
    if (c == '\\' && i + 1 < options.size()) {
      word += options[++i];
    } else if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word)), word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

void put(SettingList& list, std::string name, std::string value) {
  for (auto& [n, v] : list) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  list.emplace_back(std::move(name), std::move(value));
}

void add_option(SettingList& list, std::string_view item) {
  const auto eq = item.find('=');
  if (eq == std::string_view::npos) return;
  std::string name = lower(item.substr(0, eq));
  std::replace(name.begin(), name.end(), '-', '_');
  put(list, std::move(name), std::string(item.substr(eq + 1)));
}

}  // namespace

SettingList requested_settings(const protocol::StartupMessage& startup,
                               const std::vector<std::string>& ignored) {
  SettingList list;
  for (const auto& [key, value] : startup.params) {
    std::string name = lower(key);
    if (name == "user" || name == "database" || name == "replication") continue;
    if (std::find(ignored.begin(), ignored.end(), name) != ignored.end()) continue;
    if (name == "options") {
      auto words = split_options(value);
      for (std::size_t i = 0; i < words.size(); ++i) {
        if (words[i] == "-c" && i + 1 < words.size()) {
          add_option(list, words[++i]);
        } else if (words[i].rfind("-c", 0) == 0) {
          add_option(list, std::string_view(words[i]).substr(2));
        } else if (words[i].rfind("--", 0) == 0) {
          add_option(list, std::string_view(words[i]).substr(2));
        }
      }
      continue;
    }
    put(list, std::move(name), value);
  }
  return list;
}

SettingChanges settings_to_apply(const SettingList& wanted, const SettingMap& applied,
                                 const SettingMap& reported) {
  SettingChanges out;
  for (const auto& [name, value] : wanted) {
    const std::string* current = nullptr;
    if (auto it = applied.find(name); it != applied.end()) {
      current = &it->second;
    } else {
      for (const auto& [key, v] : reported) {
        if (lower(key) == name) current = &v;
      }
    }
    if (current == nullptr || *current != value) out.set.emplace_back(name, value);
  }
  for (const auto& [name, value] : applied) {
    const bool still_wanted =
        std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.first == name; });
    if (!still_wanted) out.reset.push_back(name);
  }
  return out;
}

namespace {
void append_literal(std::string& sql, std::string_view value) {
  sql += '\'';
  for (char c : value) {
    if (c == '\0') break;
    if (c == '\'') sql += '\'';
    sql += c;
  }
  sql += '\'';
}
}  // namespace

std::string change_statement(const SettingChanges& changes) {
  std::string sql;
  std::string calls;
  for (const auto& [name, value] : changes.set) {
    if (!is_setting_name(name)) continue;
    calls += calls.empty() ? "SELECT " : ", ";
    calls += "pg_catalog.set_config(";
    append_literal(calls, name);
    calls += ", ";
    append_literal(calls, value);
    calls += ", false)";
  }
  if (!calls.empty()) sql = calls + ";";
  for (const auto& name : changes.reset) {
    if (is_setting_name(name)) sql += "RESET " + name + ";";
  }
  return sql;
}

std::string lower_ascii(std::string_view s) { return lower(s); }

namespace {

// The lists handed out, by contents; an entry goes when its list does. `list` tells a list
// from a newer one with the same contents made after its last holder let go (its deleter
// may run after that one is in the table).
struct SharedTable {
  std::mutex mu;
  struct Entry {
    std::weak_ptr<const SettingList> weak;
    const SettingList* list;
  };
  std::map<SettingList, Entry> lists;
};

SharedTable& shared_table() {
  static auto* table = new SharedTable;  // never destroyed: lists may outlive static teardown
  return *table;
}

}  // namespace

SharedSettings share_settings(SettingList list) {
  SharedTable& t = shared_table();
  std::lock_guard lock(t.mu);
  if (auto it = t.lists.find(list); it != t.lists.end()) {
    // Never the last reference dropped under the lock: a live one is returned, a dead one is
    // null.
    if (SharedSettings held = it->second.weak.lock()) return held;
  }
  const auto* made = new SettingList(list);
  SharedSettings shared(made, [](const SettingList* gone) {
    {
      SharedTable& table = shared_table();
      std::lock_guard relock(table.mu);
      auto it = table.lists.find(*gone);
      if (it != table.lists.end() && it->second.list == gone) table.lists.erase(it);
    }
    delete gone;
  });
  t.lists.insert_or_assign(std::move(list), SharedTable::Entry{shared, made});
  return shared;
}

const SharedSettings& no_settings() {
  static const SharedSettings none = share_settings({});
  return none;
}

std::size_t shared_settings_count() {
  SharedTable& t = shared_table();
  std::lock_guard lock(t.mu);
  return t.lists.size();
}

}  // namespace reservoir::proxy

#include "admin/command.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace reservoir::admin {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// Splits into words: identifiers, "quoted names", '=' and 'single-quoted values'.
// nullopt for an unterminated quote.
std::optional<std::vector<std::string>> tokenize(std::string_view sql, std::vector<bool>& quoted) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') {
      ++i;
    } else if (c == '=' || c == ',') {
      words.emplace_back(1, c);
      quoted.push_back(false);
      ++i;
    } else if (c == '"' || c == '\'') {
      std::string word;
      ++i;
      bool closed = false;
      while (i < sql.size()) {
        if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {  // doubled quote
            word += c;
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        word += sql[i++];
      }
      if (!closed) return std::nullopt;
      words.push_back(std::move(word));
      quoted.push_back(true);
    } else {
      std::string word;
      while (i < sql.size() && !std::isspace(static_cast<unsigned char>(sql[i])) && sql[i] != ';' &&
             sql[i] != '=' && sql[i] != '"' && sql[i] != '\'') {
        word += sql[i++];
      }
      words.push_back(std::move(word));
      quoted.push_back(false);
    }
  }
  return words;
}

Error syntax(std::string message) { return make_error("42601", std::move(message)); }

std::optional<ShowWhat> show_subject(const std::string& word) {
  static const std::pair<const char*, ShowWhat> kSubjects[] = {
      {"POOLS", ShowWhat::Pools},
      {"STATS", ShowWhat::Stats},
      {"STATS_TOTALS", ShowWhat::StatsTotals},
      {"STATS_AVERAGES", ShowWhat::StatsAverages},
      {"CLIENTS", ShowWhat::Clients},
      {"SERVERS", ShowWhat::Servers},
      {"DATABASES", ShowWhat::Databases},
      {"USERS", ShowWhat::Users},
      {"CONFIG", ShowWhat::Config},
      {"LISTS", ShowWhat::Lists},
      {"STATE", ShowWhat::State},
      {"VERSION", ShowWhat::Version},
  };
  for (const auto& [name, what] : kSubjects) {
    if (word == name) return what;
  }
  return std::nullopt;
}

}  // namespace

Result<Command> parse_command(std::string_view sql) {
  std::vector<bool> quoted;
  auto tokens = tokenize(sql, quoted);
  if (!tokens) return syntax("unterminated quoted string in admin command");
  auto& words = *tokens;
  if (words.empty()) return syntax("empty admin command (try SHOW POOLS)");
  const std::string verb = upper(words[0]);
  const std::size_t args = words.size() - 1;
  Command c;
  auto no_more = [&](std::size_t used) -> Status {
    if (args > used) return syntax("unexpected \"" + words[used + 1] + "\" after " + verb);
    return Ok{};
  };
  auto optional_db = [&](Verb v) -> Result<Command> {
    c.verb = v;
    if (args >= 1) c.target = words[1];
    if (auto st = no_more(1); !st) return st.error();
    return c;
  };
  auto required_arg = [&](Verb v, const char* what) -> Result<Command> {
    c.verb = v;
    if (args < 1) return syntax(verb + " needs " + what);
    c.target = words[1];
    if (auto st = no_more(1); !st) return st.error();
    return c;
  };
  if (verb == "SHOW") {
    if (args < 1) return syntax("SHOW needs a subject, e.g. SHOW POOLS");
    auto what = show_subject(upper(words[1]));
    if (!what) {
      return make_error("0A000", "unsupported admin command: SHOW " + words[1] +
                                     " (supported: POOLS, STATS, STATS_TOTALS, STATS_AVERAGES, "
                                     "CLIENTS, SERVERS, DATABASES, USERS, CONFIG, LISTS, STATE, "
                                     "VERSION)");
    }
    c.verb = Verb::Show;
    c.what = *what;
    if (auto st = no_more(1); !st) return st.error();
    return c;
  }
  if (verb == "PAUSE") return optional_db(Verb::Pause);
  if (verb == "RESUME") return optional_db(Verb::Resume);
  if (verb == "RECONNECT") return optional_db(Verb::Reconnect);
  if (verb == "RELOAD") {
    c.verb = Verb::Reload;
    if (auto st = no_more(0); !st) return st.error();
    return c;
  }
  if (verb == "KILL") return required_arg(Verb::Kill, "a database name");
  if (verb == "DISABLE") return required_arg(Verb::Disable, "a database name");
  if (verb == "ENABLE") return required_arg(Verb::Enable, "a database name");
  if (verb == "KILL_CLIENT") {
    auto parsed = required_arg(Verb::KillClient, "a client id (SHOW CLIENTS, column id)");
    if (!parsed) return parsed;
    const auto& id = parsed->target;
    if (id.empty() ||
        !std::all_of(id.begin(), id.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
      return syntax("KILL_CLIENT needs a numeric client id, got \"" + id + "\"");
    }
    return parsed;
  }
  if (verb == "SHUTDOWN") {
    c.verb = Verb::Shutdown;
    if (args >= 1) {
      if (upper(words[1]) != "WAIT_FOR_CLIENTS") {
        return syntax("SHUTDOWN takes only WAIT_FOR_CLIENTS, got \"" + words[1] + "\"");
      }
      c.wait_for_clients = true;
    }
    if (auto st = no_more(1); !st) return st.error();
    return c;
  }
  if (verb == "SET") {
    // SET key = value  (also SET key TO value)
    if (args < 3 || (words[2] != "=" && upper(words[2]) != "TO")) {
      return syntax("SET needs key = value");
    }
    c.verb = Verb::Set;
    std::string key = words[1];
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    c.target = std::move(key);
    // The value may be several words when unquoted (e.g. a list): join them.
    for (std::size_t i = 3; i < words.size(); ++i) {
      if (i > 3) c.value += words[i] == "," || words[i - 1] == "," ? "" : " ";
      c.value += words[i];
    }
    return c;
  }
  return make_error("0A000", "unsupported admin command: \"" + words[0] +
                                 "\"; the console knows SHOW, PAUSE, RESUME, RELOAD, KILL, "
                                 "KILL_CLIENT, RECONNECT, DISABLE, ENABLE, SHUTDOWN and SET");
}

std::string command_tag(const Command& command) {
  switch (command.verb) {
    case Verb::Show:
      return "SHOW";
    case Verb::Pause:
      return "PAUSE";
    case Verb::Resume:
      return "RESUME";
    case Verb::Reload:
      return "RELOAD";
    case Verb::Kill:
      return "KILL";
    case Verb::KillClient:
      return "KILL_CLIENT";
    case Verb::Reconnect:
      return "RECONNECT";
    case Verb::Disable:
      return "DISABLE";
    case Verb::Enable:
      return "ENABLE";
    case Verb::Shutdown:
      return "SHUTDOWN";
    case Verb::Set:
      return "SET";
  }
  return "";
}

}  // namespace reservoir::admin

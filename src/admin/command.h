#pragma once
// Admin console commands (PgBouncer's syntax): parsing only, pure. The console in
// src/proxy/admin_console.cc runs them.
//
//   SHOW POOLS | STATS | STATS_TOTALS | STATS_AVERAGES | CLIENTS | SERVERS | DATABASES | USERS
//        | CONFIG | LISTS | STATE | VERSION
//   PAUSE [db]   RESUME [db]   RELOAD   KILL db   KILL_CLIENT id   RECONNECT [db]
//   DISABLE db   ENABLE db   SHUTDOWN [WAIT_FOR_CLIENTS]   SET key = value
// Keywords are case-insensitive; a trailing ';' is allowed; names may be double-quoted.
#include <string>
#include <string_view>

#include "common/result.h"

namespace reservoir::admin {

enum class Verb {
  Show,
  Pause,
  Resume,
  Reload,
  Kill,
  KillClient,
  Reconnect,
  Disable,
  Enable,
  Shutdown,
  Set,
};

enum class ShowWhat {
  Pools,
  Stats,
  StatsTotals,
  StatsAverages,
  Clients,
  Servers,
  Databases,
  Users,
  Config,
  Lists,
  State,
  Version,
};

struct Command {
  Verb verb = Verb::Show;
  ShowWhat what = ShowWhat::Version;  // Show
  std::string target;                 // database (Pause..Enable), client id (KillClient), key (Set)
  std::string value;                  // Set
  bool wait_for_clients = false;      // Shutdown

  // Whether a stats_users member may run it (only SHOW).
  bool read_only() const { return verb == Verb::Show; }
};

// Parses one statement. Errors: 42601 for a syntax error (with what was expected),
// 0A000 for a command the console does not support; the message names the command.
Result<Command> parse_command(std::string_view sql);

// The command tag for CommandComplete ("SHOW", "PAUSE", ...).
std::string command_tag(const Command& command);

}  // namespace reservoir::admin

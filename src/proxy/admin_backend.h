#pragma once
// What the admin console needs from the process: a snapshot to SHOW and a way to run the
// commands that change things. Implemented by the App, which owns pools, sessions and the
// configuration.
#include "admin/command.h"
#include "admin/snapshot.h"
#include "proxy/net.h"

namespace reservoir::proxy {

class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  // Everything SHOW can display, taken now. Any thread.
  virtual admin::Snapshot admin_snapshot() = 0;
  // Runs a command other than SHOW; an error goes to the console client as is. PAUSE waits
  // until the paused pools have no server in use. `ex` is the caller's executor.
  virtual Task<Status> admin_run(const admin::Command& command, Executor ex) = 0;
};

// Whether `database` names the admin console ("reservoir", or "pgbouncer" for PgBouncer's
// tools and scripts).
inline bool is_admin_database(const std::string& database) {
  return database == "reservoir" || database == "pgbouncer";
}

}  // namespace reservoir::proxy

#pragma once
// Pure decisions about a pool, in the spirit of Envoy's conn_pool and PgDog's should_create():
// each returns a verdict plus the reason, so callers can log and count why nothing happened.
#include <string_view>

#include "pool/limits.h"

namespace reservoir::pool {

struct PoolCounts {
  int idle = 0;        // open, clean, waiting in the idle list
  int active = 0;      // lent to a client
  int connecting = 0;  // being opened or logged in
  int waiting = 0;     // clients queued for a server
  int total() const { return idle + active + connecting; }
};

enum class ConnectVerdict {
  Connect,       // open one more server
  NoDemand,      // every waiter is already covered by a connect in flight
  PoolFull,      // pool_size reached
  DbLimit,       // max_db_connections reached for this database
  UserLimit,     // max_user_connections reached for this user
};

std::string_view to_string(ConnectVerdict v);

// Whether one more server should be opened now, given demand (waiters and min_pool_size)
// and every limit that applies.
ConnectVerdict should_connect(const PoolCounts& counts, const PoolLimits& limits,
                              const SharedBudget& db, const SharedBudget& user);

}  // namespace reservoir::pool

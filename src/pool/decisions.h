#pragma once
// Pure decisions about a pool, in the spirit of Envoy's conn_pool and PgDog's should_create():
// each returns a verdict plus the reason, so callers can log and count why nothing happened.
#include <string_view>

#include "pool/limits.h"

namespace reservoir::pool {

struct PoolCounts {
  int idle = 0;             // open, clean, waiting in the idle list
  int active = 0;           // lent to a client
  int connecting = 0;       // being opened or logged in
  int waiting = 0;          // clients queued for a server
  Duration longest_wait{};  // how long the head of the queue has waited
  int total() const { return idle + active + connecting; }
};

enum class ConnectVerdict {
  Connect,    // open one more server
  NoDemand,   // every waiter is already covered by a connect in flight
  PoolFull,   // pool_size reached (and the reserve is not open, or full too)
  DbLimit,    // max_db_connections reached for this database
  UserLimit,  // max_user_connections reached for this user
};

std::string_view to_string(ConnectVerdict v);

// The most servers the pool may hold right now: pool_size, plus the reserve when open.
int capacity(const PoolCounts& counts, const PoolLimits& limits);

// Whether one more server should be opened now, given demand (waiters and min_pool_size)
// and every limit that applies. The reserve (reserve_pool_size more servers) opens only
// for a queue whose head has waited reserve_pool_timeout.
ConnectVerdict should_connect(const PoolCounts& counts, const PoolLimits& limits,
                              const SharedBudget& db, const SharedBudget& user);

}  // namespace reservoir::pool

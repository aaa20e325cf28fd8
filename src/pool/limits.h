#pragma once
// The numbers that bound one pool, resolved from the config for a (database, user) pair.
#include "common/clock.h"

namespace reservoir::pool {

struct PoolLimits {
  int pool_size = 20;         // servers this pool may hold (idle + active + connecting)
  int min_pool_size = 0;      // servers kept open even without demand
  int reserve_pool_size = 0;  // extra servers for clients that waited reserve_pool_timeout
  Duration reserve_pool_timeout = std::chrono::seconds(5);
  int max_waiting_clients = 0;  // 0: unlimited queue
  Duration server_lifetime = std::chrono::hours(1);
  Duration server_idle_timeout = std::chrono::minutes(10);
};

// Connections held against limits shared by several pools: all pools of one database
// (max_db_connections) and all pools of one user (max_user_connections). 0 = unlimited.
struct SharedBudget {
  int limit = 0;
  int used = 0;
  bool exhausted() const { return limit > 0 && used >= limit; }
};

}  // namespace reservoir::pool

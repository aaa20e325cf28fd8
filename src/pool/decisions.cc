#include "pool/decisions.h"

namespace reservoir::pool {

std::string_view to_string(ConnectVerdict v) {
  switch (v) {
    case ConnectVerdict::Connect:
      return "connect";
    case ConnectVerdict::NoDemand:
      return "no demand";
    case ConnectVerdict::PoolFull:
      return "pool_size reached";
    case ConnectVerdict::DbLimit:
      return "max_db_connections reached";
    case ConnectVerdict::UserLimit:
      return "max_user_connections reached";
  }
  return "?";
}

int capacity(const PoolCounts& c, const PoolLimits& limits) {
  const bool reserve_open = limits.reserve_pool_size > 0 && c.waiting > 0 &&
                            c.longest_wait >= limits.reserve_pool_timeout;
  return limits.pool_size + (reserve_open ? limits.reserve_pool_size : 0);
}

ConnectVerdict should_connect(const PoolCounts& c, const PoolLimits& limits, const SharedBudget& db,
                              const SharedBudget& user) {
  // Demand: waiters not yet covered by a connect in flight, or a pool below its minimum.
  const bool waiters_uncovered = c.waiting > c.connecting;
  const bool below_minimum = c.total() < limits.min_pool_size;
  if (!waiters_uncovered && !below_minimum) return ConnectVerdict::NoDemand;
  if (c.total() >= capacity(c, limits)) return ConnectVerdict::PoolFull;
  if (db.exhausted()) return ConnectVerdict::DbLimit;
  if (user.exhausted()) return ConnectVerdict::UserLimit;
  return ConnectVerdict::Connect;
}

}  // namespace reservoir::pool

#pragma once
// PoolRegistry: every (database, user) pool, shared by all workers. It wraps the pure
// pool::Pool with the one lock that guards pool state, turns the pool's decisions into
// actions (open a server, wake a waiter, close a server), and owns the shared limits
// (max_db_connections, max_user_connections). Capacity is never split per worker.
//
// Locking: one mutex, held only for bookkeeping (no I/O, no coroutine suspension inside).
// Waking a waiter on another worker is a post() to that worker's loop.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "auth/userlist.h"
#include "common/fast_mutex.h"
#include "config/config.h"
#include "observability/metrics.h"
#include "observability/report.h"
#include "pool/pool.h"
#include "proxy/net.h"
#include "proxy/server_conn.h"

namespace reservoir::proxy {

using ServerPool = pool::Pool<ServerPtr>;
using Lease = ServerPool::Lease;

// A client waiting for a server. The registry fills `lease` or `error` (or sets
// `notice_due`) under its lock, then notifies `wake` on the waiter's own loop. The deadline
// and the notice are the sweep's (expire_waiters), so no timer is armed per wait.
struct Waiter {
  explicit Waiter(const Executor& ex) : wake(ex) {}
  Signal wake;
  pool::WaiterId id = 0;
  TimePoint started{};
  bool wants_notice = false;  // NOTICE the client once query_wait_notify has passed
  bool notice_due = false;
  std::optional<Lease> lease;
  std::optional<Error> error;
};

// What the registry knows about one pool; lives as long as the registry.
struct PoolState {
  std::string database;  // the name the client asked for
  std::string user;      // the client's user name
  config::PoolMode mode = config::PoolMode::Session;
  ServerPool pool;
  std::shared_ptr<const ServerTarget> target;
  pool::SharedBudget* db_budget = nullptr;
  pool::SharedBudget* user_budget = nullptr;
  std::unordered_map<pool::WaiterId, std::shared_ptr<Waiter>> waiters;
  Duration retry_delay{};  // backoff after a failed connect; zero after a success
  bool retry_scheduled = false;
  std::string last_connect_error;
  // Settings the hot path needs, copied here (under the registry lock) at creation and on
  // reload, so lending a server reads no shared configuration.
  struct Timings {
    Duration query_wait_timeout{};  // zero: wait forever
    Duration query_wait_notify{};   // zero: no NOTICE
    Duration server_check_delay{};
    std::string server_check_query;
  } timings;
  // ParameterStatus values of the newest server: what a client of a transaction pool is
  // shown at login without being lent a server.
  // Replaced whole, never changed in place: a client keeps its snapshot without the lock.
  std::shared_ptr<const ServerParams> server_params;
  // Setting names a server of this pool has accepted from a client's startup packet.
  std::set<std::string, std::less<>> known_settings;
  // Transaction mode: clients pinned to their server (LISTEN, advisory locks, temporary
  // tables, WITH HOLD cursors, SQL PREPARE) and unpinned again, since the pool was made.
  std::atomic<std::uint64_t> pins{0};
  std::atomic<std::uint64_t> unpins{0};
  // Counters and histograms, one cell per worker (see observability/metrics.h).
  std::unique_ptr<observability::PoolMetrics> metrics;
  int peak_in_use = 0;  // most servers lent at once since start (under the registry lock)
  // PAUSE: new requests wait (within query_wait_timeout) until RESUME. Written under the
  // registry lock, read without it by acquire() (a plain load, no lock on the hot path).
  std::atomic<bool> paused{false};

  PoolState(pool::PoolLimits limits, int workers)
      : pool(limits), metrics(std::make_unique<observability::PoolMetrics>(workers)) {}
  // This thread's metrics cell (every writer runs on a worker thread).
  observability::PoolMetricsCell& stats() { return metrics->cell(worker_index()); }
  std::string name() const { return database + "/" + user; }
};

class PoolRegistry {
 public:
  PoolRegistry(std::shared_ptr<const config::Config> config,
               std::shared_ptr<const auth::CredentialStore> credentials);

  // The pool a client of `database` as `user` uses, created on first use.
  // 3D000 when neither the database nor "*" is in [databases].
  Result<PoolState*> find_pool(const std::string& database, const std::string& user);

  // Called while a client waits, once query_wait_notify has passed, with its place in line.
  using WaitNotice = std::function<void(int position)>;

  // Waits (FIFO) for a clean, live server up to query_wait_timeout; the lease's socket is bound to
  // `ex`. A server idle longer than server_check_delay is checked first. Errors: 53300 when
  // the queue is full or the wait timed out (the message says what ran out and what to
  // change), or the error PostgreSQL gave when logging in failed.
  // `spare`: where the caller keeps a Waiter between its waits (on `ex`), so that a client
  // that waits often builds its waiter once; a waiter still referenced elsewhere
  // (a wake-up not yet run) is not reused.
  Task<Result<Lease>> acquire(PoolState& ps, Executor ex, WaitNotice notice = {},
                              std::shared_ptr<Waiter>* spare = nullptr);

  // Ends the waits that ran past query_wait_timeout (53300), marks the notices that
  // query_wait_notify asks for, and opens reserve servers for clients waiting past
  // reserve_pool_timeout (on `ex`). Called ten times a second: that is the precision of all
  // three.
  void expire_waiters(TimePoint now, const Executor& ex);

  // acquire()'s common case without a coroutine frame: the pool is not paused, nobody waits,
  // and the idle server it would lend was back from a transaction too recently for any check
  // (see check_server). Then that server, bound to `ex`; otherwise nullopt, nothing taken,
  // and the caller co_awaits acquire().
  // `now`: a clock reading the caller takes anyway.
  std::optional<Lease> try_acquire_now(PoolState& ps, const Executor& ex, TimePoint now);

  // Whether servers of this pool accepted every one of these setting names before; a client
  // asking for a new one is lent a server at login, so a bad name fails there, as in
  // PostgreSQL. learn_settings() records names that worked.
  bool settings_known(PoolState& ps, const std::vector<std::pair<std::string, std::string>>& s);
  void learn_settings(PoolState& ps, const std::vector<std::pair<std::string, std::string>>& s);

  // The ParameterStatus values of the pool's newest server (nullptr before the first login).
  std::shared_ptr<const ServerParams> server_params(PoolState& ps);

  // Applies a reloaded configuration: pool sizes and limits change at once, servers whose
  // login changed are replaced as they come back, idle servers beyond a smaller size close.
  void reload(std::shared_ptr<const config::Config> config,
              std::shared_ptr<const auth::CredentialStore> credentials, const Executor& ex);

  // Gives back a clean server (idle, ReadyForQuery 'I', reset done).
  void release(PoolState& ps, Lease&& lease, const Executor& ex,
               TimePoint now = SteadyClock::now());

  // Closes a server that cannot be reused (dead, dirty, or busy when its client left).
  void discard(PoolState& ps, Lease lease, const Executor& ex);

  // Remembers the SCRAM ClientKey recovered from a client's login, so that servers can be
  // logged into when auth_file holds only a SCRAM secret (as PgBouncer does).
  void learn_scram_key(PoolState& ps, const Bytes& client_key);

  // Periodic upkeep: closes idle servers past their lifetime or idle timeout and opens
  // servers up to min_pool_size. `ex` runs the connects.
  void maintain(const Executor& ex);

  // Shutdown: wakes every waiting client with `error` and closes every idle server.
  void shut_down(const Error& error);

  // How many worker threads write metrics; set once before the first pool is created.
  void set_workers(int workers) { workers_ = workers; }

  // A snapshot of every pool: gauges under the lock, counters merged from all workers.
  // `clients` and `long_transactions` are left for the caller (they live in the sessions).
  std::vector<observability::PoolReport> reports();

  // --- Admin console actions. `database` empty means every database. ---
  // Errors: 3D000 when no pool or [databases] entry has that name.
  Status pause(const std::string& database);
  Status resume(const std::string& database);
  // Whether no server of the database's pools is lent to a client.
  bool drained(const std::string& database);
  // Closes the idle servers of the database's pools; returns how many.
  int close_idle(const std::string& database);
  // Closes idle servers now and servers in use when they come back (a new generation).
  Status reconnect(const std::string& database);
  // DISABLE: new clients of the database are refused (57P03) until ENABLE.
  Status disable(const std::string& database);
  Status enable(const std::string& database);
  bool disabled(const std::string& database);
  bool paused_all();
  // Idle servers, for SHOW SERVERS (servers in use are listed from their clients).
  struct IdleServer {
    std::string database, user, host;
    int port = 0;
    std::uint64_t id = 0;
    int backend_pid = 0;
  };
  std::vector<IdleServer> idle_servers();

  std::shared_ptr<const config::Config> config() {
    Guard lock(mu_);
    return config_;
  }

 private:
  using Guard = std::lock_guard<FastMutex>;

  // Under lock; returns how many connects to start. `now` only matters while clients wait.
  int plan_connects(PoolState& ps, TimePoint now = SteadyClock::now());
  bool evict_idle_for(PoolState& ps);                                         // under lock
  std::vector<std::pair<PoolState*, int>> unblock_neighbours(PoolState& ps);  // under lock
  void spawn_connects(PoolState& ps, const Executor& ex, int count);
  Task<void> connect_one(PoolState& ps, Executor ex);
  void connect_failed(PoolState& ps, const Error& error, const Executor& ex);  // under lock
  void dispatch(PoolState& ps, ServerPool::Released released);                 // under lock
  void expire_waiters(PoolState& ps, TimePoint now);                           // under lock
  void wake(const std::shared_ptr<Waiter>& waiter);                            // under lock
  void close_server(PoolState& ps, Lease& lease);                              // under lock
  Error exhausted_error(const PoolState& ps, Duration waited) const;
  Task<bool> check_server(PoolState& ps, Lease& lease, Duration check_delay);
  void set_timings(PoolState& ps) const;  // under lock
  std::shared_ptr<const ServerTarget> make_target(const config::DatabaseEntry& entry,
                                                  const std::string& user) const;
  pool::PoolLimits limits_for(const config::DatabaseEntry& entry, const std::string& user) const;

  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const auth::CredentialStore> credentials_;
  FastMutex mu_;  // held for bookkeeping only, never across I/O
  std::map<std::pair<std::string, std::string>, std::unique_ptr<PoolState>> pools_;
  std::map<std::string, pool::SharedBudget> db_budgets_;
  std::map<std::string, pool::SharedBudget> user_budgets_;
  pool::WaiterId next_waiter_id_ = 1;
  int workers_ = 1;
  bool paused_all_ = false;
  std::set<std::string, std::less<>> paused_;                // PAUSE db
  std::set<std::string, std::less<>> disabled_;              // DISABLE db
  Status known_database(const std::string& database) const;  // under lock
};

}  // namespace reservoir::proxy

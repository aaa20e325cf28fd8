#include "proxy/pool_registry.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include "proxy/server_query.h"

namespace reservoir::proxy {

namespace {

constexpr Duration kFirstRetryDelay = std::chrono::milliseconds(100);
constexpr Duration kPeekAfterIdle = std::chrono::milliseconds(100);

// Doubles the backoff up to `cap`, with up to 20% jitter so pools do not retry in step.
Duration next_retry_delay(Duration current, Duration cap) {
  Duration next = current == Duration::zero() ? kFirstRetryDelay : current * 2;
  if (next > cap) next = cap;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.8, 1.0);
  return std::chrono::duration_cast<Duration>(next * jitter(rng));
}

// Up to 10% of server_lifetime earlier, so servers opened together do not expire together.
TimePoint born_with_jitter(const PoolState& ps, TimePoint now) {
  const Duration lifetime = ps.pool.limits().server_lifetime;
  if (lifetime == Duration::max()) return now;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> share(0.0, 0.1);
  return now - std::chrono::duration_cast<Duration>(lifetime * share(rng));
}

// Whether a server lent at `now` has been idle for less than `limit` (a new one has not
// been idle at all).
bool idle_under(const Lease& lease, TimePoint now, Duration limit) {
  return lease.idle_since == TimePoint{} || now - lease.idle_since < limit;
}

// Whether a server lent at `now` needs no check_server() work: neither the liveness peek
// nor server_check_query is due.
bool needs_no_check(const Lease& lease, TimePoint now, Duration check_delay) {
  return idle_under(lease, now, std::min(kPeekAfterIdle, check_delay));
}

}  // namespace

PoolRegistry::PoolRegistry(std::shared_ptr<const config::Config> config,
                           std::shared_ptr<const auth::CredentialStore> credentials)
    : config_(std::move(config)), credentials_(std::move(credentials)) {
  set_server_answer_limit(to_duration(config_->settings.server_connect_timeout));
}

pool::PoolLimits PoolRegistry::limits_for(const config::DatabaseEntry& entry,
                                          const std::string& user) const {
  const auto& s = config_->settings;
  const config::UserEntry* u = config_->find_user(user);
  pool::PoolLimits l;
  l.pool_size = s.default_pool_size;
  if (entry.pool_size) l.pool_size = *entry.pool_size;
  if (u && u->pool_size) l.pool_size = *u->pool_size;
  l.min_pool_size = entry.min_pool_size.value_or(s.min_pool_size);
  l.reserve_pool_size = entry.reserve_pool_size.value_or(s.reserve_pool_size);
  if (u && u->reserve_pool_size) l.reserve_pool_size = *u->reserve_pool_size;
  l.reserve_pool_timeout = to_duration(s.reserve_pool_timeout);
  l.max_waiting_clients = s.max_waiting_clients;
  l.server_lifetime = to_duration(s.server_lifetime);
  l.server_idle_timeout = to_duration(s.server_idle_timeout);
  if (s.server_lifetime.count() <= 0) l.server_lifetime = Duration::max();
  if (s.server_idle_timeout.count() <= 0) l.server_idle_timeout = Duration::max();
  return l;
}

std::shared_ptr<const ServerTarget> PoolRegistry::make_target(const config::DatabaseEntry& entry,
                                                              const std::string& user) const {
  auto t = std::make_shared<ServerTarget>();
  t->host = entry.host;
  t->port = entry.port;
  t->dbname = entry.dbname;  // empty: filled in with the requested name by find_pool
  t->user = entry.user.empty() ? user : entry.user;
  t->connect_timeout = to_duration(config_->settings.server_connect_timeout);
  t->dns_max_ttl = to_duration(config_->settings.dns_max_ttl);
  t->dns_nxdomain_ttl = to_duration(config_->settings.dns_nxdomain_ttl);
  t->tcp = TcpOptions::from(config_->settings);
  if (!entry.password.empty()) {
    t->password = entry.password;
  } else if (const auth::Secret* secret = credentials_->find(t->user)) {
    switch (secret->kind) {
      case auth::Secret::Kind::Plain:
        t->password = secret->text;
        break;
      case auth::Secret::Kind::Md5:
        t->md5_hash = secret->md5;
        break;
      case auth::Secret::Kind::Scram:
        t->scram_secret = secret->scram;
        break;
    }
  }
  if (!entry.application_name.empty())
    t->extra_params.emplace_back("application_name", entry.application_name);
  if (!entry.client_encoding.empty())
    t->extra_params.emplace_back("client_encoding", entry.client_encoding);
  if (!entry.datestyle.empty()) t->extra_params.emplace_back("datestyle", entry.datestyle);
  if (!entry.timezone.empty()) t->extra_params.emplace_back("timezone", entry.timezone);
  return t;
}

Result<PoolState*> PoolRegistry::find_pool(const std::string& database, const std::string& user) {
  Guard lock(mu_);
  auto key = std::make_pair(database, user);
  if (disabled_.count(database) != 0) {
    return make_error("57P03", fmt::format("database \"{}\" is disabled (DISABLE on the admin "
                                           "console; ENABLE lets clients in again)",
                                           database));
  }
  if (auto it = pools_.find(key); it != pools_.end()) return it->second.get();
  const config::DatabaseEntry* entry = config_->find_database(database);
  if (entry == nullptr) {
    return make_error("3D000", fmt::format("database \"{}\" does not exist", database));
  }
  auto ps = std::make_unique<PoolState>(limits_for(*entry, user), workers_);
  ps->paused = paused_all_ || paused_.count(database) != 0;
  ps->database = database;
  ps->user = user;
  const config::UserEntry* u = config_->find_user(user);
  ps->mode =
      u && u->pool_mode ? *u->pool_mode : entry->pool_mode.value_or(config_->settings.pool_mode);
  auto target = make_target(*entry, user);
  if (target->dbname.empty()) std::const_pointer_cast<ServerTarget>(target)->dbname = database;
  ps->target = std::move(target);
  set_timings(*ps);
  auto& db = db_budgets_[entry->name == "*" ? database : entry->name];
  db.limit = entry->max_db_connections.value_or(config_->settings.max_db_connections);
  auto& ub = user_budgets_[user];
  ub.limit = u && u->max_user_connections ? *u->max_user_connections
                                          : config_->settings.max_user_connections;
  ps->db_budget = &db;
  ps->user_budget = &ub;
  spdlog::debug("pool {} created (pool_size={}, mode={})", ps->name(), ps->pool.limits().pool_size,
                config::to_string(ps->mode));
  return pools_.emplace(key, std::move(ps)).first->second.get();
}

int PoolRegistry::plan_connects(PoolState& ps, TimePoint now) {
  int count = 0;
  for (;;) {
    const auto verdict = ps.pool.connect_verdict(*ps.db_budget, *ps.user_budget, now);
    if (verdict == pool::ConnectVerdict::Connect) {
      ps.pool.connect_started();
      ++ps.db_budget->used;
      ++ps.user_budget->used;
      ++count;
    } else if ((verdict == pool::ConnectVerdict::DbLimit ||
                verdict == pool::ConnectVerdict::UserLimit) &&
               evict_idle_for(ps)) {
      continue;  // an idle server of a neighbouring pool made room
    } else {
      return count;
    }
  }
}

// Closes one idle server of another pool that shares an exhausted budget with `ps`.
bool PoolRegistry::evict_idle_for(PoolState& ps) {
  for (auto& [key, other] : pools_) {
    if (other.get() == &ps) continue;
    const bool shares = (ps.db_budget->exhausted() && other->db_budget == ps.db_budget) ||
                        (ps.user_budget->exhausted() && other->user_budget == ps.user_budget);
    if (!shares) continue;
    if (auto lease = other->pool.take_oldest_idle()) {
      spdlog::debug("pool {}: closing an idle server so that pool {} can connect", other->name(),
                    ps.name());
      close_server(*other, *lease);
      return true;
    }
  }
  return false;
}

// After a release under an exhausted shared limit (the caller checks): neighbours blocked
// by it may now connect.
std::vector<std::pair<PoolState*, int>> PoolRegistry::unblock_neighbours(PoolState& ps) {
  std::vector<std::pair<PoolState*, int>> connects;
  for (auto& [key, other] : pools_) {
    if (other.get() == &ps || other->pool.counts().waiting == 0) continue;
    if (other->db_budget != ps.db_budget && other->user_budget != ps.user_budget) continue;
    if (int n = plan_connects(*other); n > 0) connects.emplace_back(other.get(), n);
  }
  return connects;
}

void PoolRegistry::spawn_connects(PoolState& ps, const Executor& ex, int count) {
  for (int i = 0; i < count; ++i) asio::co_spawn(ex, connect_one(ps, ex), asio::detached);
}

Task<void> PoolRegistry::connect_one(PoolState& ps, Executor ex) {
  std::shared_ptr<const ServerTarget> target;
  {
    Guard lock(mu_);
    target = ps.target;
  }
  auto server = co_await open_server(ex, target);
  int more = 0;
  {
    Guard lock(mu_);
    if (server) {
      if (!ps.last_connect_error.empty())
        spdlog::info("pool {}: server login works again", ps.name());
      spdlog::debug("pool {}: server {} connected (backend pid {})", ps.name(), (*server)->id(),
                    (*server)->backend_pid());
      ps.retry_delay = Duration::zero();
      ps.last_connect_error.clear();
      ps.stats().server_connections.add();
      ps.server_params = std::make_shared<const ServerParams>((*server)->reported_params());
      const TimePoint now = SteadyClock::now();
      Lease lease{std::move(*server), born_with_jitter(ps, now)};
      lease.home = worker_index();
      dispatch(ps, ps.pool.connect_succeeded(std::move(lease), now));
      ps.peak_in_use = std::max(ps.peak_in_use, ps.pool.counts().active);
      more = plan_connects(ps);
    } else {
      connect_failed(ps, server.error(), ex);
    }
  }
  spawn_connects(ps, ex, more);
}

void PoolRegistry::connect_failed(PoolState& ps, const Error& error, const Executor& ex) {
  ps.pool.connect_failed();
  ps.stats().server_connect_failures.add();
  --ps.db_budget->used;
  --ps.user_budget->used;
  // One warning per distinct failure, not one per retry, while PostgreSQL stays down.
  const auto level =
      ps.last_connect_error == error.message ? spdlog::level::debug : spdlog::level::warn;
  spdlog::log(level, "pool {}: server login failed: {} (SQLSTATE {})", ps.name(), error.message,
              error.sqlstate);
  ps.last_connect_error = error.message;
  if (is_server_refusal(error)) {
    // Retrying cannot help (bad password, unknown database): tell every waiter now.
    for (auto id : ps.pool.take_all_waiters()) {
      auto it = ps.waiters.find(id);
      if (it == ps.waiters.end()) continue;
      it->second->error = error;
      wake(it->second);
      ps.waiters.erase(it);
    }
    return;
  }
  if (ps.retry_scheduled || ps.pool.counts().waiting == 0) return;
  ps.retry_scheduled = true;
  ps.retry_delay =
      next_retry_delay(ps.retry_delay, to_duration(config_->settings.server_login_retry));
  auto timer = std::make_shared<Timer>(ex, ps.retry_delay);
  timer->async_wait([this, &ps, timer, ex](const boost::system::error_code&) {
    int count;
    {
      Guard lock(mu_);
      ps.retry_scheduled = false;
      count = plan_connects(ps);
    }
    spawn_connects(ps, ex, count);
  });
}

// Resumes the waiter from its loop's queue, after what is already ready there. For a server
// released on the waiter's own loop this is PgBouncer's per-loop hand-off: the server goes to
// the next waiting client once the loop has handled the events of this round. Resuming the
// waiter inside the release instead (measured) cut that hand-off from about 400 to 13
// microseconds at 500 clients but cost throughput on two cores: more context switches per
// transaction, and no batching of the sends to PostgreSQL.
void PoolRegistry::wake(const std::shared_ptr<Waiter>& waiter) {
  // The waiter's Signal is touched only on its own loop (from another, one post gets there).
  if (waiter->wake.executor().running_in_this_thread()) return waiter->wake.notify();
  asio::post(waiter->wake.executor(), [waiter] { waiter->wake.notify_here(); });
}

void PoolRegistry::dispatch(PoolState& ps, ServerPool::Released released) {
  switch (released.kind) {
    case ServerPool::ReleaseKind::ToIdle:
      return;
    case ServerPool::ReleaseKind::ToWaiter: {
      auto it = ps.waiters.find(released.waiter);
      if (it == ps.waiters.end()) {  // cannot happen: waiters leave the pool and map together
        spdlog::error("pool {}: hand-off to unknown waiter {}", ps.name(), released.waiter);
        ps.pool.discard_active();
        close_server(ps, *released.lease);
        return;
      }
      it->second->lease = std::move(released.lease);
      wake(it->second);
      ps.waiters.erase(it);
      return;
    }
    case ServerPool::ReleaseKind::Close:
      spdlog::debug("pool {}: server {} reached server_lifetime, closing", ps.name(),
                    released.lease->server->id());
      close_server(ps, *released.lease);
      return;
  }
}

void PoolRegistry::expire_waiters(TimePoint now, const Executor& ex) {
  std::vector<std::pair<PoolState*, int>> connects;
  {
    Guard lock(mu_);
    for (auto& [key, ps] : pools_) {
      if (ps->waiters.empty()) continue;
      expire_waiters(*ps, now);
      // Clients still waiting: those past reserve_pool_timeout may open reserve servers.
      if (!ps->waiters.empty()) connects.emplace_back(ps.get(), plan_connects(*ps, now));
    }
  }
  for (auto& [ps, count] : connects) spawn_connects(*ps, ex, count);
}

void PoolRegistry::expire_waiters(PoolState& ps, TimePoint now) {
  const auto& t = ps.timings;
  for (auto it = ps.waiters.begin(); it != ps.waiters.end();) {
    Waiter& w = *it->second;
    const Duration waited = now - w.started;
    if (t.query_wait_timeout > Duration::zero() && waited >= t.query_wait_timeout) {
      ps.pool.cancel_wait(w.id);
      ps.stats().wait_timeouts.add();
      ps.stats().wait_time.observe(waited);
      w.error = exhausted_error(ps, waited);
      wake(it->second);
      it = ps.waiters.erase(it);
      continue;
    }
    if (w.wants_notice && t.query_wait_notify > Duration::zero() && waited >= t.query_wait_notify) {
      w.wants_notice = false;
      w.notice_due = true;
      wake(it->second);
    }
    ++it;
  }
}

void PoolRegistry::close_server(PoolState& ps, Lease& lease) {
  --ps.db_budget->used;
  --ps.user_budget->used;
  if (lease.server) lease.server->close();
}

Error PoolRegistry::exhausted_error(const PoolState& ps, Duration waited) const {
  const auto c = ps.pool.counts();
  const double seconds = std::chrono::duration<double>(waited).count();
  std::string msg = fmt::format(
      "pool \"{}\" exhausted: waited {:.1f} s for a server connection (pool_size={}, "
      "reserve_pool_size={}, {} in use, {} waiting); raise pool_size or query_wait_timeout",
      ps.name(), seconds, ps.pool.limits().pool_size, ps.pool.limits().reserve_pool_size, c.active,
      c.waiting);
  if (!ps.last_connect_error.empty()) msg += "; last server login error: " + ps.last_connect_error;
  return make_error("53300", std::move(msg));
}

void PoolRegistry::set_timings(PoolState& ps) const {
  const auto& st = config_->settings;
  ps.timings.query_wait_timeout = to_duration(st.query_wait_timeout);
  ps.timings.query_wait_notify = to_duration(st.query_wait_notify);
  ps.timings.server_check_delay = to_duration(st.server_check_delay);
  ps.timings.server_check_query = st.server_check_query;
}

Task<Result<Lease>> PoolRegistry::acquire(PoolState& ps, Executor ex, WaitNotice notice,
                                          std::shared_ptr<Waiter>* spare) {
  const TimePoint started = SteadyClock::now();
  while (ps.paused.load(std::memory_order_relaxed)) {  // PAUSE: wait for RESUME
    Duration limit;
    {
      Guard lock(mu_);
      limit = ps.timings.query_wait_timeout;
    }
    const TimePoint now = SteadyClock::now();
    if (limit > Duration::zero() && now - started >= limit) {
      ps.stats().wait_timeouts.add();
      co_return make_error("53300", fmt::format("pool \"{}\" is paused (PAUSE on the admin "
                                                "console) and query_wait_timeout ran out",
                                                ps.name()));
    }
    Timer poll(ex, std::chrono::milliseconds(20));
    (void)co_await poll.async_wait(nothrow);
  }
  bool noticed = !notice;  // a NOTICE at most once per wait
  for (;;) {
    std::shared_ptr<Waiter> waiter;  // made (or reused) only when the client has to wait
    std::optional<Lease> got;
    Duration check_delay;
    int connects = 0;
    {
      Guard lock(mu_);
      check_delay = ps.timings.server_check_delay;
      const pool::WaiterId id = next_waiter_id_++;
      auto a = ps.pool.acquire(id, started, worker_index());
      if (a.status == ServerPool::AcquireStatus::QueueFull) {
        co_return make_error(
            "53300",
            fmt::format("pool \"{}\" has {} clients waiting, the limit set by max_waiting_clients; "
                        "raise max_waiting_clients or pool_size",
                        ps.name(), ps.pool.counts().waiting));
      }
      if (a.status == ServerPool::AcquireStatus::Ready) {
        got = std::move(a.lease);
        ps.peak_in_use = std::max(ps.peak_in_use, ps.pool.active());
      } else {
        if (spare != nullptr && *spare && spare->use_count() == 1) {
          waiter = *spare;  // nobody else holds it: no wake-up of an earlier wait is pending
          waiter->lease.reset();
          waiter->error.reset();
        } else {
          waiter = std::make_shared<Waiter>(ex);
          if (spare != nullptr) *spare = waiter;
        }
        waiter->id = id;
        waiter->started = started;
        waiter->wants_notice = !noticed;
        waiter->notice_due = false;
        ps.waiters.emplace(id, waiter);
        connects = plan_connects(ps);
      }
    }
    spawn_connects(ps, ex, connects);
    while (!got) {
      (void)co_await waiter->wake.wait();
      Guard lock(mu_);
      if (waiter->lease) {
        got = std::move(waiter->lease);
      } else if (waiter->error) {
        co_return *waiter->error;
      } else if (waiter->notice_due) {
        waiter->notice_due = false;
        noticed = true;
        notice(ps.pool.position(waiter->id));
      }
    }
    if (!needs_no_check(*got, SteadyClock::now(), check_delay) &&
        !co_await check_server(ps, *got, check_delay)) {
      continue;
    }
    got->server->rebind(ex);
    ps.stats().wait_time.observe(SteadyClock::now() - started);
    co_return std::move(*got);
  }
}

std::optional<Lease> PoolRegistry::try_acquire_now(PoolState& ps, const Executor& ex,
                                                   TimePoint now) {
  if (ps.paused.load(std::memory_order_relaxed)) return std::nullopt;
  const int home = worker_index();
  std::optional<Lease> got;
  {
    Guard lock(mu_);
    got = ps.pool.acquire_idle_if(home, [&](const Lease& next) {
      return needs_no_check(next, now, ps.timings.server_check_delay);
    });
    if (!got) return std::nullopt;
    ps.peak_in_use = std::max(ps.peak_in_use, ps.pool.active());
  }
  got->server->rebind(ex);
  ps.stats().wait_time.observe(Duration::zero());  // a server was ready: no wait
  return got;
}

// A lent server must be alive; one idle longer than server_check_delay also runs
// server_check_query. A failed server is closed and the caller tries again.
Task<bool> PoolRegistry::check_server(PoolState& ps, Lease& lease, Duration check_delay) {
  const Executor ex = lease.server->socket().get_executor();
  // A server back from a transaction moments ago is alive: skip the peek (a syscall) on the
  // hot path. Longer-idle servers are also swept by maintain() twice a second.
  const TimePoint now = SteadyClock::now();
  if (!idle_under(lease, now, kPeekAfterIdle) && !lease.server->looks_alive()) {
    spdlog::info("pool {}: idle server {} was closed by PostgreSQL; replacing it", ps.name(),
                 lease.server->id());
    discard(ps, std::move(lease), ex);
    co_return false;
  }
  if (idle_under(lease, now, check_delay)) co_return true;
  std::string query;
  {
    Guard lock(mu_);
    query = ps.timings.server_check_query;
  }
  auto checked = co_await run_on_server(*lease.server, query);
  if (checked) co_return true;
  spdlog::info("pool {}: server {} failed server_check_query ({}); replacing it", ps.name(),
               lease.server->id(), checked.error().message);
  discard(ps, std::move(lease), ex);
  co_return false;
}

bool PoolRegistry::settings_known(PoolState& ps,
                                  const std::vector<std::pair<std::string, std::string>>& s) {
  Guard lock(mu_);
  return std::all_of(s.begin(), s.end(),
                     [&](const auto& kv) { return ps.known_settings.count(kv.first) != 0; });
}

void PoolRegistry::learn_settings(PoolState& ps,
                                  const std::vector<std::pair<std::string, std::string>>& s) {
  Guard lock(mu_);
  for (const auto& kv : s) ps.known_settings.insert(kv.first);
}

std::shared_ptr<const ServerParams> PoolRegistry::server_params(PoolState& ps) {
  Guard lock(mu_);
  return ps.server_params;
}

void PoolRegistry::release(PoolState& ps, Lease&& lease, const Executor& ex, TimePoint now) {
  int connects = 0;
  std::vector<std::pair<PoolState*, int>> neighbours;
  {
    Guard lock(mu_);
    if (lease.server->target()->generation != ps.target->generation) {
      // The configuration changed how this pool logs in: replace the server.
      ps.pool.discard_active();
      close_server(ps, lease);
      connects = plan_connects(ps);
    } else {
      lease.home = worker_index();  // its socket is on this worker's loop
      auto released = ps.pool.release(std::move(lease), now);
      // Parked idle (the usual case) or handed to a waiter: the pool is as big as before,
      // so there is nothing new to connect for unless it is below its minimum. (Waiters that
      // have by now waited past reserve_pool_timeout are the sweep's: expire_waiters.) A
      // server closed at server_lifetime is replaced.
      const bool closed = released.kind == ServerPool::ReleaseKind::Close;
      dispatch(ps, std::move(released));
      if (closed || ps.pool.total() < ps.pool.limits().min_pool_size) {
        connects = plan_connects(ps, now);
      }
    }
    if (ps.db_budget->exhausted() || ps.user_budget->exhausted()) {
      neighbours = unblock_neighbours(ps);
    }
  }
  if (connects > 0) spawn_connects(ps, ex, connects);
  for (auto& [other, count] : neighbours) spawn_connects(*other, ex, count);
}

void PoolRegistry::reload(std::shared_ptr<const config::Config> config,
                          std::shared_ptr<const auth::CredentialStore> credentials,
                          const Executor& ex) {
  std::vector<std::pair<PoolState*, int>> connects;
  {
    Guard lock(mu_);
    config_ = std::move(config);
    credentials_ = std::move(credentials);
    set_server_answer_limit(to_duration(config_->settings.server_connect_timeout));
    for (auto& [key, ps] : pools_) {
      const config::DatabaseEntry* entry = config_->find_database(ps->database);
      if (entry == nullptr) continue;  // removed: its clients keep their servers until they leave
      ps->pool.set_limits(limits_for(*entry, ps->user));
      const config::UserEntry* u = config_->find_user(ps->user);
      ps->mode = u && u->pool_mode ? *u->pool_mode
                                   : entry->pool_mode.value_or(config_->settings.pool_mode);
      auto target = std::const_pointer_cast<ServerTarget>(make_target(*entry, ps->user));
      if (target->dbname.empty()) target->dbname = ps->database;
      target->scram_client_key = ps->target->scram_client_key;
      target->generation = ps->target->generation + (target->same_login(*ps->target) ? 0 : 1);
      ps->target = std::move(target);
      set_timings(*ps);
      ps->db_budget->limit =
          entry->max_db_connections.value_or(config_->settings.max_db_connections);
      ps->user_budget->limit = u && u->max_user_connections
                                   ? *u->max_user_connections
                                   : config_->settings.max_user_connections;
      for (auto& lease : ps->pool.take_excess_idle()) close_server(*ps, lease);
      connects.emplace_back(ps.get(), plan_connects(*ps));
    }
  }
  for (auto& [ps, count] : connects) spawn_connects(*ps, ex, count);
}

void PoolRegistry::discard(PoolState& ps, Lease lease, const Executor& ex) {
  int connects = 0;
  {
    Guard lock(mu_);
    ps.pool.discard_active();
    close_server(ps, lease);
    connects = plan_connects(ps);
  }
  spawn_connects(ps, ex, connects);
}

void PoolRegistry::learn_scram_key(PoolState& ps, const Bytes& client_key) {
  Guard lock(mu_);
  if (!ps.target->password.empty() || !ps.target->scram_secret) return;
  if (ps.target->scram_client_key == client_key) return;
  auto t = std::make_shared<ServerTarget>(*ps.target);
  t->scram_client_key = client_key;
  ps.target = std::move(t);
}

void PoolRegistry::maintain(const Executor& ex) {
  std::vector<std::pair<PoolState*, int>> connects;
  {
    Guard lock(mu_);
    const TimePoint now = SteadyClock::now();
    for (auto& [key, ps] : pools_) {
      for (auto& lease : ps->pool.take_stale_idle(now)) close_server(*ps, lease);
      // PostgreSQL may have closed idle servers (restart, pg_terminate_backend): replace them
      // now rather than when a client is lent one.
      auto dead = ps->pool.take_idle_if([](const ServerPtr& s) { return !s->looks_alive(); });
      if (!dead.empty()) {
        spdlog::info("pool {}: {} idle server(s) closed by PostgreSQL; replacing them", ps->name(),
                     dead.size());
      }
      for (auto& lease : dead) close_server(*ps, lease);
      // Only pools that have logged in once warm up, so a bad entry does not spin.
      if (ps->last_connect_error.empty()) connects.emplace_back(ps.get(), plan_connects(*ps));
    }
  }
  for (auto& [ps, count] : connects) spawn_connects(*ps, ex, count);
}

Status PoolRegistry::known_database(const std::string& database) const {
  if (database.empty()) return Ok{};
  for (const auto& entry : config_->databases) {  // by exact name: "*" is not a database
    if (entry.name == database) return Ok{};
  }
  for (const auto& [key, ps] : pools_) {
    if (key.first == database) return Ok{};
  }
  return make_error("3D000", fmt::format("no such database: \"{}\"", database));
}

namespace {
bool matches(const std::string& wanted, const PoolState& ps) {
  return wanted.empty() || ps.database == wanted;
}
}  // namespace

Status PoolRegistry::pause(const std::string& database) {
  Guard lock(mu_);
  if (auto st = known_database(database); !st) return st;
  if (database.empty()) {
    paused_all_ = true;
  } else {
    paused_.insert(database);
  }
  for (auto& [key, ps] : pools_) {
    if (matches(database, *ps)) ps->paused = true;
  }
  return Ok{};
}

Status PoolRegistry::resume(const std::string& database) {
  Guard lock(mu_);
  if (auto st = known_database(database); !st) return st;
  if (database.empty()) {
    paused_all_ = false;
    paused_.clear();
  } else {
    paused_.erase(database);
  }
  for (auto& [key, ps] : pools_) {
    if (matches(database, *ps)) ps->paused = paused_all_ || paused_.count(ps->database) != 0;
  }
  return Ok{};
}

bool PoolRegistry::drained(const std::string& database) {
  Guard lock(mu_);
  for (auto& [key, ps] : pools_) {
    if (matches(database, *ps) && ps->pool.counts().active > 0) return false;
  }
  return true;
}

int PoolRegistry::close_idle(const std::string& database) {
  Guard lock(mu_);
  int closed = 0;
  for (auto& [key, ps] : pools_) {
    if (!matches(database, *ps)) continue;
    for (auto& lease : ps->pool.take_all_idle()) {
      close_server(*ps, lease);
      ++closed;
    }
  }
  return closed;
}

Status PoolRegistry::reconnect(const std::string& database) {
  Guard lock(mu_);
  if (auto st = known_database(database); !st) return st;
  for (auto& [key, ps] : pools_) {
    if (!matches(database, *ps)) continue;
    for (auto& lease : ps->pool.take_all_idle()) close_server(*ps, lease);
    auto t = std::make_shared<ServerTarget>(*ps->target);
    ++t->generation;  // servers in use are closed when they come back (see release)
    ps->target = std::move(t);
  }
  return Ok{};
}

Status PoolRegistry::disable(const std::string& database) {
  Guard lock(mu_);
  if (database.empty()) return make_error("42601", "DISABLE needs a database name");
  if (auto st = known_database(database); !st) return st;
  disabled_.insert(database);
  return Ok{};
}

Status PoolRegistry::enable(const std::string& database) {
  Guard lock(mu_);
  if (auto st = known_database(database); !st) return st;
  disabled_.erase(database);
  return Ok{};
}

bool PoolRegistry::disabled(const std::string& database) {
  Guard lock(mu_);
  return disabled_.count(database) != 0;
}

bool PoolRegistry::paused_all() {
  Guard lock(mu_);
  return paused_all_;
}

std::vector<PoolRegistry::IdleServer> PoolRegistry::idle_servers() {
  std::vector<IdleServer> out;
  Guard lock(mu_);
  for (auto& [key, ps] : pools_) {
    ps->pool.for_each_idle([&](const Lease& lease) {
      const auto& t = lease.server->target();
      out.push_back(IdleServer{ps->database, ps->user, t->host, t->port, lease.server->id(),
                               lease.server->backend_pid()});
    });
  }
  return out;
}

std::vector<observability::PoolReport> PoolRegistry::reports() {
  std::vector<observability::PoolReport> out;
  Guard lock(mu_);
  const TimePoint now = SteadyClock::now();
  out.reserve(pools_.size());
  for (auto& [key, ps] : pools_) {
    observability::PoolReport r;
    r.database = ps->database;
    r.user = ps->user;
    const auto c = ps->pool.counts(now);
    const auto& l = ps->pool.limits();
    auto& g = r.gauges;
    g.mode = config::to_string(ps->mode);
    g.pool_size = l.pool_size;
    g.reserve_pool_size = l.reserve_pool_size;
    g.servers_active = c.active;
    g.servers_idle = c.idle;
    g.servers_connecting = c.connecting;
    g.clients_waiting = c.waiting;
    g.reserve_in_use = std::max(0, c.total() - l.pool_size);
    g.peak_in_use = ps->peak_in_use;
    g.longest_wait_s = std::chrono::duration<double>(c.longest_wait).count();
    g.last_connect_error = ps->last_connect_error;
    g.paused = ps->paused.load(std::memory_order_relaxed);
    r.counters = ps->metrics->snapshot();
    out.push_back(std::move(r));
  }
  return out;
}

void PoolRegistry::shut_down(const Error& error) {
  Guard lock(mu_);
  for (auto& [key, ps] : pools_) {
    for (auto id : ps->pool.take_all_waiters()) {
      auto it = ps->waiters.find(id);
      if (it == ps->waiters.end()) continue;
      it->second->error = error;
      wake(it->second);
    }
    ps->waiters.clear();
    for (auto& lease : ps->pool.take_all_idle()) close_server(*ps, lease);
  }
}

}  // namespace reservoir::proxy

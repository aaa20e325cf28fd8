#pragma once
// Pool<Server>: the pure state of one (database, user) pool. No I/O, no locks, no clock:
// the caller passes `now`, opens and closes servers, and wakes waiters it is told about.
//
// Every server the pool knows of is in exactly one state:
//   connecting  being opened by the proxy; counted so we never overshoot pool_size
//   idle        open and clean, in `idle_` (LIFO: the warmest server is reused first)
//   active      lent to a client (the pool only counts it; the client holds the Lease)
// Clients that find no idle server wait in `waiters_`, first in, first out; a released or
// newly opened server goes straight to a waiter (direct hand-off): the longest one, unless a
// later waiter is on the server's own worker. That one may go first, which saves moving the
// socket between threads and waking another thread, but only while the longest waiter has
// waited less than kPassOverWindow and at most kMaxPassOvers times: overtaking stays within
// a few fast transactions, and a queue of slow ones is served strictly in order.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "pool/decisions.h"
#include "pool/limits.h"

namespace reservoir::pool {

using WaiterId = std::uint64_t;

template <class Server>
class Pool {
 public:
  // A server plus the facts the pool needs about it.
  struct Lease {
    Server server;
    TimePoint born;          // when it was opened (minus jitter); drives server_lifetime
    TimePoint idle_since{};  // when it last went idle; drives server_check_delay
    int home = 0;            // the worker whose event loop the server's socket is on
  };
  struct Handoff {
    WaiterId waiter;
    Lease lease;
  };

  // How often the longest waiter may see a server go to a later waiter on the server's own
  // worker before it is served, whatever worker it is on. A worker releases servers in
  // bursts: one wake-up of its loop handles up to 128 ready sockets (Asio's epoll batch),
  // and under a pooler-bound load many of them are servers' replies. The bound is two such
  // batches, so that a burst keeps its servers home; at 16, one server in five crossed to
  // another worker under `pgbench -c 100` with workers=2 (bench/RESULTS.md, "Server hand-off
  // between workers").
  // kPassOverWindow is what bounds the wait.
  static constexpr int kMaxPassOvers = 256;
  // ... and only during the first this-long of its wait.
  static constexpr Duration kPassOverWindow = std::chrono::milliseconds(5);

  enum class AcquireStatus { Ready, Queued, QueueFull };
  struct Acquired {
    AcquireStatus status;
    std::optional<Lease> lease;  // set when Ready
  };

  enum class ReleaseKind { ToIdle, ToWaiter, Close };
  struct Released {
    ReleaseKind kind;
    WaiterId waiter = 0;         // ToWaiter
    std::optional<Lease> lease;  // ToWaiter: the server to give; Close: the server to close
  };

  explicit Pool(PoolLimits limits) : limits_(limits) {}

  const PoolLimits& limits() const { return limits_; }
  void set_limits(const PoolLimits& limits) { limits_ = limits; }

  PoolCounts counts(TimePoint now = {}) const {
    PoolCounts c{static_cast<int>(idle_.size()), active_, connecting_,
                 static_cast<int>(waiters_.size())};
    if (!waiters_.empty() && now != TimePoint{}) c.longest_wait = now - waiters_.front().since;
    return c;
  }

  // Servers lent to clients now (counts().active, without counting the rest).
  int active() const { return active_; }
  // Servers open or opening (counts().total(), without counting the waiters: every release).
  int total() const { return static_cast<int>(idle_.size()) + active_ + connecting_; }

  // 1-based place of a waiter in the queue; 0 if it is not queued.
  int position(WaiterId id) const {
    for (std::size_t i = 0; i < waiters_.size(); ++i) {
      if (waiters_[i].id == id) return static_cast<int>(i) + 1;
    }
    return 0;
  }

  // A client of worker `home` asks for a server: the warmest idle one already on its
  // worker (no hand-over between threads), else the warmest idle one, else a place in the
  // queue.
  Acquired acquire(WaiterId id, TimePoint now, int home = 0) {
    if (auto it = pick_idle(home); it != idle_.end()) {
      return {AcquireStatus::Ready, lend(it)};
    }
    if (limits_.max_waiting_clients > 0 &&
        static_cast<int>(waiters_.size()) >= limits_.max_waiting_clients) {
      return {AcquireStatus::QueueFull, std::nullopt};
    }
    waiters_.push_back(Waiter{id, now, home});
    return {AcquireStatus::Queued, std::nullopt};
  }

  // The server acquire(id, now, home) would lend now, if `take(lease)` (which looks at it:
  // how long it was idle) says yes; otherwise nothing, and nothing changes (nobody is queued,
  // as when acquire() would queue the caller). For a caller that does not wait.
  template <class Take>
  std::optional<Lease> acquire_idle_if(int home, Take take) {
    auto it = pick_idle(home);
    if (it == idle_.end() || !take(std::as_const(it->lease))) return std::nullopt;
    return lend(it);
  }

  // A client gives its server back clean. Too old: close it. Otherwise hand it to the
  // longest waiter, or park it as idle.
  Released release(Lease&& lease, TimePoint now) {
    const bool over_capacity = total() > limits_.pool_size + limits_.reserve_pool_size;
    if (now - lease.born >= limits_.server_lifetime || over_capacity) {
      --active_;
      return {ReleaseKind::Close, 0, std::move(lease)};
    }
    // It was in use until now: a server handed straight on was idle for no time at all.
    lease.idle_since = now;
    if (!waiters_.empty()) {
      auto pick = waiters_.begin();
      if (pick->home != lease.home && pick->passed_over < kMaxPassOvers &&
          now - pick->since < kPassOverWindow) {
        auto local = std::find_if(std::next(pick), waiters_.end(),
                                  [&](const Waiter& w) { return w.home == lease.home; });
        if (local != waiters_.end()) {
          for (auto i = pick; i != local; ++i) ++i->passed_over;
          pick = local;
        }
      }
      const WaiterId w = pick->id;
      waiters_.erase(pick);
      return {ReleaseKind::ToWaiter, w, std::move(lease)};
    }
    --active_;
    idle_.push_back(IdleEntry{std::move(lease), now});
    return {ReleaseKind::ToIdle, 0, std::nullopt};
  }

  // An active server was closed by its holder (dead, dirty, or its client left mid-query).
  void discard_active() { --active_; }

  void connect_started() { ++connecting_; }
  void connect_failed() { --connecting_; }
  // A server finished logging in: it becomes active and takes the same path as a release.
  Released connect_succeeded(Lease lease, TimePoint now) {
    --connecting_;
    ++active_;
    return release(std::move(lease), now);
  }

  // A waiter gave up (timeout or disconnect). False if it is no longer queued, which means
  // a server was already handed to it: the caller must take that server.
  bool cancel_wait(WaiterId id) {
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [id](const Waiter& w) { return w.id == id; });
    if (it == waiters_.end()) return false;
    waiters_.erase(it);
    return true;
  }

  // Empties the queue (e.g. the server refused our login) and returns who was waiting.
  std::vector<WaiterId> take_all_waiters() {
    std::vector<WaiterId> ids;
    ids.reserve(waiters_.size());
    for (const auto& w : waiters_) ids.push_back(w.id);
    waiters_.clear();
    return ids;
  }

  // How long the longest waiter has waited (zero when nobody waits).
  Duration longest_wait(TimePoint now) const {
    return waiters_.empty() ? Duration::zero() : now - waiters_.front().since;
  }

  // Idle servers past server_idle_timeout (beyond min_pool_size) or past server_lifetime;
  // removed from the pool, for the caller to close.
  std::vector<Lease> take_stale_idle(TimePoint now) {
    std::vector<Lease> stale;
    // Oldest idle first: they sit at the front because parking appends at the back.
    for (auto it = idle_.begin(); it != idle_.end();) {
      const bool too_old = now - it->lease.born >= limits_.server_lifetime;
      const bool idle_too_long =
          now - it->idle_since >= limits_.server_idle_timeout && total() > limits_.min_pool_size;
      if (too_old || idle_too_long) {
        stale.push_back(std::move(it->lease));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    return stale;
  }

  // The longest-idle server, to be closed so that another pool under the same
  // max_db_connections / max_user_connections can open one.
  std::optional<Lease> take_oldest_idle() {
    if (idle_.empty()) return std::nullopt;
    Lease lease = std::move(idle_.front().lease);
    idle_.erase(idle_.begin());
    return lease;
  }

  // Idle servers beyond what the limits now allow (after a reload shrank the pool).
  std::vector<Lease> take_excess_idle() {
    std::vector<Lease> excess;
    while (!idle_.empty() && total() > limits_.pool_size + limits_.reserve_pool_size) {
      excess.push_back(std::move(idle_.front().lease));
      idle_.erase(idle_.begin());
    }
    return excess;
  }

  // Removes the idle servers for which `dead(server)` is true; the caller closes them.
  template <class Pred>
  std::vector<Lease> take_idle_if(Pred dead) {
    std::vector<Lease> out;
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (dead(it->lease.server)) {
        out.push_back(std::move(it->lease));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  // Removes every idle server (shutdown, reconnect); the caller closes them.
  std::vector<Lease> take_all_idle() {
    std::vector<Lease> all;
    for (auto& e : idle_) all.push_back(std::move(e.lease));
    idle_.clear();
    return all;
  }

  // Calls `visit(lease)` for every idle server (read-only; for the admin console).
  template <class Visit>
  void for_each_idle(Visit visit) const {
    for (const auto& e : idle_) visit(e.lease);
  }

  // Whether one more server should be opened now (see should_connect).
  ConnectVerdict connect_verdict(const SharedBudget& db, const SharedBudget& user,
                                 TimePoint now = {}) const {
    return should_connect(counts(now), limits_, db, user);
  }

 private:
  struct Waiter {
    WaiterId id;
    TimePoint since;
    int home = 0;         // the worker the waiting client is on
    int passed_over = 0;  // servers that went to a later waiter while this one waited
  };
  struct IdleEntry {
    Lease lease;
    TimePoint idle_since;
  };

  // Lends the idle server at `it`.
  Lease lend(typename std::vector<IdleEntry>::iterator it) {
    Lease lease = std::move(it->lease);
    if (std::next(it) == idle_.end()) {
      idle_.pop_back();  // the usual pick, far cheaper than a general erase
    } else {
      idle_.erase(it);
    }
    ++active_;
    return lease;
  }

  // What acquire() lends: the warmest idle server on worker `home`, else the warmest idle
  // one; idle_.end() when none is idle or clients already wait (they go first).
  typename std::vector<IdleEntry>::iterator pick_idle(int home) {
    if (idle_.empty() || !waiters_.empty()) return idle_.end();
    for (auto i = idle_.rbegin(); i != idle_.rend(); ++i) {
      if (i->lease.home == home) return std::prev(i.base());
    }
    return std::prev(idle_.end());
  }

  PoolLimits limits_;
  // A vector, not a deque: lending and returning work at its back (push_back, pop_back),
  // and its size is a subtraction; the rare removals from the front or middle move at most
  // a pool's worth of entries.
  std::vector<IdleEntry> idle_;
  std::deque<Waiter> waiters_;
  int active_ = 0;
  int connecting_ = 0;
};

}  // namespace reservoir::pool

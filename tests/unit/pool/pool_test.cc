#include "pool/pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace reservoir::pool {
namespace {

using namespace std::chrono_literals;

// A fake server: just an id, so tests can tell which server went where.
struct FakeServer {
  int id;
};
using TestPool = Pool<FakeServer>;

PoolLimits limits(int size) {
  PoolLimits l;
  l.pool_size = size;
  l.server_lifetime = 1h;
  l.server_idle_timeout = 10min;
  return l;
}

TEST(PoolTest, EmptyPoolQueuesAndAsksToConnect) {
  ManualClock clock;
  TestPool pool(limits(2));
  auto a = pool.acquire(1, clock.now());
  EXPECT_EQ(a.status, TestPool::AcquireStatus::Queued);
  EXPECT_EQ(pool.connect_verdict({}, {}), ConnectVerdict::Connect);
  pool.connect_started();
  // One waiter is covered by one connect in flight.
  EXPECT_EQ(pool.connect_verdict({}, {}), ConnectVerdict::NoDemand);
}

TEST(PoolTest, NewServerGoesToTheWaiter) {
  ManualClock clock;
  TestPool pool(limits(2));
  (void)pool.acquire(7, clock.now());
  pool.connect_started();
  auto r = pool.connect_succeeded({FakeServer{1}, clock.now()}, clock.now());
  ASSERT_EQ(r.kind, TestPool::ReleaseKind::ToWaiter);
  EXPECT_EQ(r.waiter, 7u);
  EXPECT_EQ(r.lease->server.id, 1);
  auto c = pool.counts();
  EXPECT_EQ(c.active, 1);
  EXPECT_EQ(c.connecting, 0);
  EXPECT_EQ(c.waiting, 0);
}

// Regression: a server handed from one client straight to a waiter kept the idle time of
// its last stay in the idle list, so after one long idle spell every hand-off ran
// server_check_query (an extra round trip per transaction under load).
TEST(PoolTest, HandOffToAWaiterCountsAsJustUsed) {
  ManualClock clock;
  TestPool pool(limits(1));
  pool.connect_started();
  (void)pool.connect_succeeded({FakeServer{1}, clock.now()}, clock.now());
  clock.advance(5min);  // idle for a long time
  auto first = pool.acquire(1, clock.now());
  ASSERT_EQ(first.status, TestPool::AcquireStatus::Ready);
  EXPECT_EQ(clock.now() - first.lease->idle_since, 5min);
  (void)pool.acquire(2, clock.now());
  clock.advance(1s);
  auto r = pool.release(std::move(*first.lease), clock.now());
  ASSERT_EQ(r.kind, TestPool::ReleaseKind::ToWaiter);
  EXPECT_EQ(r.lease->idle_since, clock.now());
}

TEST(PoolTest, ReleaseHandsOffInFifoOrder) {
  ManualClock clock;
  TestPool pool(limits(1));
  pool.connect_started();
  (void)pool.connect_succeeded({FakeServer{1}, clock.now()}, clock.now());
  auto first = pool.acquire(1, clock.now());
  ASSERT_EQ(first.status, TestPool::AcquireStatus::Ready);
  (void)pool.acquire(2, clock.now());
  (void)pool.acquire(3, clock.now());
  EXPECT_EQ(pool.connect_verdict({}, {}), ConnectVerdict::PoolFull);
  auto r = pool.release(std::move(*first.lease), clock.now());
  ASSERT_EQ(r.kind, TestPool::ReleaseKind::ToWaiter);
  EXPECT_EQ(r.waiter, 2u);
  r = pool.release(std::move(*r.lease), clock.now());
  EXPECT_EQ(r.waiter, 3u);
  r = pool.release(std::move(*r.lease), clock.now());
  EXPECT_EQ(r.kind, TestPool::ReleaseKind::ToIdle);
  EXPECT_EQ(pool.counts().idle, 1);
  EXPECT_EQ(pool.counts().active, 0);
}

// A pool of one server, on worker 0, lent to client 100.
TestPool::Lease lend_the_only_server(TestPool& pool, ManualClock& clock) {
  pool.connect_started();
  TestPool::Lease on_worker0{FakeServer{1}, clock.now()};
  on_worker0.home = 0;
  (void)pool.connect_succeeded(std::move(on_worker0), clock.now());
  auto held = pool.acquire(100, clock.now(), /*home=*/0);
  EXPECT_EQ(held.status, TestPool::AcquireStatus::Ready);
  return std::move(*held.lease);
}

// Releases the server `n` times in a row; returns the waiters it went to.
std::vector<WaiterId> hand_offs(TestPool& pool, TestPool::Lease lease, int n, TimePoint now) {
  std::vector<WaiterId> to;
  for (int i = 0; i < n; ++i) {
    auto r = pool.release(std::move(lease), now);
    if (r.kind != TestPool::ReleaseKind::ToWaiter) break;
    to.push_back(r.waiter);
    lease = std::move(*r.lease);
  }
  return to;
}

// With several workers, a released server goes to a waiter on its own worker when there is
// one (no socket move, no cross-thread wake-up), but the longest waiter is passed over at
// most kMaxPassOvers times and is then served whatever worker the server is on.
TEST(PoolTest, HandOffPrefersTheServersWorkerWithinABound) {
  ManualClock clock;
  TestPool pool(limits(1));
  auto lease = lend_the_only_server(pool, clock);
  (void)pool.acquire(1, clock.now(), /*home=*/1);  // the longest waiter, on worker 1
  const int local = TestPool::kMaxPassOvers + 5;
  for (int i = 0; i < local; ++i) (void)pool.acquire(10 + i, clock.now(), /*home=*/0);
  std::vector<WaiterId> expected;
  for (int i = 0; i < TestPool::kMaxPassOvers; ++i) expected.push_back(10 + i);  // worker 0
  expected.push_back(1);                             // passed over enough: its turn
  expected.push_back(10 + TestPool::kMaxPassOvers);  // then FIFO among the rest
  EXPECT_EQ(hand_offs(pool, std::move(lease), TestPool::kMaxPassOvers + 2, clock.now()), expected);
  EXPECT_EQ(pool.counts().waiting, local - TestPool::kMaxPassOvers - 1);
}

// One wake-up of a worker's loop can handle a full epoll batch (128 sockets) of servers'
// replies: such a burst of releases keeps its servers on their worker while the longest
// waiter, on another worker, is still inside the window (with a bound of 16, one server in
// five moved between threads under a pooler-bound load).
TEST(PoolTest, ABurstOfReleasesOnOneWorkerStaysOnIt) {
  constexpr int kEpollBatch = 128;
  ManualClock clock;
  TestPool pool(limits(1));
  auto lease = lend_the_only_server(pool, clock);
  (void)pool.acquire(1, clock.now(), /*home=*/1);
  for (int i = 0; i < kEpollBatch; ++i) (void)pool.acquire(10 + i, clock.now(), /*home=*/0);
  std::vector<WaiterId> expected;
  for (int i = 0; i < kEpollBatch; ++i) expected.push_back(10 + i);
  EXPECT_EQ(hand_offs(pool, std::move(lease), kEpollBatch, clock.now()), expected);
  EXPECT_EQ(pool.position(1), 1);
}

// Strictly first come, first served: when the longest waiter has waited kPassOverWindow (a
// queue of slow transactions), and when no waiter is on the server's worker.
TEST(PoolTest, HandOffIsFifoOutsideTheWindowOrWithoutALocalWaiter) {
  struct Case {
    int first_home, second_home;
    Duration waited;
  };
  for (const Case& c : {Case{1, 0, TestPool::kPassOverWindow}, Case{2, 1, Duration::zero()}}) {
    ManualClock clock;
    TestPool pool(limits(1));
    auto lease = lend_the_only_server(pool, clock);
    (void)pool.acquire(1, clock.now(), c.first_home);
    (void)pool.acquire(2, clock.now(), c.second_home);
    clock.advance(c.waited);
    EXPECT_EQ(hand_offs(pool, std::move(lease), 2, clock.now()), (std::vector<WaiterId>{1, 2}))
        << "waiters on workers " << c.first_home << ", " << c.second_home;
  }
}

TEST(PoolTest, WarmestIdleServerIsReusedFirst) {
  ManualClock clock;
  TestPool pool(limits(3));
  for (int id = 1; id <= 2; ++id) {
    pool.connect_started();
    (void)pool.connect_succeeded({FakeServer{id}, clock.now()}, clock.now());
  }
  auto a = pool.acquire(1, clock.now());
  EXPECT_EQ(a.lease->server.id, 2);
}

TEST(PoolTest, IdleServerOnTheClientsOwnWorkerIsPreferred) {
  ManualClock clock;
  TestPool pool(limits(3));
  for (int id = 1; id <= 3; ++id) {
    pool.connect_started();
    TestPool::Lease lease{FakeServer{id}, clock.now()};
    lease.home = id == 1 ? 1 : 0;  // server 1 lives on worker 1, the others on worker 0
    (void)pool.connect_succeeded(std::move(lease), clock.now());
  }
  auto a = pool.acquire(1, clock.now(), /*home=*/1);
  EXPECT_EQ(a.lease->server.id, 1);
  auto b = pool.acquire(2, clock.now(), /*home=*/1);  // none left on worker 1: the warmest
  EXPECT_EQ(b.lease->server.id, 3);
}

// acquire_idle_if() offers the server acquire() would lend, takes it only when the caller
// says yes, and offers nothing while clients wait.
TEST(PoolTest, AcquireIdleIfOffersTheServerAcquireLends) {
  ManualClock clock;
  TestPool pool(limits(3));
  int offered = 0;
  auto note = [&](const TestPool::Lease& lease) {
    offered = lease.server.id;
    return false;
  };
  EXPECT_FALSE(pool.acquire_idle_if(0, note));
  EXPECT_EQ(offered, 0);  // none idle: nothing offered
  for (int id = 1; id <= 3; ++id) {
    pool.connect_started();
    TestPool::Lease lease{FakeServer{id}, clock.now()};
    lease.home = id == 1 ? 1 : 0;
    (void)pool.connect_succeeded(std::move(lease), clock.now());
  }
  TestPool twin(limits(3));  // the same servers, lent by acquire()
  for (int id = 1; id <= 3; ++id) {
    twin.connect_started();
    TestPool::Lease lease{FakeServer{id}, clock.now()};
    lease.home = id == 1 ? 1 : 0;
    (void)twin.connect_succeeded(std::move(lease), clock.now());
  }
  for (int home : {1, 0, 1}) {
    const int idle = pool.counts().idle;
    EXPECT_FALSE(pool.acquire_idle_if(home, note));  // refused: still idle
    EXPECT_EQ(pool.counts().idle, idle);
    auto a = twin.acquire(10 + home, clock.now(), home);
    ASSERT_EQ(a.status, TestPool::AcquireStatus::Ready);
    EXPECT_EQ(a.lease->server.id, offered);
    auto got = pool.acquire_idle_if(home, [](const TestPool::Lease&) { return true; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->server.id, offered);
  }
  EXPECT_EQ(pool.active(), 3);
  EXPECT_FALSE(pool.acquire_idle_if(0, [](const TestPool::Lease&) { return true; }));
  (void)pool.acquire(20, clock.now());  // a waiter
  (void)pool.release({FakeServer{4}, clock.now()}, clock.now());
  offered = 0;
  EXPECT_FALSE(pool.acquire_idle_if(0, note));  // it went to the waiter
  EXPECT_EQ(offered, 0);
}

TEST(PoolTest, CancelledWaiterIsSkipped) {
  ManualClock clock;
  TestPool pool(limits(1));
  (void)pool.acquire(1, clock.now());
  (void)pool.acquire(2, clock.now());
  EXPECT_TRUE(pool.cancel_wait(1));
  EXPECT_FALSE(pool.cancel_wait(1));
  pool.connect_started();
  auto r = pool.connect_succeeded({FakeServer{1}, clock.now()}, clock.now());
  EXPECT_EQ(r.waiter, 2u);
  // Already handed off: cancelling now tells the caller it owns a server.
  EXPECT_FALSE(pool.cancel_wait(2));
}

TEST(PoolTest, QueueLimitRejects) {
  ManualClock clock;
  auto l = limits(1);
  l.max_waiting_clients = 2;
  TestPool pool(l);
  EXPECT_EQ(pool.acquire(1, clock.now()).status, TestPool::AcquireStatus::Queued);
  EXPECT_EQ(pool.acquire(2, clock.now()).status, TestPool::AcquireStatus::Queued);
  EXPECT_EQ(pool.acquire(3, clock.now()).status, TestPool::AcquireStatus::QueueFull);
}

TEST(PoolTest, ExpiredServerIsClosedOnRelease) {
  ManualClock clock;
  TestPool pool(limits(1));
  pool.connect_started();
  (void)pool.connect_succeeded({FakeServer{1}, clock.now()}, clock.now());
  auto a = pool.acquire(1, clock.now());
  clock.advance(2h);
  auto r = pool.release(std::move(*a.lease), clock.now());
  EXPECT_EQ(r.kind, TestPool::ReleaseKind::Close);
  EXPECT_EQ(pool.counts().total(), 0);
}

TEST(PoolTest, StaleIdleServersAreTakenButMinimumKept) {
  ManualClock clock;
  auto l = limits(5);
  l.min_pool_size = 1;
  TestPool pool(l);
  for (int id = 1; id <= 3; ++id) {
    pool.connect_started();
    (void)pool.connect_succeeded({FakeServer{id}, clock.now()}, clock.now());
  }
  clock.advance(5min);
  EXPECT_TRUE(pool.take_stale_idle(clock.now()).empty());
  clock.advance(6min);
  auto stale = pool.take_stale_idle(clock.now());
  EXPECT_EQ(stale.size(), 2u);
  EXPECT_EQ(pool.counts().idle, 1);
}

TEST(PoolTest, LongestWaitIsMeasuredFromTheHead) {
  ManualClock clock;
  TestPool pool(limits(1));
  EXPECT_EQ(pool.longest_wait(clock.now()), Duration::zero());
  (void)pool.acquire(1, clock.now());
  clock.advance(3s);
  (void)pool.acquire(2, clock.now());
  clock.advance(1s);
  EXPECT_EQ(pool.longest_wait(clock.now()), Duration(4s));
}

TEST(PoolTest, TakeAllWaitersEmptiesTheQueue) {
  ManualClock clock;
  TestPool pool(limits(1));
  (void)pool.acquire(4, clock.now());
  (void)pool.acquire(5, clock.now());
  auto ids = pool.take_all_waiters();
  EXPECT_EQ(ids, (std::vector<WaiterId>{4, 5}));
  EXPECT_EQ(pool.counts().waiting, 0);
}

TEST(ShouldConnectTest, SharedLimitsStopConnecting) {
  PoolCounts c;
  c.waiting = 1;
  PoolLimits l = limits(5);
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::Connect);
  EXPECT_EQ(should_connect(c, l, SharedBudget{3, 3}, {}), ConnectVerdict::DbLimit);
  EXPECT_EQ(should_connect(c, l, {}, SharedBudget{2, 2}), ConnectVerdict::UserLimit);
  EXPECT_EQ(should_connect(c, l, SharedBudget{0, 99}, {}), ConnectVerdict::Connect);
}

TEST(ShouldConnectTest, MinPoolSizeCreatesDemand) {
  PoolCounts c;
  PoolLimits l = limits(5);
  l.min_pool_size = 2;
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::Connect);
  c.idle = 2;
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::NoDemand);
}

}  // namespace
}  // namespace reservoir::pool

namespace reservoir::pool {
namespace {

using namespace std::chrono_literals;

TEST(ReserveTest, ReserveOpensOnlyAfterTheHeadWaitedLongEnough) {
  PoolLimits l;
  l.pool_size = 2;
  l.reserve_pool_size = 1;
  l.reserve_pool_timeout = 5s;
  PoolCounts c;
  c.active = 2;
  c.waiting = 1;
  c.longest_wait = 1s;
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::PoolFull);
  c.longest_wait = 6s;
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::Connect);
  c.active = 3;
  EXPECT_EQ(should_connect(c, l, {}, {}), ConnectVerdict::PoolFull);
}

TEST(ReserveTest, PoolMeasuresTheHeadWaitForTheReserve) {
  ManualClock clock;
  PoolLimits l;
  l.pool_size = 0;
  l.reserve_pool_size = 1;
  l.reserve_pool_timeout = 5s;
  Pool<int> pool(l);
  (void)pool.acquire(1, clock.now());
  EXPECT_EQ(pool.connect_verdict({}, {}, clock.now()), ConnectVerdict::PoolFull);
  clock.advance(5s);
  EXPECT_EQ(pool.connect_verdict({}, {}, clock.now()), ConnectVerdict::Connect);
  EXPECT_EQ(pool.position(1), 1);
  EXPECT_EQ(pool.position(9), 0);
}

TEST(ShrinkTest, ServersAboveANewSmallerSizeAreClosed) {
  ManualClock clock;
  PoolLimits l;
  l.pool_size = 3;
  Pool<int> pool(l);
  for (int id = 1; id <= 3; ++id) {
    pool.connect_started();
    (void)pool.connect_succeeded({id, clock.now()}, clock.now());
  }
  pool.connect_started();  // and one still opening
  EXPECT_EQ(pool.total(), 4);
  auto a = pool.acquire(1, clock.now());
  auto b = pool.acquire(2, clock.now());
  EXPECT_EQ(pool.total(), 4);
  pool.connect_failed();
  l.pool_size = 1;
  pool.set_limits(l);
  EXPECT_EQ(pool.take_excess_idle().size(), 1u);  // one idle, two active: the idle one goes
  EXPECT_EQ(pool.total(), 2);
  auto r = pool.release(std::move(*a.lease), clock.now());
  EXPECT_EQ(r.kind, Pool<int>::ReleaseKind::Close);  // still two held against a size of one
  r = pool.release(std::move(*b.lease), clock.now());
  EXPECT_EQ(r.kind, Pool<int>::ReleaseKind::ToIdle);
  EXPECT_EQ(pool.counts().total(), 1);
  EXPECT_EQ(pool.total(), pool.counts().total());
}

}  // namespace
}  // namespace reservoir::pool

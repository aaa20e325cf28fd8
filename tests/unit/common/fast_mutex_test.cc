#include "common/fast_mutex.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace reservoir {
namespace {

// Threads adding to a plain counter under the lock lose no update: the lock excludes, and
// its release publishes what was written under it. The section is made long now and then so
// that waiters reach the sleeping path, not only the spin.
TEST(FastMutexTest, ExcludesAndPublishesUnderContention) {
  FastMutex mu;
  std::uint64_t counter = 0;
  std::uint64_t shadow = 0;  // must always equal counter when the lock is free
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard lock(mu);
        ASSERT_EQ(counter, shadow);
        ++counter;
        if (i % 5000 == t) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ++shadow;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, std::uint64_t{kThreads} * kRounds);
  EXPECT_EQ(shadow, counter);
}

TEST(FastMutexTest, TryLockFailsWhileHeldAndWorksAfter) {
  FastMutex mu;
  ASSERT_TRUE(mu.try_lock());
  bool other_got_it = true;
  std::thread([&] { other_got_it = mu.try_lock(); }).join();
  EXPECT_FALSE(other_got_it);
  mu.unlock();
  std::thread([&] {
    other_got_it = mu.try_lock();
    if (other_got_it) mu.unlock();
  }).join();
  EXPECT_TRUE(other_got_it);
}

// A thread asleep on the lock (it was held for a long time) is woken by the unlock.
TEST(FastMutexTest, SleepingWaiterIsWokenByUnlock) {
  FastMutex mu;
  mu.lock();
  bool got = false;
  std::thread waiter([&] {
    std::lock_guard lock(mu);
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the spin: it sleeps
  EXPECT_FALSE(got);
  mu.unlock();
  waiter.join();
  EXPECT_TRUE(got);
}

}  // namespace
}  // namespace reservoir

#pragma once
// A mutex whose uncontended lock and unlock are one atomic instruction each, inline. Taken
// twice a transaction by the pool registry (lend, give back), where std::mutex costs a call
// into the C library each way (about 90 instructions a transaction between them). Contended,
// it spins briefly and then sleeps in the kernel (futex, through std::atomic::wait), so a
// waiter never burns a core for long.
//
// The three-state futex mutex: 0 free, 1 locked, 2 locked and someone may be sleeping on it.
// unlock() wakes a sleeper only when the state says there may be one.
#include <atomic>

namespace reservoir {

class FastMutex {
 public:
  FastMutex() = default;
  FastMutex(const FastMutex&) = delete;
  FastMutex& operator=(const FastMutex&) = delete;

  void lock() {
    int expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_contended();
  }

  bool try_lock() {
    int expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]] {
      state_.notify_one();
    }
  }

 private:
  void lock_contended() {
    // The holder usually lets go within a few hundred instructions: look again a while
    // before sleeping.
    for (int spin = 0; spin < kSpins; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      int expected = 0;
      if (state_.load(std::memory_order_relaxed) == 0 &&
          state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
    // Mark it contended (2) and sleep until it is free; whoever takes it from here leaves it
    // marked, so its unlock() wakes the next sleeper.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      state_.wait(2, std::memory_order_relaxed);
    }
  }

  static constexpr int kSpins = 64;
  std::atomic<int> state_{0};
};

}  // namespace reservoir

#pragma once
// A one-byte lock for data that is almost never contended: a client's cancel target, written
// by its own thread twice a transaction and read by another thread only for a CancelRequest.
// std::mutex is 40 bytes, which ten thousand idle clients each carry, and costs a call into
// the C library per lock; this is one atomic exchange.
#include <atomic>
#include <thread>

namespace reservoir {

class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire)) {
      while (flag_.test(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_;
};

}  // namespace reservoir

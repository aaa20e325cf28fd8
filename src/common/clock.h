#pragma once
// Time is a parameter: pure layers take `TimePoint now` instead of reading a clock.
#include <chrono>

namespace reservoir {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = SteadyClock::duration;
using Millis = std::chrono::milliseconds;

// A clock that only moves when told to; for unit tests of pools and timeouts.
class ManualClock {
 public:
  TimePoint now() const { return now_; }
  void advance(Duration d) { now_ += d; }

 private:
  TimePoint now_{};
};

}  // namespace reservoir

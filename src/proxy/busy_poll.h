#pragma once
// `busy_poll = auto`: workers poll epoll before they sleep only while the machine has CPU that
// nobody else wants.
//
// Polling saves the latency of a wake-up on every message that arrives within the window, and
// costs the CPU of the window whenever nothing arrives. That CPU is free when cores sit idle
// (connection churn on a small machine: every login waits on round trips, and the machine is
// a fifth idle), and it is taken from PostgreSQL and the clients when they are short of CPU
// (steady load: tasks queue for the cores). So the app samples the machine every 100 ms
// (read_cpu_sample) and the governor decides from the last period:
//
// - idle CPU, from /proc/stat: idle and iowait time of all CPUs, in cores;
// - CPU stall, from /proc/pressure/cpu ("some"): the share of the time at least one task
//   waited for a CPU. Polling shows there too (a poller that will not yield the core makes
//   others wait), so this is what turns it off again under load.
//
// Polling starts when both say the CPU is spare for kStartPeriods periods in a row while the
// pooler itself is busy (at least kMinBusyCores of CPU: an idle pooler has no wake-ups to
// save, and polling switched on while idle would meet the next burst of load). It stops when tasks
// wait for CPU: not when the idle CPU is gone, since polling itself takes it (the stall is what
// shows whether that hurts anyone). The stop threshold sits above the start one so that the
// decision does not flip every period. Where the kernel has no pressure information (psi=0), idle
// CPU decides alone, with a lower threshold to stop than to start. A process whose cgroup has a CPU
// quota (cpu.max) never polls in auto mode: idle cores on the host are not its to use.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reservoir::proxy {

// Cumulative counters of the whole machine.
struct CpuSample {
  std::uint64_t idle_ticks = 0;           // idle + iowait of all CPUs (USER_HZ ticks)
  std::uint64_t total_ticks = 0;          // every state of all CPUs
  int cpus = 0;                           // CPUs /proc/stat lists
  std::optional<std::uint64_t> stall_us;  // /proc/pressure/cpu "some" total (µs)
  std::uint64_t own_cpu_us = 0;           // this process's CPU time
};

// The first ("cpu") line and the cpuN count of /proc/stat; nullopt when it is not one.
std::optional<CpuSample> parse_proc_stat(std::string_view text);
// The "some" line's total= of /proc/pressure/cpu.
std::optional<std::uint64_t> parse_cpu_pressure(std::string_view text);
// Whether a cgroup v2 cpu.max ("max 100000" or "50000 100000") sets a quota.
bool has_cpu_quota(std::string_view cpu_max);

// One period between two samples.
struct CpuLoad {
  double idle_cores = 0;                 // average idle CPUs over the period
  std::optional<double> stall_fraction;  // share of the period some task waited for a CPU
  double own_cores = 0;                  // this process's CPU, in cores
};
std::optional<CpuLoad> cpu_load(const CpuSample& before, const CpuSample& after,
                                std::chrono::microseconds period);

class BusyPollGovernor {
 public:
  // Thresholds, per polling worker for idle CPU.
  static constexpr double kStartIdleCores = 0.3;
  static constexpr double kStopIdleCores = 0.15;
  static constexpr double kStartStall = 0.6;
  static constexpr double kStopStall = 0.65;
  static constexpr double kMinBusyCores = 0.05;
  static constexpr int kStartPeriods = 3;

  explicit BusyPollGovernor(int workers) : workers_(workers) {}

  // Takes one period's load; returns whether workers poll in the next period.
  bool update(const CpuLoad& load);
  bool polling() const { return polling_; }

 private:
  int workers_;
  bool polling_ = false;
  int spare_periods_ = 0;  // periods in a row that would start polling
};

// The machine's counters now; nullopt when /proc/stat cannot be read.
std::optional<CpuSample> read_cpu_sample();
// Whether this process's cgroup, or one above it, limits its CPU with a quota: cpu.max (v2)
// or cpu.cfs_quota_us (v1, under root/cpu).
bool cgroup_cpu_quota();
// The same from /proc/self/cgroup's text, with the cgroup file systems under `root`.
bool cgroup_cpu_quota(std::string_view self_cgroup, const std::string& root);

}  // namespace reservoir::proxy

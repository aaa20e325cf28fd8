#include "proxy/busy_poll.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace reservoir::proxy {
namespace {

using std::chrono::microseconds;

// /proc/stat of a 2-CPU machine (Linux 6.1), trimmed after the cpu lines' neighbours.
constexpr std::string_view kStat =
    "cpu  1000 20 300 5000 100 0 50 30 0 0\n"
    "cpu0 500 10 150 2500 50 0 25 15 0 0\n"
    "cpu1 500 10 150 2500 50 0 25 15 0 0\n"
    "intr 123456 0 0\n"
    "ctxt 987654\n";

TEST(BusyPoll, ParsesProcStat) {
  const auto sample = parse_proc_stat(kStat);
  ASSERT_TRUE(sample);
  EXPECT_EQ(sample->cpus, 2);
  EXPECT_EQ(sample->idle_ticks, 5100u);                                     // idle + iowait
  EXPECT_EQ(sample->total_ticks, 1000u + 20 + 300 + 5000 + 100 + 50 + 30);  // not guest
  EXPECT_FALSE(parse_proc_stat("intr 1 2 3\n"));
  EXPECT_FALSE(parse_proc_stat("cpu  1 2\ncpu0 1 2\n"));  // too few fields
  EXPECT_FALSE(parse_proc_stat("cpu  1 2 3 4\n"));        // no cpuN line
  EXPECT_FALSE(parse_proc_stat(""));
}

TEST(BusyPoll, ParsesCpuPressure) {
  EXPECT_EQ(parse_cpu_pressure("some avg10=67.57 avg60=50.84 avg300=21.16 total=16949585952\n"
                               "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"),
            16949585952u);
  EXPECT_FALSE(parse_cpu_pressure("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"));
  EXPECT_FALSE(parse_cpu_pressure("some avg10=1.00\n"));
  EXPECT_FALSE(parse_cpu_pressure(""));
}

TEST(BusyPoll, ReadsACgroupQuota) {
  EXPECT_FALSE(has_cpu_quota("max 100000\n"));
  EXPECT_TRUE(has_cpu_quota("50000 100000\n"));
  EXPECT_FALSE(has_cpu_quota(""));
}

// A cgroup file system in a temporary directory.
class FakeCgroups {
 public:
  FakeCgroups() {
    char pattern[] = "/tmp/busy-poll-cgroup-XXXXXX";
    root_ = ::mkdtemp(pattern);
  }
  ~FakeCgroups() { std::filesystem::remove_all(root_); }
  void write(const std::string& path, const std::string& text) {
    const auto full = std::filesystem::path(root_ + path);
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full) << text;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(BusyPoll, FindsACgroupV2Quota) {
  FakeCgroups fs;
  fs.write("/app.slice/cpu.max", "max 100000\n");
  fs.write("/app.slice/web.service/cpu.max", "max 100000\n");
  EXPECT_FALSE(cgroup_cpu_quota("0::/app.slice/web.service\n", fs.root()));
  fs.write("/app.slice/cpu.max", "200000 100000\n");  // on an ancestor
  EXPECT_TRUE(cgroup_cpu_quota("0::/app.slice/web.service\n", fs.root()));
  EXPECT_FALSE(cgroup_cpu_quota("0::/other.slice\n", fs.root()));
  fs.write("/cpu.max", "50000 100000\n");  // a container's own root (cgroup namespace)
  EXPECT_TRUE(cgroup_cpu_quota("0::/\n", fs.root()));
}

TEST(BusyPoll, FindsACgroupV1Quota) {
  FakeCgroups fs;
  const std::string self = "12:pids:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n0::/\n";
  fs.write("/cpu/docker/abc/cpu.cfs_quota_us", "-1\n");
  EXPECT_FALSE(cgroup_cpu_quota(self, fs.root()));
  fs.write("/cpu/docker/abc/cpu.cfs_quota_us", "150000\n");
  EXPECT_TRUE(cgroup_cpu_quota(self, fs.root()));
  // The same file under a controller list without cpu is not read.
  EXPECT_FALSE(cgroup_cpu_quota("4:cpuacct:/docker/abc\n", fs.root()));
  EXPECT_FALSE(cgroup_cpu_quota("", fs.root()));
  EXPECT_FALSE(cgroup_cpu_quota("garbage\n", fs.root()));
}

TEST(BusyPoll, LoadOfAPeriod) {
  CpuSample before{.idle_ticks = 1000,
                   .total_ticks = 4000,
                   .cpus = 2,
                   .stall_us = 5'000'000,
                   .own_cpu_us = 700'000};
  CpuSample after{.idle_ticks = 1010,
                  .total_ticks = 4040,
                  .cpus = 2,
                  .stall_us = 5'100'000,
                  .own_cpu_us = 760'000};
  const auto load = cpu_load(before, after, microseconds(200'000));
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->idle_cores, 0.5);  // a quarter of two CPUs
  ASSERT_TRUE(load->stall_fraction);
  EXPECT_DOUBLE_EQ(*load->stall_fraction, 0.5);  // 100 ms of 200
  EXPECT_DOUBLE_EQ(load->own_cores, 0.3);        // 60 ms of 200

  after.stall_us.reset();  // no PSI in this kernel
  EXPECT_FALSE(cpu_load(before, after, microseconds(200'000))->stall_fraction);
  EXPECT_FALSE(cpu_load(before, before, microseconds(200'000)));  // no tick passed
  EXPECT_FALSE(cpu_load(after, before, microseconds(200'000)));   // counters went back
}

// A period with the pooler busy (half a core).
CpuLoad load(double idle_cores, std::optional<double> stall) { return {idle_cores, stall, 0.5}; }

// Feeds the same period until the governor has seen enough of them in a row to start.
bool start(BusyPollGovernor& governor, const CpuLoad& period) {
  for (int i = 1; i < BusyPollGovernor::kStartPeriods; ++i) {
    if (governor.update(period)) return true;
  }
  return governor.update(period);
}

TEST(BusyPoll, PollsOnlyWhileCpuIsSpare) {
  // Figures measured on the 2-core VM with one worker: connection churn 0.43 idle cores and
  // 0.49 stall without polling, 0.24 and 0.46 with it; steady pgbench -S at 10 clients 0.15
  // and 0.75 without, 0.14 and 0.70 with.
  BusyPollGovernor governor(1);
  EXPECT_FALSE(governor.polling());
  EXPECT_FALSE(start(governor, load(0.15, 0.75)));  // steady load: never starts
  EXPECT_FALSE(governor.update(load(0.43, 0.49)));  // churn: one period is not enough
  EXPECT_FALSE(governor.update(load(0.43, 0.49)));
  EXPECT_TRUE(governor.update(load(0.43, 0.49)));   // three in a row start it
  EXPECT_TRUE(governor.update(load(0.24, 0.46)));   // and it keeps polling, which uses CPU
  EXPECT_FALSE(governor.update(load(0.24, 0.70)));  // tasks wait for CPU: stops
  EXPECT_FALSE(start(governor, load(0.25, 0.40)));  // not idle enough to start again
  EXPECT_TRUE(start(governor, load(0.9, 0.1)));
  EXPECT_TRUE(governor.update(load(0.0, 0.1)));  // polling took the idle CPU; nobody waits
  EXPECT_FALSE(governor.update(load(0.0, 0.66)));
}

TEST(BusyPoll, StartsOnlyOnSpareCpuPeriodsInARow) {
  BusyPollGovernor governor(1);
  EXPECT_FALSE(governor.update(load(0.5, 0.3)));
  EXPECT_FALSE(governor.update(load(0.5, 0.3)));
  EXPECT_FALSE(governor.update(load(0.1, 0.3)));  // a busy period starts the count again
  EXPECT_FALSE(governor.update(load(0.5, 0.3)));
  EXPECT_FALSE(governor.update(load(0.5, 0.3)));
  EXPECT_TRUE(governor.update(load(0.5, 0.3)));
}

TEST(BusyPoll, AnIdlePoolerDoesNotStartPolling) {
  // A machine with every core idle and a pooler with no traffic: nothing to gain, and
  // polling already on would meet the next burst of load.
  BusyPollGovernor governor(1);
  EXPECT_FALSE(start(governor, CpuLoad{2.0, 0.0, 0.0}));
  EXPECT_FALSE(start(governor, CpuLoad{2.0, 0.0, 0.04}));
  EXPECT_TRUE(start(governor, CpuLoad{2.0, 0.0, 0.2}));
}

TEST(BusyPoll, ThresholdsScaleWithWorkers) {
  BusyPollGovernor governor(8);
  EXPECT_FALSE(start(governor, load(2.0, 0.1)));  // a quarter core per worker is too little
  EXPECT_TRUE(start(governor, load(3.0, 0.1)));
  governor = BusyPollGovernor(8);
  EXPECT_TRUE(start(governor, load(3.0, std::nullopt)));
  EXPECT_TRUE(governor.update(load(1.3, std::nullopt)));
  EXPECT_FALSE(governor.update(load(1.1, std::nullopt)));
}

TEST(BusyPoll, IdleCpuDecidesWithoutPressureInformation) {
  BusyPollGovernor governor(1);
  EXPECT_TRUE(start(governor, load(0.5, std::nullopt)));
  EXPECT_TRUE(governor.update(load(0.2, std::nullopt)));
  EXPECT_FALSE(governor.update(load(0.1, std::nullopt)));
}

TEST(BusyPoll, ReadsThisMachine) {
  const auto sample = read_cpu_sample();
  ASSERT_TRUE(sample) << "/proc/stat unreadable";
  EXPECT_GT(sample->cpus, 0);
  EXPECT_GT(sample->total_ticks, sample->idle_ticks);
}

}  // namespace
}  // namespace reservoir::proxy

#include "proxy/busy_poll.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string>

#include "config/values.h"

namespace reservoir::proxy {
namespace {

std::string_view next_line(std::string_view& text) {
  const auto end = text.find('\n');
  const std::string_view line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  return line;
}

std::optional<std::uint64_t> number_at(std::string_view& text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

// The whole of a small file, with plain system calls into a reused buffer: the upkeep tick
// reads two of them ten times a second.
std::optional<std::string_view> read_text(const char* path, std::string& buffer) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::size_t used = 0;
  for (;;) {
    if (buffer.size() < used + 4096) buffer.resize(used + 4096);
    const ssize_t n = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      if (n < 0) return std::nullopt;
      return std::string_view(buffer.data(), used);
    }
    used += static_cast<std::size_t>(n);
  }
}

std::optional<std::string> read_text(const std::string& path) {
  std::string buffer;
  const auto text = read_text(path.c_str(), buffer);
  if (!text) return std::nullopt;
  return std::string(*text);
}

}  // namespace

std::optional<CpuSample> parse_proc_stat(std::string_view text) {
  std::string_view first = next_line(text);
  if (!first.starts_with("cpu ")) return std::nullopt;
  first.remove_prefix(4);
  CpuSample sample;
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  for (int field = 0; field < 8; ++field) {
    const auto value = number_at(first);
    if (!value) {
      if (field < 4) return std::nullopt;  // kernels before 2.6 stop after idle
      break;
    }
    sample.total_ticks += *value;
    if (field == 3 || field == 4) sample.idle_ticks += *value;
  }
  while (!text.empty()) {
    const std::string_view line = next_line(text);
    if (line.size() > 3 && line.starts_with("cpu") && line[3] >= '0' && line[3] <= '9') {
      ++sample.cpus;
    }
  }
  if (sample.cpus == 0) return std::nullopt;
  return sample;
}

std::optional<std::uint64_t> parse_cpu_pressure(std::string_view text) {
  while (!text.empty()) {
    const std::string_view line = next_line(text);
    if (!line.starts_with("some ")) continue;
    const auto at = line.find(" total=");
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = line.substr(at + 7);
    return number_at(rest);
  }
  return std::nullopt;
}

bool has_cpu_quota(std::string_view cpu_max) {
  while (!cpu_max.empty() && cpu_max.front() == ' ') cpu_max.remove_prefix(1);
  return !cpu_max.empty() && !cpu_max.starts_with("max");
}

std::optional<CpuLoad> cpu_load(const CpuSample& before, const CpuSample& after,
                                std::chrono::microseconds period) {
  if (after.total_ticks <= before.total_ticks || after.idle_ticks < before.idle_ticks ||
      period.count() <= 0 || after.cpus <= 0) {
    return std::nullopt;
  }
  CpuLoad load;
  load.idle_cores = static_cast<double>(after.idle_ticks - before.idle_ticks) /
                    static_cast<double>(after.total_ticks - before.total_ticks) * after.cpus;
  if (after.own_cpu_us >= before.own_cpu_us) {
    load.own_cores = static_cast<double>(after.own_cpu_us - before.own_cpu_us) /
                     static_cast<double>(period.count());
  }
  if (before.stall_us && after.stall_us && *after.stall_us >= *before.stall_us) {
    load.stall_fraction = static_cast<double>(*after.stall_us - *before.stall_us) /
                          static_cast<double>(period.count());
  }
  return load;
}

bool BusyPollGovernor::update(const CpuLoad& load) {
  const double idle_per_worker = load.idle_cores / workers_;
  if (polling_) {
    // Polling itself takes the idle CPU it started on; it only stops for lack of it when
    // the kernel cannot tell whether other tasks wait.
    const bool starved =
        load.stall_fraction ? *load.stall_fraction > kStopStall : idle_per_worker < kStopIdleCores;
    if (starved) polling_ = false;
    spare_periods_ = 0;
  } else {
    const bool calm = !load.stall_fraction || *load.stall_fraction < kStartStall;
    const bool spare =
        calm && idle_per_worker >= kStartIdleCores && load.own_cores >= kMinBusyCores;
    spare_periods_ = spare ? spare_periods_ + 1 : 0;
    polling_ = spare_periods_ >= kStartPeriods;
  }
  return polling_;
}

std::optional<CpuSample> read_cpu_sample() {
  static thread_local std::string buffer;
  const auto stat = read_text("/proc/stat", buffer);
  if (!stat) return std::nullopt;
  auto sample = parse_proc_stat(*stat);
  if (!sample) return std::nullopt;
  // Absent on kernels without PSI, and unreadable (EOPNOTSUPP) when booted with psi=0.
  if (const auto pressure = read_text("/proc/pressure/cpu", buffer)) {
    sample->stall_us = parse_cpu_pressure(*pressure);
  }
  timespec cpu{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0) {
    sample->own_cpu_us = static_cast<std::uint64_t>(cpu.tv_sec) * 1'000'000 +
                         static_cast<std::uint64_t>(cpu.tv_nsec) / 1000;
  }
  return sample;
}

namespace {
// Whether the cgroup at `path` below `root`, or one of its ancestors, has a quota in `file`.
bool quota_on_path(const std::string& root, std::string path, const char* file,
                   bool (*limited)(std::string_view)) {
  for (;;) {
    if (const auto text = read_text(root + path + "/" + file); text && limited(*text)) return true;
    if (path.empty() || path == "/") return false;
    const auto slash = path.rfind('/');
    path.resize(slash == std::string::npos ? 0 : slash);
  }
}

bool has_cfs_quota(std::string_view quota_us) { return !quota_us.starts_with("-1"); }
}  // namespace

bool cgroup_cpu_quota(std::string_view self_cgroup, const std::string& root) {
  std::string_view text = self_cgroup;
  while (!text.empty()) {
    // "0::/path" (cgroup v2) or "N:cpu,cpuacct:/path" (v1)
    const std::string_view line = next_line(text);
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string path(line.substr(second + 1));
    if (controllers.empty()) {
      if (quota_on_path(root, path, "cpu.max", has_cpu_quota)) return true;
    } else if (std::ranges::count(config::parse_list(controllers), "cpu") > 0) {
      if (quota_on_path(root + "/cpu", path, "cpu.cfs_quota_us", has_cfs_quota)) return true;
    }
  }
  return false;
}

bool cgroup_cpu_quota() {
  const auto cgroup = read_text("/proc/self/cgroup");
  return cgroup && cgroup_cpu_quota(*cgroup, "/sys/fs/cgroup");
}

}  // namespace reservoir::proxy

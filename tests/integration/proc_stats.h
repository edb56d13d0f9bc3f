// What a child process is doing, read from /proc: its CPU time (training or waiting?) and its
// resident memory. For integration tests on Linux.
#ifndef OPTBENCH_TESTS_INTEGRATION_PROC_STATS_H_
#define OPTBENCH_TESTS_INTEGRATION_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace optbench::testing {

// User + system CPU time `pid` has used so far, in clock ticks (sysconf(_SC_CLK_TCK), 100 on
// Linux); -1 if /proc/<pid>/stat cannot be read.
inline int64_t CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
  // state, ppid, ... with utime and stime the 12th and 13th (proc(5) fields 14 and 15).
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 1));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;
  int64_t utime = -1;
  int64_t stime = -1;
  if (!(fields >> utime >> stime)) return -1;
  return utime + stime;
}

// Resident set size (VmRSS) of `pid` in bytes; -1 if /proc/<pid>/status cannot be read.
inline int64_t ResidentBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kib = -1;
      in >> kib;
      return kib < 0 ? -1 : kib * 1024;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

// A process computing on one core uses ~100 clock ticks of CPU a second, however loaded the
// machine is (it only waits longer for its turn); one blocked on a lock, a socket or a
// condition uses next to none (timers, heartbeats). This is the line between the two.
constexpr int64_t kIdleTicksPerSecond = 5;

// Waits up to `timeout` until `pid` uses at most kIdleTicksPerSecond during one second: until a
// process that was computing has stopped (blocked on something). On a loaded machine this only
// takes longer; a computing process reads as idle only if starved outright for a whole second.
// Returns false on timeout or when the process is gone.
inline bool WaitUntilIdle(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  int64_t before = CpuTicks(pid);
  while (before >= 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Seconds(1));
    const int64_t after = CpuTicks(pid);
    if (after < 0) return false;
    if (after - before <= kIdleTicksPerSecond) return true;
    before = after;
  }
  return false;
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_INTEGRATION_PROC_STATS_H_

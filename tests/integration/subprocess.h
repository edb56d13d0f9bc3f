// Subprocess: a child process for integration tests (posix_spawn), with its output in a log
// file. The destructor kills it (SIGKILL) and reaps it, so a failing test leaves nothing behind.
#ifndef OPTBENCH_TESTS_INTEGRATION_SUBPROCESS_H_
#define OPTBENCH_TESTS_INTEGRATION_SUBPROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace optbench::testing {

class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() {
    if (pid_ > 0) {
      Kill(SIGKILL);
      Wait();
    }
  }

  // Starts `argv` with stdout and stderr appended to `log_path`. Returns false on spawn failure.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path) {
    log_path_ = log_path;
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  void Kill(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Reaps the child; returns its wait status (or -1 if none).
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // Waits up to `timeout` for the child to exit; true if it did (status in *status).
  bool WaitFor(absl::Duration timeout, int* status) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (waitpid(pid_, status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  // True while the child has not exited (reaps it if it has).
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // The child's process id (for /proc), or -1 once it has been reaped.
  pid_t pid() const { return pid_; }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// A finished command: its exit code and its output.
struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh (stderr joined to stdout) and waits for it.
inline Result RunShell(const std::string& command) {
  Result r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs `argv` (no shell) with its output appended to `log_path`, and waits at most `timeout` for
// it; exit_code -1 when it cannot start, runs out of time (it is killed) or does not exit.
inline Result RunToCompletion(const std::vector<std::string>& argv, const std::string& log_path,
                              absl::Duration timeout) {
  Subprocess process;
  Result r;
  if (!process.Start(argv, log_path)) return r;
  int status = 0;
  if (!process.WaitFor(timeout, &status)) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.output = process.Log();
  return r;
}

// Runs the `optbench` command line with `args` (a shell string) and waits for it.
inline Result RunCli(const std::string& args) {
  return RunShell(std::string(OPTBENCH_CLI_BIN) + " " + args);
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_INTEGRATION_SUBPROCESS_H_

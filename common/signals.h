// Stop signals for the daemons: blocked in every thread, taken by one with sigwait().
#ifndef OPTBENCH_COMMON_SIGNALS_H_
#define OPTBENCH_COMMON_SIGNALS_H_

#include <pthread.h>

#include <csignal>

namespace optbench {

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts afterwards (call
// it first in main), so that a thread waiting in sigwait() on the returned set is the one that
// receives them. Returns that set.
inline sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace optbench

#endif  // OPTBENCH_COMMON_SIGNALS_H_

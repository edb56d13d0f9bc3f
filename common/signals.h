// Stop signals for the daemons: blocked in every thread, taken by one with sigwait().
#ifndef OPTBENCH_COMMON_SIGNALS_H_
#define OPTBENCH_COMMON_SIGNALS_H_

#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace optbench {
namespace signals_internal {

// Runs only in a thread that does not block the stop signals: one that a library started before
// main (OpenBLAS starts its thread pool from a constructor), where the default action would end
// the process at once. Blocks them in that thread from now on (the mask restored on return is
// the one in the context) and sends the signal to the process again, for the sigwait() thread.
inline void ForwardStopSignal(int sig, siginfo_t* /*info*/, void* context) {
  const int saved_errno = errno;
  auto* uc = static_cast<ucontext_t*>(context);
  sigaddset(&uc->uc_sigmask, SIGINT);
  sigaddset(&uc->uc_sigmask, SIGTERM);
  kill(getpid(), sig);
  errno = saved_errno;
}

}  // namespace signals_internal

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts afterwards (call
// it first in main), so that a thread waiting in sigwait() on the returned set is the one that
// receives them. Threads started before main get a handler that passes the signal on. Returns
// the set.
inline sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  struct sigaction forward = {};
  forward.sa_sigaction = signals_internal::ForwardStopSignal;
  forward.sa_mask = signals;  // Neither can interrupt the handler.
  forward.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace optbench

#endif  // OPTBENCH_COMMON_SIGNALS_H_

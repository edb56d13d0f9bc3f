// OPTBENCH_CHECK: abort on a broken invariant (never for bad input: that is an absl::Status).
#ifndef OPTBENCH_COMMON_CHECK_H_
#define OPTBENCH_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>

namespace optbench::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
  std::abort();
}
}  // namespace optbench::internal

// Aborts the process with file:line and the expression when `cond` is false. Active in all
// build types: invariants are cheap to test and a silent corruption is never acceptable.
#define OPTBENCH_CHECK(cond)                                        \
  do {                                                              \
    if (!(cond)) {                                                  \
      ::optbench::internal::CheckFailed(__FILE__, __LINE__, #cond); \
    }                                                               \
  } while (0)

#endif  // OPTBENCH_COMMON_CHECK_H_

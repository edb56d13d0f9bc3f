// Status propagation macros (Abseil 20220623 ships none): OPTBENCH_RETURN_IF_ERROR and
// OPTBENCH_ASSIGN_OR_RETURN.
#ifndef OPTBENCH_COMMON_STATUS_MACROS_H_
#define OPTBENCH_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function with the status of `expr` if it is not OK.
#define OPTBENCH_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status optbench_status_ = (expr);            \
    if (!optbench_status_.ok()) return optbench_status_; \
  } while (0)

#define OPTBENCH_STATUS_CONCAT_INNER_(a, b) a##b
#define OPTBENCH_STATUS_CONCAT_(a, b) OPTBENCH_STATUS_CONCAT_INNER_(a, b)

// `lhs` is assigned the value of the StatusOr `rexpr`, or the enclosing function returns its
// status. `lhs` may be a declaration: OPTBENCH_ASSIGN_OR_RETURN(auto x, MakeX());
#define OPTBENCH_ASSIGN_OR_RETURN(lhs, rexpr) \
  OPTBENCH_ASSIGN_OR_RETURN_IMPL_(OPTBENCH_STATUS_CONCAT_(optbench_statusor_, __LINE__), lhs, rexpr)

#define OPTBENCH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // OPTBENCH_COMMON_STATUS_MACROS_H_

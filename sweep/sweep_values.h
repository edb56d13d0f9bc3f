// How sweep files turn YAML values into hyperparameter values. Internal to sweep_file.cc;
// exposed so that tests can reach rules the catalog does not exercise yet (int_list parameters).
#ifndef OPTBENCH_SWEEP_SWEEP_VALUES_H_
#define OPTBENCH_SWEEP_SWEEP_VALUES_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/params.h"

namespace optbench::sweep {

// Types a plain (unquoted, untagged) YAML scalar by its text, by the rules in sweep_file.h:
// "3" -> int64 3, "3.0" / "1e-3" / ".5" / "-.inf" -> double, "true" -> bool, "yes" -> string.
spec::ParamValue TypePlainScalar(absl::string_view text);

// Reads `yaml`, the YAML text of one hyperparameter value, as a parameter declared `type` and
// returns the values it stands for: one for a scalar, one per element for a list (a grid axis).
// For kIntList a list of ints is one value and a list of lists an axis. Values are typed by
// TypePlainScalar, not checked against `type` (the catalog does that). InvalidArgument
// "<input>:<line>: value...: <problem>" as ParseSweep reports it.
absl::StatusOr<std::vector<spec::ParamValue>> ParseParamValues(absl::string_view yaml,
                                                               spec::ParamType type);

}  // namespace optbench::sweep

#endif  // OPTBENCH_SWEEP_SWEEP_VALUES_H_

// Typed hyperparameters and their declarations: the one description of every dataset, model and
// optimizer knob, used to validate specs at submit time, fill defaults and print `optbench list`.
// Pure C++ with no Eigen, so the coordinator can validate without linking the numerical engine.
#ifndef OPTBENCH_WORKER_ENGINE_PARAMS_H_
#define OPTBENCH_WORKER_ENGINE_PARAMS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace optbench::engine {

enum class ParamType { kDouble, kInt, kBool, kString, kIntList };

// One hyperparameter value. Ints and doubles are distinct: 3 is accepted where a double is
// declared (widened), 3.5 is rejected where an int is declared.
using ParamValue = std::variant<double, int64_t, bool, std::string, std::vector<int64_t>>;

// Hyperparameters by name. Ordered so that printing and hashing are deterministic.
using ParamMap = std::map<std::string, ParamValue>;

// Declaration of one hyperparameter.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kDouble;
  ParamValue default_value;
  // Inclusive numeric range (kDouble, kInt, and each element of kIntList). Unset = unbounded.
  std::optional<double> min;
  std::optional<double> max;
  // When true, the bound itself is not allowed (a learning rate is > 0, a momentum < 1).
  bool min_exclusive = false;
  bool max_exclusive = false;
  // Allowed values for kString (empty = any string).
  std::vector<std::string> choices;
  std::string doc;  // One line.
};

enum class ComponentKind { kDataset, kModel, kOptimizer };

// Declaration of one registered component ("adam", "linear", "heavy_tail_uniform").
struct ComponentSpec {
  ComponentKind kind = ComponentKind::kOptimizer;
  std::string name;
  std::string doc;  // One line.
  std::vector<ParamSpec> params;
};

// Human-readable forms, used in error messages and `optbench list`.
const char* ParamTypeName(ParamType type);
const char* ComponentKindName(ComponentKind kind);
std::string FormatParamValue(const ParamValue& value);
// "> 0", "[0, 1)", "one of zeros, uniform", "any" — the allowed values of `spec`, for messages.
std::string DescribeAllowed(const ParamSpec& spec);
// Shortest decimal text that parses back to exactly `value` ("0.001", "1e-08", "3").
std::string FormatDouble(double value);

// Checks `given` against `spec` and returns it completed with defaults.
// InvalidArgument (message names "<kind> <name>: <param>" and what is allowed) for: an unknown
// parameter (lists the known ones), a wrong type, a non-finite double, a value out of range or
// not among the choices.
absl::StatusOr<ParamMap> ValidateParams(const ComponentSpec& spec, const ParamMap& given);

// Typed access for components after validation. Precondition: `params` passed ValidateParams
// for a spec declaring `name` with the matching type (a mismatch is a programming error and
// aborts).
double GetDouble(const ParamMap& params, const std::string& name);
int64_t GetInt(const ParamMap& params, const std::string& name);
bool GetBool(const ParamMap& params, const std::string& name);
const std::string& GetString(const ParamMap& params, const std::string& name);
const std::vector<int64_t>& GetIntList(const ParamMap& params, const std::string& name);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_PARAMS_H_

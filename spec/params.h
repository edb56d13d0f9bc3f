// Typed hyperparameters and their declarations: the one description of every knob of every
// component and task (name, type, default, allowed values, one-line doc), used to validate specs
// at submit time, fill defaults and print `optbench list`. Pure C++, no Eigen: the coordinator,
// sweep files and clients validate without linking the numerical engine.
#ifndef OPTBENCH_SPEC_PARAMS_H_
#define OPTBENCH_SPEC_PARAMS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace optbench::spec {

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
  // A parameter that only one setting of another parameter of the same component reads: it may
  // differ from its default only when parameter `used_when->first` has the string value
  // `used_when->second` (soap's normalize_grads is read by variant 'reference' only). Validation
  // refuses a non-default value otherwise, so nothing is silently ignored; a default value is
  // always fine, which keeps validation idempotent (defaults filled in are never an error).
  std::optional<std::pair<std::string, std::string>> used_when;
};

// A numeric range for ParamSpec builders.
struct Range {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  bool max_exclusive = false;
};
inline Range Any() { return {}; }
inline Range AtLeast(double min) { return {min, std::nullopt, false, false}; }
inline Range Above(double min) { return {min, std::nullopt, true, false}; }
inline Range Closed(double min, double max) { return {min, max, false, false}; }
// [min, max): a decay or a momentum (0 allowed, 1 not).
inline Range HalfOpen(double min, double max) { return {min, max, false, true}; }
// (min, max]: an epsilon, a positive step.
inline Range LeftOpen(double min, double max) { return {min, max, true, false}; }
inline Range Open(double min, double max) { return {min, max, true, true}; }

// Builders that keep declaration tables one line per parameter.
ParamSpec DoubleParam(std::string name, double default_value, Range range, std::string doc);
ParamSpec IntParam(std::string name, int64_t default_value, Range range, std::string doc);
ParamSpec BoolParam(std::string name, bool default_value, std::string doc);
// choices empty = any string.
ParamSpec StringParam(std::string name, std::string default_value, std::vector<std::string> choices,
                      std::string doc);
// `range` bounds each element.
ParamSpec IntListParam(std::string name, std::vector<int64_t> default_value, Range range,
                       std::string doc);

// Human-readable forms, used in error messages and `optbench list`.
const char* ParamTypeName(ParamType type);
std::string FormatParamValue(const ParamValue& value);
// "> 0", "[0, 1)", "one of zeros, uniform", "any" — the allowed values of `spec`, for messages.
std::string DescribeAllowed(const ParamSpec& spec);
// Shortest decimal text that parses back to exactly `value` ("0.001", "1e-08", "3").
std::string FormatDouble(double value);

// Checks one value against its declaration and returns it converted to the declared type (an int
// widened to a double, an integral double narrowed to an int). `field` names it in messages
// ("optimizer.beta1"). InvalidArgument: a wrong type, a non-finite double, a value out of range
// or not among the choices.
absl::StatusOr<ParamValue> CheckParamValue(const ParamSpec& spec, const ParamValue& value,
                                           absl::string_view field);

// Checks `given` against the declarations `params` and returns it completed with defaults.
// `prefix` names the group in messages ("optimizer", "aux_optimizer", "trainer"); `owner` says
// whose parameters they are ("optimizer 'adam'", "task 'train'"). InvalidArgument, naming
// "<prefix>.<param>" and what is allowed, for: an unknown parameter (lists the known ones), a
// value CheckParamValue refuses, or a parameter set where its `used_when` says it is not read.
// Idempotent: validating the output again returns it unchanged.
absl::StatusOr<ParamMap> ValidateParams(const std::vector<ParamSpec>& params, const ParamMap& given,
                                        absl::string_view prefix, absl::string_view owner);

// The declaration named `name` in `params`, or null.
const ParamSpec* FindParam(const std::vector<ParamSpec>& params, absl::string_view name);

// Typed access after validation. Precondition: `params` passed ValidateParams for declarations
// holding `name` with the matching type (a mismatch is a programming error and aborts).
double GetDouble(const ParamMap& params, const std::string& name);
int64_t GetInt(const ParamMap& params, const std::string& name);
bool GetBool(const ParamMap& params, const std::string& name);
const std::string& GetString(const ParamMap& params, const std::string& name);
const std::vector<int64_t>& GetIntList(const ParamMap& params, const std::string& name);

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_PARAMS_H_

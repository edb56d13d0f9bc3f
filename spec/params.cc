#include "spec/params.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/check.h"

namespace optbench::spec {

const char* ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kDouble:
      return "double";
    case ParamType::kInt:
      return "int";
    case ParamType::kBool:
      return "bool";
    case ParamType::kString:
      return "string";
    case ParamType::kIntList:
      return "int_list";
  }
  return "?";
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The shortest form that reads back exactly; below 10^6, never in exponent form for whole
  // numbers' digits ("10", not "1e+01").
  const double magnitude = std::fabs(value);
  const int integer_digits = magnitude >= 1 && magnitude < 1e6
                                 ? static_cast<int>(std::floor(std::log10(magnitude))) + 1
                                 : 1;
  char buf[64];
  for (int precision = integer_digits; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string FormatParamValue(const ParamValue& value) {
  struct Visitor {
    std::string operator()(double v) const { return FormatDouble(v); }
    std::string operator()(int64_t v) const { return absl::StrCat(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const { return v; }
    std::string operator()(const std::vector<int64_t>& v) const {
      return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
    }
  };
  return std::visit(Visitor{}, value);
}

std::string DescribeAllowed(const ParamSpec& spec) {
  if (!spec.choices.empty()) return absl::StrCat("one of ", absl::StrJoin(spec.choices, ", "));
  if (spec.type == ParamType::kBool) return "true or false";
  if (spec.type == ParamType::kString) return "any string";
  // Integer parameters show integer bounds in full ("1000000000", not "1e+09").
  const bool integral = spec.type == ParamType::kInt || spec.type == ParamType::kIntList;
  auto bound = [integral](double b) {
    return integral && std::fabs(b) < 9.0e15 ? absl::StrCat(static_cast<int64_t>(b))
                                             : FormatDouble(b);
  };
  if (spec.min.has_value() && spec.max.has_value()) {
    return absl::StrCat(spec.min_exclusive ? "(" : "[", bound(*spec.min), ", ", bound(*spec.max),
                        spec.max_exclusive ? ")" : "]");
  }
  if (spec.min.has_value()) {
    return absl::StrCat(spec.min_exclusive ? "> " : ">= ", bound(*spec.min));
  }
  if (spec.max.has_value()) {
    return absl::StrCat(spec.max_exclusive ? "< " : "<= ", bound(*spec.max));
  }
  return "any finite value";
}

namespace {

bool InRange(const ParamSpec& spec, double v) {
  if (spec.min.has_value() && (spec.min_exclusive ? v <= *spec.min : v < *spec.min)) return false;
  if (spec.max.has_value() && (spec.max_exclusive ? v >= *spec.max : v > *spec.max)) return false;
  return true;
}

}  // namespace

absl::StatusOr<ParamValue> CheckParamValue(const ParamSpec& spec, const ParamValue& value,
                                           absl::string_view where) {
  auto bad_type = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected ", ParamTypeName(spec.type),
                                                   ", got '", FormatParamValue(value), "'"));
  };
  auto out_of_range = [&](const std::string& shown) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", shown, " is out of range; allowed ", DescribeAllowed(spec)));
  };
  switch (spec.type) {
    case ParamType::kDouble: {
      double v;
      if (const double* d = std::get_if<double>(&value)) {
        v = *d;
      } else if (const int64_t* i = std::get_if<int64_t>(&value)) {
        v = static_cast<double>(*i);
      } else {
        return bad_type();
      }
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": ", FormatDouble(v), " is not a finite number"));
      }
      if (!InRange(spec, v)) return out_of_range(FormatDouble(v));
      return ParamValue(v);
    }
    case ParamType::kInt: {
      int64_t v;
      if (const int64_t* i = std::get_if<int64_t>(&value)) {
        v = *i;
      } else if (const double* d = std::get_if<double>(&value)) {
        // Accept 3.0 for an int (JSON and YAML writers produce it), refuse 3.5.
        if (!std::isfinite(*d) || std::trunc(*d) != *d || std::fabs(*d) > 9.0e15) return bad_type();
        v = static_cast<int64_t>(*d);
      } else {
        return bad_type();
      }
      if (!InRange(spec, static_cast<double>(v))) return out_of_range(absl::StrCat(v));
      return ParamValue(v);
    }
    case ParamType::kBool:
      if (!std::holds_alternative<bool>(value)) return bad_type();
      return value;
    case ParamType::kString: {
      const std::string* s = std::get_if<std::string>(&value);
      if (s == nullptr) return bad_type();
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), *s) == spec.choices.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": '", *s, "' is not allowed; allowed ", DescribeAllowed(spec)));
      }
      return value;
    }
    case ParamType::kIntList: {
      const auto* list = std::get_if<std::vector<int64_t>>(&value);
      if (list == nullptr) return bad_type();
      for (int64_t v : *list) {
        if (!InRange(spec, static_cast<double>(v))) {
          return out_of_range(absl::StrCat("element ", v));
        }
      }
      return value;
    }
  }
  return bad_type();
}

const ParamSpec* FindParam(const std::vector<ParamSpec>& params, absl::string_view name) {
  for (const ParamSpec& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::StatusOr<ParamMap> ValidateParams(const std::vector<ParamSpec>& params, const ParamMap& given,
                                        absl::string_view prefix, absl::string_view owner) {
  ParamMap out;
  for (const auto& [name, value] : given) {
    const ParamSpec* decl = FindParam(params, name);
    if (decl == nullptr) {
      std::vector<std::string> known;
      for (const ParamSpec& p : params) known.push_back(p.name);
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, ".", name, ": unknown parameter of ", owner,
          "; known: ", known.empty() ? std::string("(none)") : absl::StrJoin(known, ", ")));
    }
    auto checked = CheckParamValue(*decl, value, absl::StrCat(prefix, ".", name));
    if (!checked.ok()) return checked.status();
    out.emplace(name, *std::move(checked));
  }
  for (const ParamSpec& p : params) {
    if (out.count(p.name) == 0) out.emplace(p.name, p.default_value);
  }
  for (const ParamSpec& p : params) {
    if (!p.used_when.has_value() || out.at(p.name) == p.default_value) continue;
    const auto& [other, wanted] = *p.used_when;
    const auto it = out.find(other);
    const std::string* actual = it == out.end() ? nullptr : std::get_if<std::string>(&it->second);
    if (actual == nullptr || *actual != wanted) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, ".", p.name, ": ", FormatParamValue(out.at(p.name)), " is only used by ", other,
          " '", wanted, "' (", other, " is '", actual == nullptr ? "" : *actual, "')"));
    }
  }
  return out;
}

namespace {

ParamSpec Declare(std::string name, ParamType type, ParamValue default_value, Range range,
                  std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.default_value = std::move(default_value);
  p.min = range.min;
  p.max = range.max;
  p.min_exclusive = range.min_exclusive;
  p.max_exclusive = range.max_exclusive;
  p.doc = std::move(doc);
  return p;
}

}  // namespace

ParamSpec DoubleParam(std::string name, double default_value, Range range, std::string doc) {
  return Declare(std::move(name), ParamType::kDouble, default_value, range, std::move(doc));
}

ParamSpec IntParam(std::string name, int64_t default_value, Range range, std::string doc) {
  return Declare(std::move(name), ParamType::kInt, default_value, range, std::move(doc));
}

ParamSpec BoolParam(std::string name, bool default_value, std::string doc) {
  return Declare(std::move(name), ParamType::kBool, default_value, Any(), std::move(doc));
}

ParamSpec StringParam(std::string name, std::string default_value, std::vector<std::string> choices,
                      std::string doc) {
  ParamSpec p =
      Declare(std::move(name), ParamType::kString, std::move(default_value), Any(), std::move(doc));
  p.choices = std::move(choices);
  return p;
}

ParamSpec IntListParam(std::string name, std::vector<int64_t> default_value, Range range,
                       std::string doc) {
  return Declare(std::move(name), ParamType::kIntList, std::move(default_value), range,
                 std::move(doc));
}

namespace {
template <typename T>
const T& GetTyped(const ParamMap& params, const std::string& name) {
  auto it = params.find(name);
  OPTBENCH_CHECK(it != params.end());
  const T* v = std::get_if<T>(&it->second);
  OPTBENCH_CHECK(v != nullptr);
  return *v;
}
}  // namespace

double GetDouble(const ParamMap& params, const std::string& name) {
  return GetTyped<double>(params, name);
}
int64_t GetInt(const ParamMap& params, const std::string& name) {
  return GetTyped<int64_t>(params, name);
}
bool GetBool(const ParamMap& params, const std::string& name) {
  return GetTyped<bool>(params, name);
}
const std::string& GetString(const ParamMap& params, const std::string& name) {
  return GetTyped<std::string>(params, name);
}
const std::vector<int64_t>& GetIntList(const ParamMap& params, const std::string& name) {
  return GetTyped<std::vector<int64_t>>(params, name);
}

}  // namespace optbench::spec

// Hyperparameters bound to the members of a component's options struct: one declaration gives
// the parameter's name, type, range and doc, takes its default from the struct, and reads the
// validated value back into the struct. Components declare their parameters with these, so a
// default is written once (in the options struct, beside the code that uses it) and no component
// hand-copies values out of a ParamMap.
//
//   struct LionOptions { double beta1 = 0.9; double beta2 = 0.99; double weight_decay = 0; };
//   const spec::Binding<LionOptions> binding({
//       spec::Bind(&LionOptions::beta1, "beta1", spec::Closed(0, 1), "interpolation weight"),
//       spec::Bind(&LionOptions::beta2, "beta2", spec::HalfOpen(0, 1), "momentum decay"),
//       ...});
//   binding.params();        // the declarations (defaults 0.9, 0.99, ...)
//   binding.Read(validated);  // a LionOptions with the validated values
//
// Header-only and Eigen-free.
#ifndef OPTBENCH_SPEC_OPTIONS_H_
#define OPTBENCH_SPEC_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/check.h"
#include "spec/params.h"

namespace optbench::spec {

// One declared parameter of an options struct O: how to declare it (given the prototype whose
// member holds the default) and how to read its validated value into an O. `read` is null for a
// parameter declared here but read elsewhere (an optimizer's lr, given to each step).
template <typename O>
struct Field {
  std::function<ParamSpec(const O& prototype)> declare;
  std::function<void(const ParamValue& value, O* out)> read;
  std::function<ParamValue(const O& options)> write;  // Null when `read` is.
};

// A double member (any floating type).
template <typename O, typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
Field<O> Bind(T O::*member, std::string name, Range range, std::string doc) {
  return {[=](const O& p) { return DoubleParam(name, static_cast<double>(p.*member), range, doc); },
          [=](const ParamValue& v, O* o) { o->*member = static_cast<T>(std::get<double>(v)); },
          [=](const O& o) { return ParamValue(static_cast<double>(o.*member)); }};
}

// An integer member (any width; the value is range-checked before the cast).
template <typename O, typename T,
          std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
Field<O> Bind(T O::*member, std::string name, Range range, std::string doc) {
  return {[=](const O& p) { return IntParam(name, static_cast<int64_t>(p.*member), range, doc); },
          [=](const ParamValue& v, O* o) { o->*member = static_cast<T>(std::get<int64_t>(v)); },
          [=](const O& o) { return ParamValue(static_cast<int64_t>(o.*member)); }};
}

template <typename O>
Field<O> Bind(bool O::*member, std::string name, std::string doc) {
  return {[=](const O& p) { return BoolParam(name, p.*member, doc); },
          [=](const ParamValue& v, O* o) { o->*member = std::get<bool>(v); },
          [=](const O& o) { return ParamValue(o.*member); }};
}

// A string member; `choices` empty = any string.
template <typename O>
Field<O> Bind(std::string O::*member, std::string name, std::vector<std::string> choices,
              std::string doc) {
  return {[=](const O& p) { return StringParam(name, p.*member, choices, doc); },
          [=](const ParamValue& v, O* o) { o->*member = std::get<std::string>(v); },
          [=](const O& o) { return ParamValue(o.*member); }};
}

template <typename O>
Field<O> Bind(std::vector<int64_t> O::*member, std::string name, Range range, std::string doc) {
  return {[=](const O& p) { return IntListParam(name, p.*member, range, doc); },
          [=](const ParamValue& v, O* o) { o->*member = std::get<std::vector<int64_t>>(v); },
          [=](const O& o) { return ParamValue(o.*member); }};
}

// A member of any type chosen by name: declared as a string parameter with the names as its
// choices; the default is the name of the prototype's value (which must be among them).
template <typename O, typename T>
Field<O> BindChoice(T O::*member, std::string name, std::vector<std::pair<std::string, T>> choices,
                    std::string doc) {
  // The name of `value` among the choices (a precondition: it is one of them).
  auto name_of = [choices](const T& value) {
    for (const auto& [n, v] : choices) {
      if (v == value) return n;
    }
    OPTBENCH_CHECK(false);
    return std::string();
  };
  return {[=](const O& p) {
            std::vector<std::string> names;
            for (const auto& choice : choices) names.push_back(choice.first);
            return StringParam(name, name_of(p.*member), names, doc);
          },
          [=](const ParamValue& v, O* o) {
            for (const auto& [n, value] : choices) {
              if (n == std::get<std::string>(v)) o->*member = value;
            }
          },
          [=](const O& o) { return ParamValue(name_of(o.*member)); }};
}

// A parameter declared with the struct's others but not read into it.
template <typename O>
Field<O> Unbound(ParamSpec spec) {
  return {[spec](const O&) { return spec; }, nullptr, nullptr};
}

// Restricts `field` to one setting of another string parameter (ParamSpec::used_when).
template <typename O>
Field<O> UsedWhen(Field<O> field, std::string param, std::string value) {
  auto declare = std::move(field.declare);
  field.declare = [declare, param, value](const O& p) {
    ParamSpec spec = declare(p);
    spec.used_when = std::make_pair(param, value);
    return spec;
  };
  return field;
}

// The declared parameters of an options struct O and the reader of their validated values.
// Immutable; thread-safe.
template <typename O>
class Binding {
 public:
  // `prototype` holds the defaults (the struct's own unless a component declares others, as
  // adamw does for weight_decay) and the members no field reads.
  explicit Binding(std::vector<Field<O>> fields, O prototype = O())
      : fields_(std::move(fields)), prototype_(std::move(prototype)) {
    for (const Field<O>& f : fields_) params_.push_back(f.declare(prototype_));
  }

  const std::vector<ParamSpec>& params() const { return params_; }
  const O& prototype() const { return prototype_; }

  // The prototype with every bound field set from `validated`. Precondition: `validated` passed
  // ValidateParams(params(), ...) (every declared parameter present, of its declared type).
  O Read(const ParamMap& validated) const {
    O out = prototype_;
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i].read) fields_[i].read(validated.at(params_[i].name), &out);
    }
    return out;
  }

  // Every bound field of `options` as parameters (the inverse of Read).
  ParamMap Write(const O& options) const {
    ParamMap out;
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i].write) out.emplace(params_[i].name, fields_[i].write(options));
    }
    return out;
  }

 private:
  std::vector<Field<O>> fields_;
  O prototype_;
  std::vector<ParamSpec> params_;
};

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_OPTIONS_H_

// JobSpec: what one job runs — a task, the components that task takes (by slot), the task's
// settings and a seed. Plain data; proto/convert.h is its one translation to and from the wire.
#ifndef OPTBENCH_SPEC_JOB_SPEC_H_
#define OPTBENCH_SPEC_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <string>

#include "spec/params.h"

namespace optbench::spec {

// A registered component ("adam", "linear", "heavy_tail_uniform") and its hyperparameters.
struct ComponentChoice {
  std::string name;
  ParamMap params;

  bool operator==(const ComponentChoice& other) const {
    return name == other.name && params == other.params;
  }
};

// The largest seed (2^53): seeds travel as JSON and YAML numbers, exact up to here. Sweep files
// and Catalog::Validate (the jobs API) both enforce it.
inline constexpr uint64_t kMaxSeed = uint64_t{1} << 53;

struct JobSpec {
  // The task (catalog.h); empty = the catalog's default task ("train").
  std::string task;
  // The task's components by slot name ("dataset", "model", "optimizer", "aux_optimizer", ...;
  // TaskSpec::slots says which a task takes and of what kind).
  std::map<std::string, ComponentChoice> components;
  // The task's settings (TaskSpec::settings; the `trainer:` block of a sweep file for "train").
  ParamMap settings;
  // Drives initialization and sampling (data sets have their own data_seed). At most kMaxSeed.
  uint64_t seed = 0;

  // The component in `slot`. Precondition (checked): present (a validated spec has every
  // required slot and every optional one with a default).
  const ComponentChoice& component(const std::string& slot) const;
  // The component in `slot`, or null.
  const ComponentChoice* find_component(const std::string& slot) const;

  bool operator==(const JobSpec& other) const {
    return task == other.task && components == other.components && settings == other.settings &&
           seed == other.seed;
  }
};

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_JOB_SPEC_H_

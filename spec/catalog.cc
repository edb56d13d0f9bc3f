#include "spec/catalog.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"

namespace optbench::spec {
namespace {

// "optimizer.beta1: <problem>" from a component's own check becomes "<slot>.beta1: <problem>".
absl::Status Reprefix(const absl::Status& status, absl::string_view from, absl::string_view to) {
  if (status.ok() || from == to) return status;
  absl::string_view message = status.message();
  if (message.substr(0, from.size()) == from && message.substr(from.size(), 1) == ".") {
    message.remove_prefix(from.size());
    return absl::Status(status.code(), absl::StrCat(to, message));
  }
  return status;
}

}  // namespace

const char* ComponentKindName(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::kDataset:
      return "dataset";
    case ComponentKind::kModel:
      return "model";
    case ComponentKind::kOptimizer:
      return "optimizer";
    case ComponentKind::kObjective:
      return "objective";
  }
  return "?";
}

const ComponentChoice& JobSpec::component(const std::string& slot) const {
  const ComponentChoice* choice = find_component(slot);
  OPTBENCH_CHECK(choice != nullptr);
  return *choice;
}

const ComponentChoice* JobSpec::find_component(const std::string& slot) const {
  auto it = components.find(slot);
  return it == components.end() ? nullptr : &it->second;
}

Catalog::Catalog(std::vector<const TaskSpec*> tasks, std::vector<const ComponentSpec*> components)
    : tasks_(std::move(tasks)), components_(std::move(components)) {
  OPTBENCH_CHECK(!tasks_.empty());
  std::sort(components_.begin(), components_.end(),
            [](const ComponentSpec* a, const ComponentSpec* b) {
              return std::tie(a->kind, a->name) < std::tie(b->kind, b->name);
            });
  for (size_t i = 1; i < components_.size(); ++i) {
    OPTBENCH_CHECK(components_[i - 1]->kind != components_[i]->kind ||
                   components_[i - 1]->name != components_[i]->name);
  }
  std::set<std::string> task_names;
  for (const TaskSpec* task : tasks_) {
    OPTBENCH_CHECK(task_names.insert(task->name).second);
    std::set<std::string> metric_names;
    for (const MetricSpec& m : task->metrics) {
      OPTBENCH_CHECK(IsValidMetricName(m.name) && metric_names.insert(m.name).second);
    }
    for (const SlotSpec& slot : task->slots) {
      if (!slot.default_component.empty()) {
        OPTBENCH_CHECK(Find(slot.kind, slot.default_component).ok());
      }
      for (const ComponentSpec* c : List(slot.kind)) {
        for (const MetricSpec& m : c->metrics) {
          // A component's metrics must not clash with its task's (they meet in one job).
          OPTBENCH_CHECK(IsValidMetricName(m.name) && metric_names.count(m.name) == 0);
        }
      }
    }
  }
}

std::vector<const ComponentSpec*> Catalog::List(ComponentKind kind) const {
  std::vector<const ComponentSpec*> out;
  for (const ComponentSpec* spec : components_) {
    if (spec->kind == kind) out.push_back(spec);
  }
  return out;
}

absl::StatusOr<const ComponentSpec*> Catalog::Find(ComponentKind kind,
                                                   absl::string_view name) const {
  std::vector<std::string> known;
  for (const ComponentSpec* spec : List(kind)) {
    if (spec->name == name) return spec;
    known.push_back(spec->name);
  }
  const char* kind_name = ComponentKindName(kind);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: missing; known ", kind_name,
                                                   "s: ", absl::StrJoin(known, ", ")));
  }
  return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: unknown ", kind_name, " '",
                                                 name, "'; known: ", absl::StrJoin(known, ", ")));
}

absl::StatusOr<ParamMap> Catalog::ValidateComponent(ComponentKind kind, absl::string_view name,
                                                    const ParamMap& params,
                                                    absl::string_view slot) const {
  const char* kind_name = ComponentKindName(kind);
  if (slot.empty()) slot = kind_name;
  absl::StatusOr<const ComponentSpec*> component = Find(kind, name);
  if (!component.ok()) return Reprefix(component.status(), kind_name, slot);
  absl::StatusOr<ParamMap> validated =
      ValidateParams((*component)->params, params, slot, absl::StrCat(kind_name, " '", name, "'"));
  if (!validated.ok()) return validated.status();
  if ((*component)->check) {
    absl::Status s = (*component)->check(*validated);
    if (!s.ok()) return Reprefix(s, kind_name, slot);
  }
  return validated;
}

absl::StatusOr<const TaskSpec*> Catalog::FindTask(absl::string_view name) const {
  if (name.empty()) return tasks_.front();
  std::vector<std::string> known;
  for (const TaskSpec* task : tasks_) {
    if (task->name == name) return task;
    known.push_back(task->name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("task: unknown task '", name, "'; known: ", absl::StrJoin(known, ", ")));
}

std::vector<std::string> Catalog::Providers(absl::string_view capability) const {
  std::vector<std::string> out;
  for (const ComponentSpec* c : components_) {
    if (std::find(c->provides.begin(), c->provides.end(), capability) != c->provides.end()) {
      out.push_back(absl::StrCat(ComponentKindName(c->kind), " ", c->name));
    }
  }
  return out;
}

absl::StatusOr<JobSpec> Catalog::Validate(const JobSpec& spec) const {
  absl::StatusOr<const TaskSpec*> found = FindTask(spec.task);
  if (!found.ok()) return found.status();
  const TaskSpec& task = **found;
  if (spec.seed > kMaxSeed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seed: ", spec.seed, " is out of range; allowed integers in [0, ", kMaxSeed, "]"));
  }
  JobSpec out;
  out.task = task.name;
  out.seed = spec.seed;
  for (const auto& component : spec.components) {
    const std::string& slot = component.first;
    const bool known = std::any_of(task.slots.begin(), task.slots.end(),
                                   [&](const SlotSpec& s) { return s.name == slot; });
    if (!known) {
      std::vector<std::string> names;
      for (const SlotSpec& s : task.slots) names.push_back(s.name);
      return absl::InvalidArgumentError(absl::StrCat(slot, ": not a part of task '", task.name,
                                                     "'; it takes: ", absl::StrJoin(names, ", ")));
    }
  }
  std::vector<std::pair<const SlotSpec*, const ComponentSpec*>> chosen;
  for (const SlotSpec& slot : task.slots) {
    const ComponentChoice* given = spec.find_component(slot.name);
    ComponentChoice choice;
    if (given != nullptr) {
      choice = *given;
    } else if (!slot.required) {
      if (slot.default_component.empty()) continue;
      choice.name = slot.default_component;
    }
    absl::StatusOr<ParamMap> params =
        ValidateComponent(slot.kind, choice.name, choice.params, slot.name);
    if (!params.ok()) return params.status();
    choice.params = *std::move(params);
    chosen.emplace_back(&slot, *Find(slot.kind, choice.name));
    out.components.emplace(slot.name, std::move(choice));
  }
  absl::StatusOr<ParamMap> settings = ValidateParams(
      task.settings, spec.settings, task.settings_key, absl::StrCat("task '", task.name, "'"));
  if (!settings.ok()) return settings.status();
  out.settings = *std::move(settings);

  // Data traits, for the components that accept only some data.
  DataTraits traits;
  std::string data;  // "dataset 'heavy_tail_uniform'": where the traits come from.
  for (const auto& [slot, component] : chosen) {
    if (!component->traits) continue;
    traits = component->traits(out.components.at(slot->name).params);
    data = absl::StrCat(slot->name, " '", component->name, "'");
  }
  for (const auto& [slot, component] : chosen) {
    if (component->accepts) {
      absl::Status s = component->accepts(out.components.at(slot->name).params, traits);
      if (!s.ok()) {
        return Reprefix(absl::Status(s.code(), absl::StrCat(s.message(), " (", data, ")")),
                        ComponentKindName(slot->kind), slot->name);
      }
    }
    for (const std::string& need : component->needs) {
      const auto provider = std::find_if(chosen.begin(), chosen.end(), [&](const auto& other) {
        const auto& provides = other.second->provides;
        return std::find(provides.begin(), provides.end(), need) != provides.end();
      });
      if (provider != chosen.end()) continue;
      std::vector<std::string> others;
      for (const auto& [other_slot, other] : chosen) {
        if (other != component)
          others.push_back(absl::StrCat(other_slot->name, " '", other->name, "'"));
      }
      const std::vector<std::string> providers = Providers(need);
      return absl::InvalidArgumentError(absl::StrCat(
          slot->name, ".name: ", component->name, " needs ", need, " (provided by ",
          providers.empty() ? std::string("nothing registered") : absl::StrJoin(providers, ", "),
          "); ", absl::StrJoin(others, ", "), " do not provide it"));
    }
  }
  if (task.check) {
    absl::Status s = task.check(out, *this);
    if (!s.ok()) return s;
  }
  return out;
}

std::vector<MetricSpec> Catalog::Metrics(const JobSpec& spec) const {
  std::vector<MetricSpec> out;
  absl::StatusOr<const TaskSpec*> task = FindTask(spec.task);
  if (!task.ok()) return out;
  out = (*task)->metrics;
  for (const SlotSpec& slot : (*task)->slots) {
    const ComponentChoice* choice = spec.find_component(slot.name);
    absl::StatusOr<const ComponentSpec*> component =
        Find(slot.kind, choice != nullptr ? choice->name : slot.default_component);
    if (!component.ok()) continue;
    for (const MetricSpec& m : (*component)->metrics) {
      if (FindMetric(out, m.name) == nullptr) out.push_back(m);
    }
  }
  return out;
}

}  // namespace optbench::spec

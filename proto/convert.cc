#include "proto/convert.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"
#include "google/protobuf/util/json_util.h"

namespace optbench::proto {

spec::ParamValue FromProto(const v1::ParamValue& value) {
  switch (value.kind_case()) {
    case v1::ParamValue::kDoubleValue:
      return value.double_value();
    case v1::ParamValue::kIntValue:
      return value.int_value();
    case v1::ParamValue::kBoolValue:
      return value.bool_value();
    case v1::ParamValue::kStringValue:
      return value.string_value();
    case v1::ParamValue::kIntList:
      return std::vector<int64_t>(value.int_list().values().begin(),
                                  value.int_list().values().end());
    case v1::ParamValue::KIND_NOT_SET:
      break;
  }
  return std::string();
}

v1::ParamValue ToProto(const spec::ParamValue& value) {
  v1::ParamValue out;
  struct Visitor {
    v1::ParamValue* out;
    void operator()(double v) const { out->set_double_value(v); }
    void operator()(int64_t v) const { out->set_int_value(v); }
    void operator()(bool v) const { out->set_bool_value(v); }
    void operator()(const std::string& v) const { out->set_string_value(v); }
    void operator()(const std::vector<int64_t>& v) const {
      for (int64_t x : v) out->mutable_int_list()->add_values(x);
    }
  };
  std::visit(Visitor{&out}, value);
  return out;
}

namespace {

// The components with a field of their own in v1::JobSpec, by slot name.
struct ComponentField {
  const char* slot;
  const v1::Component& (v1::JobSpec::*get)() const;
  bool (v1::JobSpec::*has)() const;
  v1::Component* (v1::JobSpec::*mutable_field)();
};
const ComponentField kComponentFields[] = {
    {"dataset", &v1::JobSpec::dataset, &v1::JobSpec::has_dataset, &v1::JobSpec::mutable_dataset},
    {"model", &v1::JobSpec::model, &v1::JobSpec::has_model, &v1::JobSpec::mutable_model},
    {"optimizer", &v1::JobSpec::optimizer, &v1::JobSpec::has_optimizer,
     &v1::JobSpec::mutable_optimizer},
    {"aux_optimizer", &v1::JobSpec::aux_optimizer, &v1::JobSpec::has_aux_optimizer,
     &v1::JobSpec::mutable_aux_optimizer},
};

// The settings with a field of their own in v1::TrainerSpec: how each reads (v1 meaning) and
// writes.
struct SettingField {
  const char* name;
  std::optional<spec::ParamValue> (*read)(const v1::TrainerSpec&);  // nullopt = unset.
  void (*write)(const spec::ParamValue&, v1::TrainerSpec*);
};
template <typename T>
const T* As(const spec::ParamValue& v) {
  return std::get_if<T>(&v);
}
const SettingField kSettingFields[] = {
    {"steps", [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> { return t.steps(); },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_steps(*i);
     }},
    {"batch_size",
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> { return t.batch_size(); },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_batch_size(*i);
     }},
    {"chunk_rows",  // v1: 0 = the default.
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> {
       if (t.chunk_rows() == 0) return std::nullopt;
       return t.chunk_rows();
     },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_chunk_rows(*i);
     }},
    {"eval_every",  // v1: 0 = the default.
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> {
       if (t.eval_every() == 0) return std::nullopt;
       return t.eval_every();
     },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_eval_every(*i);
     }},
    {"eval_log_spaced",
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> {
       return t.eval_log_spaced();
     },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* b = As<bool>(v)) t->set_eval_log_spaced(*b);
     }},
    {"schedule",  // v1: "" = the default.
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> {
       if (t.schedule().empty()) return std::nullopt;
       return t.schedule();
     },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* s = As<std::string>(v)) t->set_schedule(*s);
     }},
    {"warmup_steps",
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> { return t.warmup_steps(); },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_warmup_steps(*i);
     }},
    {"min_lr_ratio",
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> { return t.min_lr_ratio(); },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* d = As<double>(v)) t->set_min_lr_ratio(*d);
     }},
    {"checkpoint_every",
     [](const v1::TrainerSpec& t) -> std::optional<spec::ParamValue> {
       return t.checkpoint_every();
     },
     [](const spec::ParamValue& v, v1::TrainerSpec* t) {
       if (auto* i = As<int64_t>(v)) t->set_checkpoint_every(*i);
     }},
};

absl::StatusOr<spec::ParamMap> ParamsFromProto(
    const google::protobuf::Map<std::string, v1::ParamValue>& params, absl::string_view where) {
  spec::ParamMap out;
  for (const auto& [name, value] : params) {
    if (value.kind_case() == v1::ParamValue::KIND_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", name, ": value has no type set"));
    }
    out.emplace(name, FromProto(value));
  }
  return out;
}

absl::StatusOr<spec::ComponentChoice> ComponentFromProto(const v1::Component& c,
                                                         absl::string_view slot) {
  spec::ComponentChoice out;
  out.name = c.name();
  absl::StatusOr<spec::ParamMap> params = ParamsFromProto(c.params(), slot);
  if (!params.ok()) return params.status();
  out.params = *std::move(params);
  return out;
}

v1::Component ComponentToProto(const spec::ComponentChoice& c) {
  v1::Component out;
  out.set_name(c.name);
  for (const auto& [name, value] : c.params) (*out.mutable_params())[name] = ToProto(value);
  return out;
}

}  // namespace

absl::StatusOr<spec::JobSpec> FromProto(const v1::JobSpec& spec) {
  spec::JobSpec out;
  out.task = spec.task();
  out.seed = spec.seed();
  for (const ComponentField& field : kComponentFields) {
    if (!(spec.*field.has)()) continue;
    absl::StatusOr<spec::ComponentChoice> c = ComponentFromProto((spec.*field.get)(), field.slot);
    if (!c.ok()) return c.status();
    out.components[field.slot] = *std::move(c);
  }
  for (const auto& [slot, component] : spec.components()) {
    absl::StatusOr<spec::ComponentChoice> c = ComponentFromProto(component, slot);
    if (!c.ok()) return c.status();
    out.components[slot] = *std::move(c);
  }
  if (!spec.settings().empty()) {
    absl::StatusOr<spec::ParamMap> settings = ParamsFromProto(spec.settings(), "settings");
    if (!settings.ok()) return settings.status();
    out.settings = *std::move(settings);
  } else if (spec.has_trainer()) {
    for (const SettingField& field : kSettingFields) {
      if (std::optional<spec::ParamValue> v = field.read(spec.trainer())) {
        out.settings.emplace(field.name, *std::move(v));
      }
    }
  }
  return out;
}

v1::JobSpec ToProto(const spec::JobSpec& spec) {
  v1::JobSpec out;
  out.set_task(spec.task);
  out.set_seed(spec.seed);
  for (const auto& component : spec.components) {
    const std::string& slot = component.first;
    const spec::ComponentChoice& choice = component.second;
    const auto field = std::find_if(std::begin(kComponentFields), std::end(kComponentFields),
                                    [&](const ComponentField& f) { return slot == f.slot; });
    v1::Component* target = field != std::end(kComponentFields)
                                ? (out.*field->mutable_field)()
                                : &(*out.mutable_components())[slot];
    *target = ComponentToProto(choice);
  }
  for (const auto& [name, value] : spec.settings) {
    (*out.mutable_settings())[name] = ToProto(value);
    for (const SettingField& field : kSettingFields) {
      if (name == field.name) field.write(value, out.mutable_trainer());
    }
  }
  return out;
}

// ---- declarations ----------------------------------------------------------------------------

namespace {

v1::MetricDeclaration::Shape ShapeToProto(spec::MetricShape shape) {
  switch (shape) {
    case spec::MetricShape::kScalar:
      return v1::MetricDeclaration::SHAPE_SCALAR;
    case spec::MetricShape::kPerClass:
      return v1::MetricDeclaration::SHAPE_PER_CLASS;
    case spec::MetricShape::kPerItem:
      return v1::MetricDeclaration::SHAPE_PER_ITEM;
  }
  return v1::MetricDeclaration::SHAPE_UNSPECIFIED;
}

v1::MetricDeclaration::Aggregate AggregateToProto(spec::Aggregate aggregate) {
  switch (aggregate) {
    case spec::Aggregate::kNone:
      return v1::MetricDeclaration::AGGREGATE_NONE;
    case spec::Aggregate::kPerExample:
      return v1::MetricDeclaration::AGGREGATE_PER_EXAMPLE;
    case spec::Aggregate::kPerSplitExample:
      return v1::MetricDeclaration::AGGREGATE_PER_SPLIT_EXAMPLE;
    case spec::Aggregate::kClassMean:
      return v1::MetricDeclaration::AGGREGATE_CLASS_MEAN;
    case spec::Aggregate::kExampleWeighted:
      return v1::MetricDeclaration::AGGREGATE_EXAMPLE_WEIGHTED;
    case spec::Aggregate::kItemMean:
      return v1::MetricDeclaration::AGGREGATE_ITEM_MEAN;
  }
  return v1::MetricDeclaration::AGGREGATE_UNSPECIFIED;
}

}  // namespace

v1::MetricDeclaration ToProto(const spec::MetricSpec& m) {
  v1::MetricDeclaration out;
  out.set_name(m.name);
  out.set_query(m.query);
  out.set_shape(ShapeToProto(m.shape));
  out.set_splits(m.splits == spec::MetricSplits::kTrain ? v1::MetricDeclaration::SPLITS_TRAIN
                                                        : v1::MetricDeclaration::SPLITS_EACH);
  out.set_aggregate(AggregateToProto(m.aggregate));
  out.set_doc(m.doc);
  out.set_item_kind(m.item_kind);
  for (const std::string& item : m.items) out.add_items(item);
  out.set_primary(m.primary);
  out.set_higher_is_better(m.higher_is_better);
  return out;
}

absl::StatusOr<spec::MetricSpec> FromProto(const v1::MetricDeclaration& m) {
  spec::MetricSpec out;
  if (!spec::IsValidMetricName(m.name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: name '", m.name(),
                     "' is not 1..64 characters of [a-z0-9_.] starting with a "
                     "letter"));
  }
  out.name = m.name();
  out.query = m.query();
  bool shape_ok = false, aggregate_ok = false;
  for (spec::MetricShape shape :
       {spec::MetricShape::kScalar, spec::MetricShape::kPerClass, spec::MetricShape::kPerItem}) {
    if (ShapeToProto(shape) == m.shape()) out.shape = shape, shape_ok = true;
  }
  for (spec::Aggregate a : {spec::Aggregate::kNone, spec::Aggregate::kPerExample,
                            spec::Aggregate::kPerSplitExample, spec::Aggregate::kClassMean,
                            spec::Aggregate::kExampleWeighted, spec::Aggregate::kItemMean}) {
    if (AggregateToProto(a) == m.aggregate()) out.aggregate = a, aggregate_ok = true;
  }
  const bool splits_ok = m.splits() == v1::MetricDeclaration::SPLITS_TRAIN ||
                         m.splits() == v1::MetricDeclaration::SPLITS_EACH;
  if (!shape_ok || !aggregate_ok || !splits_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: '", m.name(), "' has an unspecified or unknown shape, splits or aggregate"));
  }
  out.splits = m.splits() == v1::MetricDeclaration::SPLITS_TRAIN ? spec::MetricSplits::kTrain
                                                                 : spec::MetricSplits::kEach;
  out.doc = m.doc();
  out.item_kind = m.item_kind();
  out.items.assign(m.items().begin(), m.items().end());
  out.primary = m.primary();
  out.higher_is_better = m.higher_is_better();
  return out;
}

absl::StatusOr<std::vector<spec::MetricSpec>> MetricsFromProto(
    const google::protobuf::RepeatedPtrField<v1::MetricDeclaration>& metrics) {
  std::vector<spec::MetricSpec> out;
  for (const v1::MetricDeclaration& m : metrics) {
    absl::StatusOr<spec::MetricSpec> parsed = FromProto(m);
    if (!parsed.ok()) return parsed.status();
    out.push_back(*std::move(parsed));
  }
  return out;
}

v1::ParamDeclaration ToProto(const spec::ParamSpec& p) {
  v1::ParamDeclaration out;
  out.set_name(p.name);
  out.set_type(spec::ParamTypeName(p.type));
  *out.mutable_default_value() = ToProto(p.default_value);
  if (p.min.has_value()) out.set_min(*p.min);
  if (p.max.has_value()) out.set_max(*p.max);
  out.set_min_exclusive(p.min_exclusive);
  out.set_max_exclusive(p.max_exclusive);
  for (const std::string& c : p.choices) out.add_choices(c);
  out.set_doc(p.doc);
  if (p.used_when.has_value()) {
    out.set_used_when_param(p.used_when->first);
    out.set_used_when_value(p.used_when->second);
  }
  return out;
}

v1::ComponentDeclaration ToProto(const spec::ComponentSpec& c) {
  v1::ComponentDeclaration out;
  out.set_kind(spec::ComponentKindName(c.kind));
  out.set_name(c.name);
  out.set_doc(c.doc);
  for (const spec::ParamSpec& p : c.params) *out.add_params() = ToProto(p);
  for (const std::string& p : c.provides) out.add_provides(p);
  for (const std::string& n : c.needs) out.add_needs(n);
  for (const spec::MetricSpec& m : c.metrics) *out.add_metrics() = ToProto(m);
  return out;
}

v1::TaskDeclaration ToProto(const spec::TaskSpec& t) {
  v1::TaskDeclaration out;
  out.set_name(t.name);
  out.set_doc(t.doc);
  for (const spec::SlotSpec& s : t.slots) {
    v1::SlotDeclaration* slot = out.add_slots();
    slot->set_name(s.name);
    slot->set_kind(spec::ComponentKindName(s.kind));
    slot->set_required(s.required);
    slot->set_default_component(s.default_component);
    slot->set_grid(s.grid);
    slot->set_doc(s.doc);
  }
  out.set_settings_key(t.settings_key);
  for (const spec::ParamSpec& p : t.settings) *out.add_settings() = ToProto(p);
  for (const spec::MetricSpec& m : t.metrics) *out.add_metrics() = ToProto(m);
  return out;
}

std::string LabelsToJson(const std::map<std::string, std::string>& labels) {
  // A flat object, so the database stays readable with the sqlite3 shell and json_extract().
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out.push_back(',');
    out += JsonQuote(k);
    out.push_back(':');
    out += JsonQuote(v);
  }
  out.push_back('}');
  return out;
}

std::map<std::string, std::string> LabelsFromJson(const std::string& json) {
  // Parsed by protobuf's JSON reader as the map field of JobLabels.
  v1::JobLabels message;
  std::map<std::string, std::string> out;
  if (!google::protobuf::util::JsonStringToMessage(absl::StrCat("{\"labels\":", json, "}"),
                                                   &message)
           .ok()) {
    return out;
  }
  for (const auto& [k, v] : message.labels()) out.emplace(k, v);
  return out;
}

}  // namespace optbench::proto

#include "proto/convert.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

namespace optbench::proto {

engine::ParamValue FromProto(const v1::ParamValue& value) {
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

v1::ParamValue ToProto(const engine::ParamValue& value) {
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

absl::StatusOr<engine::ComponentChoice> ComponentFromProto(const v1::Component& c,
                                                           const char* kind) {
  engine::ComponentChoice out;
  out.name = c.name();
  for (const auto& [name, value] : c.params()) {
    if (value.kind_case() == v1::ParamValue::KIND_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(kind, ".", name, ": value has no type set"));
    }
    out.params.emplace(name, FromProto(value));
  }
  return out;
}

v1::Component ComponentToProto(const engine::ComponentChoice& c) {
  v1::Component out;
  out.set_name(c.name);
  for (const auto& [name, value] : c.params) (*out.mutable_params())[name] = ToProto(value);
  return out;
}

}  // namespace

absl::StatusOr<engine::JobSpec> FromProto(const v1::JobSpec& spec) {
  engine::JobSpec out;
  auto dataset = ComponentFromProto(spec.dataset(), "dataset");
  if (!dataset.ok()) return dataset.status();
  auto model = ComponentFromProto(spec.model(), "model");
  if (!model.ok()) return model.status();
  auto optimizer = ComponentFromProto(spec.optimizer(), "optimizer");
  if (!optimizer.ok()) return optimizer.status();
  if (spec.has_aux_optimizer()) {
    auto aux = ComponentFromProto(spec.aux_optimizer(), "aux_optimizer");
    if (!aux.ok()) return aux.status();
    out.aux_optimizer = *std::move(aux);
  }
  out.dataset = *std::move(dataset);
  out.model = *std::move(model);
  out.optimizer = *std::move(optimizer);
  out.trainer.steps = spec.trainer().steps();
  out.trainer.batch_size = spec.trainer().batch_size();
  out.trainer.chunk_rows = spec.trainer().chunk_rows();
  out.trainer.eval_every = spec.trainer().eval_every();
  out.trainer.eval_log_spaced = spec.trainer().eval_log_spaced();
  out.trainer.schedule = spec.trainer().schedule();
  out.trainer.warmup_steps = spec.trainer().warmup_steps();
  out.trainer.min_lr_ratio = spec.trainer().min_lr_ratio();
  out.trainer.checkpoint_every = spec.trainer().checkpoint_every();
  out.seed = spec.seed();
  return out;
}

v1::JobSpec ToProto(const engine::JobSpec& spec) {
  v1::JobSpec out;
  *out.mutable_dataset() = ComponentToProto(spec.dataset);
  *out.mutable_model() = ComponentToProto(spec.model);
  *out.mutable_optimizer() = ComponentToProto(spec.optimizer);
  if (spec.aux_optimizer.has_value()) {
    *out.mutable_aux_optimizer() = ComponentToProto(*spec.aux_optimizer);
  }
  v1::TrainerSpec* t = out.mutable_trainer();
  t->set_steps(spec.trainer.steps);
  t->set_batch_size(spec.trainer.batch_size);
  t->set_chunk_rows(spec.trainer.chunk_rows);
  t->set_eval_every(spec.trainer.eval_every);
  t->set_eval_log_spaced(spec.trainer.eval_log_spaced);
  t->set_schedule(spec.trainer.schedule);
  t->set_warmup_steps(spec.trainer.warmup_steps);
  t->set_min_lr_ratio(spec.trainer.min_lr_ratio);
  t->set_checkpoint_every(spec.trainer.checkpoint_every);
  out.set_seed(spec.seed);
  return out;
}

namespace {
void AppendJsonString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      absl::StrAppend(out, absl::StrFormat("\\u%04x", c));
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}
}  // namespace

std::string JsonQuote(const std::string& s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string LabelsToJson(const std::map<std::string, std::string>& labels) {
  // A flat object, so the database stays readable with the sqlite3 shell and json_extract().
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(k, &out);
    out.push_back(':');
    AppendJsonString(v, &out);
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

#include "spec/metric.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace optbench::spec {

const char* SplitName(Split split) { return split == Split::kTrain ? "train" : "test"; }

bool MetricSpec::operator==(const MetricSpec& o) const {
  return name == o.name && query == o.query && shape == o.shape && splits == o.splits &&
         aggregate == o.aggregate && doc == o.doc && item_kind == o.item_kind && items == o.items &&
         primary == o.primary && higher_is_better == o.higher_is_better;
}

MetricSpec HigherIsBetter(MetricSpec spec) {
  spec.higher_is_better = true;
  return spec;
}

MetricSpec ScalarMetric(std::string name, MetricSplits splits, std::string doc) {
  MetricSpec m;
  m.query = name;
  m.name = std::move(name);
  m.splits = splits;
  m.doc = std::move(doc);
  return m;
}

MetricSpec PerClassMetric(std::string name, MetricSplits splits, Aggregate aggregate,
                          std::string doc) {
  MetricSpec m = ScalarMetric(std::move(name), splits, std::move(doc));
  m.shape = MetricShape::kPerClass;
  m.aggregate = aggregate;
  return m;
}

MetricSpec PerItemMetric(std::string name, std::string item_kind, MetricSplits splits,
                         std::string doc) {
  MetricSpec m = ScalarMetric(std::move(name), splits, std::move(doc));
  m.shape = MetricShape::kPerItem;
  m.aggregate = Aggregate::kItemMean;
  m.item_kind = std::move(item_kind);
  return m;
}

MetricSpec Renamed(MetricSpec spec, std::string query) {
  spec.query = std::move(query);
  return spec;
}

bool IsValidMetricName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return true;
}

std::string DescribeShape(const MetricSpec& spec) {
  switch (spec.shape) {
    case MetricShape::kScalar:
      return "scalar";
    case MetricShape::kPerClass:
      return "per class";
    case MetricShape::kPerItem:
      return absl::StrCat("per ", spec.item_kind.empty() ? "item" : spec.item_kind);
  }
  return "?";
}

absl::Status CheckMetricValue(const MetricSpec& spec, Split split, int64_t count,
                              int64_t num_classes) {
  if (split == Split::kTest && spec.splits == MetricSplits::kTrain) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric '", spec.name, "' is recorded for the train split only"));
  }
  int64_t want = -1;  // -1: any length >= 1 (per class before num_classes is known).
  switch (spec.shape) {
    case MetricShape::kScalar:
      want = 1;
      break;
    case MetricShape::kPerClass:
      if (num_classes > 0) want = num_classes;
      break;
    case MetricShape::kPerItem:
      want = static_cast<int64_t>(spec.items.size());
      break;
  }
  if (want >= 0 ? count != want : count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric '", spec.name, "' (", DescribeShape(spec), ") needs ",
                     want >= 0 ? absl::StrCat("exactly ", want) : std::string("at least 1"),
                     " value", want == 1 ? "" : "s", ", got ", count));
  }
  return absl::OkStatus();
}

const MetricSpec* DefaultMetric(const std::vector<MetricSpec>& metrics) {
  for (const MetricSpec& m : metrics) {
    if (m.primary && !m.query.empty()) return &m;
  }
  for (const MetricSpec& m : metrics) {
    if (!m.query.empty()) return &m;
  }
  return nullptr;
}

const MetricSpec* FindMetric(const std::vector<MetricSpec>& metrics, absl::string_view name) {
  for (const MetricSpec& m : metrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const MetricSpec* FindQueryMetric(const std::vector<MetricSpec>& metrics, absl::string_view query) {
  for (const MetricSpec& m : metrics) {
    if (!m.query.empty() && m.query == query) return &m;
  }
  return nullptr;
}

}  // namespace optbench::spec

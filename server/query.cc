#include "server/query.h"

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/wire.h"
#include "worker/engine/frequency_groups.h"

namespace optbench::server {
namespace {

enum class Denominator {
  kClassCounts,    // Examples of the group's classes in the split (loss, accuracy, p_true).
  kSplitSize,      // All examples of the split (p_mass).
  kClasses,        // The number of classes in the group: a mean of per-class values (head_*).
  kClassWeighted,  // Per-class means (model diagnostics): weighted by the classes' examples.
};

struct MetricDef {
  const char* name;
  const char* numerator;  // Stored per-class vector; nullptr for a scalar metric.
  Denominator denominator;
  bool train_only = false;  // Recorded for the train split only (scalars, head_*).
};

constexpr MetricDef kMetrics[] = {
    {"loss", "loss_sum", Denominator::kClassCounts},
    {"accuracy", "correct", Denominator::kClassCounts},
    {"p_true", "p_true_sum", Denominator::kClassCounts},
    {"p_mass", "p_mass", Denominator::kSplitSize},
    {"head_grad_norm", "head_grad_norm", Denominator::kClasses, true},
    {"head_gn_trace", "head_gn_trace", Denominator::kClasses, true},
    {"head_weight_norm", "head_weight_norm", Denominator::kClasses, true},
    {"head_bias_grad", "head_bias_grad", Denominator::kClasses, true},
    {"head_update_norm", "head_update_norm", Denominator::kClasses, true},
    {"head_eff_lr", "head_eff_lr", Denominator::kClasses, true},
    {"grad_norm", nullptr, Denominator::kClassCounts, true},
    {"lr", nullptr, Denominator::kClassCounts, true},
    {"wall_seconds", nullptr, Denominator::kClassCounts, true},
};

// `name` must outlive the result (a diagnostic's def points into it).
absl::StatusOr<MetricDef> FindMetric(const std::string& name) {
  std::vector<std::string> known;
  for (const MetricDef& m : kMetrics) {
    if (name == m.name) return m;
    known.push_back(m.name);
  }
  // Model diagnostics are stored under their own name, per split; whether one is a scalar or a
  // per-class vector shows in its rows.
  if (IsDiagnosticMetric(name))
    return MetricDef{name.c_str(), name.c_str(), Denominator::kClassWeighted};
  return absl::InvalidArgumentError(absl::StrCat("metric: unknown metric '", name,
                                                 "'; known: ", absl::StrJoin(known, ", "),
                                                 ", diag.<name> (model diagnostics)"));
}

absl::StatusOr<std::vector<storage::JobRecord>> ResolveJobs(storage::StoreReader& store,
                                                            const v1::QueryMetricsRequest& r) {
  std::vector<storage::JobRecord> jobs;
  if (r.target_case() == v1::QueryMetricsRequest::kJobId) {
    auto job = store.GetJob(r.job_id());
    if (!job.ok()) return job.status();
    jobs.push_back(*std::move(job));
    return jobs;
  }
  if (r.target_case() != v1::QueryMetricsRequest::kSweepId) {
    return absl::InvalidArgumentError("target: set job_id or sweep_id");
  }
  if (auto sweep = store.GetSweep(r.sweep_id()); !sweep.ok()) return sweep.status();
  return AllJobsOfSweep(store, r.sweep_id());
}

std::vector<std::vector<int64_t>> MakeGroups(v1::GroupBy group_by, int num_groups,
                                             const std::vector<int64_t>& train_counts) {
  const int64_t c = static_cast<int64_t>(train_counts.size());
  std::vector<std::vector<int64_t>> groups;
  if (group_by == v1::GROUP_BY_CLASS) {
    for (int64_t k = 0; k < c; ++k) groups.push_back({k});
  } else if (group_by == v1::GROUP_BY_NONE) {
    groups.emplace_back();
    for (int64_t k = 0; k < c; ++k) groups.back().push_back(k);
  } else {
    groups = engine::FrequencyGroups(train_counts, num_groups);
  }
  return groups;
}

}  // namespace

absl::StatusOr<v1::QueryMetricsResponse> QueryMetrics(storage::StoreReader& store,
                                                      const v1::QueryMetricsRequest& request) {
  const std::string metric_name = request.metric().empty() ? "loss" : request.metric();
  auto metric = FindMetric(metric_name);
  if (!metric.ok()) return metric.status();
  const MetricDef& def = *metric;
  const bool test = request.split() == v1::SPLIT_TEST;
  const std::string split = test ? "test" : "train";
  v1::GroupBy group_by =
      request.group_by() == v1::GROUP_BY_UNSPECIFIED ? v1::GROUP_BY_FREQUENCY : request.group_by();
  const int num_groups = request.groups() == 0 ? 10 : request.groups();
  if (num_groups < 1 || num_groups > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("groups: ", request.groups(), " is out of range; allowed [1, 1000]"));
  }
  const int64_t max_step =
      request.has_max_step() ? request.max_step() : std::numeric_limits<int64_t>::max();

  auto jobs = ResolveJobs(store, request);
  if (!jobs.ok()) return jobs.status();

  v1::QueryMetricsResponse response;
  for (const storage::JobRecord& job : *jobs) {
    v1::Series* series = response.add_series();
    *series->mutable_job() = JobToProto(job);
    series->set_metric(def.name);
    const bool train_only = def.train_only;
    series->set_split(test && !train_only ? v1::SPLIT_TEST : v1::SPLIT_TRAIN);
    const std::vector<int64_t>& counts =
        test && !train_only ? job.test_class_counts : job.train_class_counts;
    if (job.num_classes == 0 || (def.numerator != nullptr && counts.empty())) continue;

    storage::MetricQuery q;
    q.job_ids = {job.id};
    q.split = train_only ? "train" : split;
    q.metrics = {def.numerator == nullptr ? def.name : def.numerator};
    q.min_step = request.min_step();
    q.max_step = max_step;
    auto rows = store.ReadMetrics(q);
    if (!rows.ok()) return rows.status();
    // A diagnostic with one value per step is a scalar (unless the job has one class anyway).
    bool scalar = def.numerator == nullptr;
    if (def.denominator == Denominator::kClassWeighted && job.num_classes > 1) {
      scalar = !rows->empty();
      for (const storage::MetricRow& row : *rows) scalar = scalar && row.values.size() == 1;
    }
    const v1::GroupBy job_group_by = scalar ? v1::GROUP_BY_NONE : group_by;

    const auto groups = MakeGroups(job_group_by, num_groups, job.train_class_counts);
    int64_t split_total = 0;
    for (int64_t n : counts) split_total += n;
    for (size_t g = 0; g < groups.size(); ++g) {
      v1::ClassGroup* group = series->add_groups();
      group->set_index(static_cast<int32_t>(g));
      group->set_num_classes(static_cast<int64_t>(groups[g].size()));
      int64_t examples = 0;
      for (int64_t k : groups[g]) examples += job.train_class_counts[k];
      group->set_train_examples(examples);
      if (job_group_by != v1::GROUP_BY_NONE) {
        for (int64_t k : groups[g]) group->add_classes(k);
      }
    }

    for (const storage::MetricRow& row : *rows) {
      v1::SeriesPoint* point = series->add_points();
      point->set_step(row.step);
      if (scalar) {
        point->add_values(row.values.empty() ? std::nan("") : row.values[0]);
        continue;
      }
      for (const auto& classes : groups) {
        double num = 0;
        double den = 0;
        for (int64_t k : classes) {
          const double value = k < static_cast<int64_t>(row.values.size()) ? row.values[k] : 0;
          if (def.denominator == Denominator::kClassWeighted) {
            // A class without examples in the split has no mean: it weighs nothing.
            num += counts[k] > 0 ? value * static_cast<double>(counts[k]) : 0;
          } else {
            num += value;
          }
          den += static_cast<double>(counts[k]);
        }
        if (def.denominator == Denominator::kSplitSize) den = static_cast<double>(split_total);
        if (def.denominator == Denominator::kClasses) den = static_cast<double>(classes.size());
        point->add_values(den > 0 ? num / den : std::nan(""));
      }
    }
  }
  return response;
}

}  // namespace optbench::server

#include "server/query.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "report/aggregate.h"
#include "server/wire.h"
#include "spec/frequency_groups.h"

namespace optbench::server {
namespace {

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

// Groups of indices into the per-class (or per-item) values, with their labels.
struct Grouping {
  std::vector<std::vector<int64_t>> members;
  std::vector<std::string> labels;  // Per-item groups only.
};

Grouping MakeGroups(v1::GroupBy group_by, int num_groups, const spec::MetricSpec& metric,
                    const std::vector<int64_t>& train_counts) {
  Grouping g;
  if (metric.shape == spec::MetricShape::kPerItem) {
    const int64_t n = static_cast<int64_t>(metric.items.size());
    if (group_by == v1::GROUP_BY_NONE) {
      g.members.emplace_back();
      for (int64_t i = 0; i < n; ++i) g.members.back().push_back(i);
      g.labels.emplace_back();
    } else {
      for (int64_t i = 0; i < n; ++i) {
        g.members.push_back({i});
        g.labels.push_back(metric.items[static_cast<size_t>(i)]);
      }
    }
    return g;
  }
  const int64_t c = static_cast<int64_t>(train_counts.size());
  if (group_by == v1::GROUP_BY_CLASS) {
    for (int64_t k = 0; k < c; ++k) g.members.push_back({k});
  } else if (group_by == v1::GROUP_BY_NONE) {
    g.members.emplace_back();
    for (int64_t k = 0; k < c; ++k) g.members.back().push_back(k);
  } else {
    g.members = spec::FrequencyGroups(train_counts, num_groups);
  }
  return g;
}

// One group of a job's series, with what does not change from step to step (the class counts
// and the denominator) computed once per job rather than at every step.
struct GroupPlan {
  GroupPlan(const spec::MetricSpec& metric, const std::vector<int64_t>& group_members,
            const std::vector<int64_t>& counts, int64_t split_total)
      : aggregate(metric.aggregate), members(group_members) {
    weights.reserve(members.size());
    for (int64_t k : members) {
      const double count =
          k < static_cast<int64_t>(counts.size()) ? static_cast<double>(counts[k]) : 0.0;
      weights.push_back(count);
      switch (aggregate) {
        case spec::Aggregate::kClassMean:
        case spec::Aggregate::kItemMean:
          den += 1;
          break;
        default:
          den += count;
          break;
      }
    }
    if (aggregate == spec::Aggregate::kPerSplitExample) den = static_cast<double>(split_total);
  }

  // The group's value at one step from the stored vector `values` (per class or per item).
  double Value(const std::vector<double>& values) const {
    const int64_t n = static_cast<int64_t>(values.size());
    double num = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      const int64_t k = members[i];
      const double value = k < n ? values[k] : 0;
      // A class without targets in the split has no mean: it weighs nothing.
      if (aggregate == spec::Aggregate::kExampleWeighted) {
        num += weights[i] > 0 ? value * weights[i] : 0;
      } else {
        num += value;
      }
    }
    return den > 0 ? num / den : std::nan("");
  }

  spec::Aggregate aggregate;
  std::vector<int64_t> members;
  std::vector<double> weights;  // The split's count of each member.
  double den = 0;
};

}  // namespace

absl::StatusOr<v1::QueryMetricsResponse> QueryMetrics(storage::StoreReader& store,
                                                      const spec::Catalog& catalog,
                                                      const v1::QueryMetricsRequest& request) {
  const bool test = request.split() == v1::SPLIT_TEST;
  const spec::Split split = test ? spec::Split::kTest : spec::Split::kTrain;
  v1::GroupBy group_by =
      request.group_by() == v1::GROUP_BY_UNSPECIFIED ? v1::GROUP_BY_FREQUENCY : request.group_by();
  const int num_groups = request.groups() == 0 ? 10 : request.groups();
  if (num_groups < 1 || num_groups > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("groups: ", request.groups(), " is out of range; allowed [1, 1000]"));
  }
  if (absl::Status s = report::CheckAggregate(request.aggregate()); !s.ok()) return s;
  const int64_t max_step =
      request.has_max_step() ? request.max_step() : std::numeric_limits<int64_t>::max();

  auto jobs = ResolveJobs(store, request);
  if (!jobs.ok()) return jobs.status();

  v1::QueryMetricsResponse response;
  std::set<std::string> declared;    // Query names the jobs declare, for the error.
  std::set<std::string> train_only;  // Those of them recorded for the train split only.
  std::set<std::string> splits;      // The splits of the jobs that know their data.
  std::string split_problem;         // Why a job that has the metric lacks the split.
  bool answered = false;             // Some job has the metric for the split.
  for (const storage::JobRecord& job : *jobs) {
    v1::Series* series = response.add_series();
    *series->mutable_job() = JobToProto(job);
    series->set_split(test ? v1::SPLIT_TEST : v1::SPLIT_TRAIN);
    absl::StatusOr<std::vector<spec::MetricSpec>> metrics = JobMetrics(job, catalog);
    if (!metrics.ok()) return metrics.status();
    for (const spec::MetricSpec& m : *metrics) {
      if (m.query.empty()) continue;
      declared.insert(m.query);
      if (m.splits == spec::MetricSplits::kTrain) train_only.insert(m.query);
    }
    if (job.num_classes > 0) {
      splits.insert("train");
      if (!job.test_class_counts.empty()) splits.insert("test");
    }
    const spec::MetricSpec* def = request.metric().empty()
                                      ? spec::DefaultMetric(*metrics)
                                      : spec::FindQueryMetric(*metrics, request.metric());
    if (def == nullptr) continue;
    series->set_metric(def->query);
    if (test && def->splits == spec::MetricSplits::kTrain) {
      split_problem = absl::StrCat("split: metric '", def->query,
                                   "' is recorded for the train split only; --split train");
      continue;
    }
    const std::vector<int64_t>& counts = test ? job.test_class_counts : job.train_class_counts;
    if (test && job.num_classes > 0 && counts.empty()) {
      split_problem = absl::StrCat("split: job ", job.id,
                                   " has no test split (its data set has none); it has train");
      continue;
    }
    answered = true;
    const bool per_class = def->shape == spec::MetricShape::kPerClass;
    if (job.num_classes == 0 || (per_class && counts.empty())) continue;  // Not started yet.

    storage::MetricQuery q;
    q.job_ids = {job.id};
    q.split = spec::SplitName(split);
    q.metrics = {def->name};
    q.min_step = request.min_step();
    q.max_step = max_step;
    auto rows = store.ReadMetrics(q);
    if (!rows.ok()) return rows.status();
    const bool scalar = def->shape == spec::MetricShape::kScalar;
    const Grouping groups =
        MakeGroups(scalar ? v1::GROUP_BY_NONE : group_by, num_groups, *def, job.train_class_counts);
    int64_t split_total = 0;
    for (int64_t n : counts) split_total += n;
    for (size_t g = 0; g < groups.members.size(); ++g) {
      v1::ClassGroup* group = series->add_groups();
      group->set_index(static_cast<int32_t>(g));
      if (!groups.labels.empty()) {
        group->set_label(groups.labels[g]);
        continue;
      }
      group->set_num_classes(static_cast<int64_t>(groups.members[g].size()));
      int64_t examples = 0;
      for (int64_t k : groups.members[g]) examples += job.train_class_counts[k];
      group->set_train_examples(examples);
      if (!scalar && group_by != v1::GROUP_BY_NONE) {
        for (int64_t k : groups.members[g]) group->add_classes(k);
      }
    }
    std::vector<GroupPlan> plans;
    if (!scalar) {
      plans.reserve(groups.members.size());
      for (const auto& members : groups.members) {
        plans.emplace_back(*def, members, counts, split_total);
      }
    }
    series->mutable_points()->Reserve(static_cast<int>(rows->size()));
    for (const storage::MetricRow& row : *rows) {
      v1::SeriesPoint* point = series->add_points();
      point->set_step(row.step);
      if (scalar) {
        point->add_values(row.values.empty() ? std::nan("") : row.values[0]);
        continue;
      }
      point->mutable_values()->Reserve(static_cast<int>(plans.size()));
      for (const GroupPlan& plan : plans) point->add_values(plan.Value(row.values));
    }
  }
  if (!answered && !split_problem.empty()) return absl::InvalidArgumentError(split_problem);
  if (!answered && !jobs->empty()) {
    const bool one = request.target_case() == v1::QueryMetricsRequest::kJobId;
    std::string message = absl::StrCat("metric: unknown metric '", request.metric(), "'; ",
                                       one ? "the job declares " : "its jobs declare ",
                                       declared.empty() ? "none" : absl::StrJoin(declared, ", "));
    if (!train_only.empty()) {
      absl::StrAppend(&message, " (train split only: ", absl::StrJoin(train_only, ", "), ")");
    }
    absl::StrAppend(&message, "; splits: ",
                    splits.empty() ? "train, and test where the data set has one (not run yet)"
                                   : absl::StrJoin(splits.rbegin(), splits.rend(), ", "));
    return absl::InvalidArgumentError(message);
  }
  if (request.aggregate() == "seed") report::AggregateOverSeeds(&response);
  return response;
}

}  // namespace optbench::server

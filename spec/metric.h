// Metric declarations: what a task, an objective, an observer or a model emits at an evaluation,
// declared once beside the code that computes it. From the declarations derive everything else:
// the coordinator's validation of reports, which metrics a job has, how `optbench query` groups
// them, and `optbench list metrics`. Eigen-free.
#ifndef OPTBENCH_SPEC_METRIC_H_
#define OPTBENCH_SPEC_METRIC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace optbench::spec {

enum class Split { kTrain, kTest };
const char* SplitName(Split split);  // "train", "test"

enum class MetricShape {
  kScalar,    // One value.
  kPerClass,  // num_classes values, value k for class k (packed; never a row per class).
  kPerItem,   // One value per item of the task's own grouping (a block, a layer), named by
              // MetricSpec::items at run time.
};

enum class MetricSplits {
  kTrain,  // Recorded for the train split only (optimizer-side statistics).
  kEach,   // Recorded for every split the data set has.
};

// How a group of classes gets one value from the stored per-class values v_k (ALGORITHMS.md 1.4,
// 6.1): groups are always exact after the fact, whatever their classes.
enum class Aggregate {
  kNone,             // Scalars: the value itself.
  kPerExample,       // v_k are sums over class k's examples: sum_k v_k / sum_k n_k (loss, ...).
  kPerSplitExample,  // v_k are sums over all examples: sum_k v_k / n (p_mass).
  kClassMean,        // v_k are per-class values: their mean over the group's classes (head_*).
  kExampleWeighted,  // v_k are means over class k's examples: weighted by n_k (diagnostics).
  kItemMean,         // kPerItem: the mean over the group's items.
};

struct MetricSpec {
  std::string name;   // On the wire and in the database: [a-z0-9_.], 1..64 characters.
  std::string query;  // What `optbench query --metric` calls it; empty = stored only.
  MetricShape shape = MetricShape::kScalar;
  MetricSplits splits = MetricSplits::kTrain;
  Aggregate aggregate = Aggregate::kNone;
  std::string doc;  // One line.
  // kPerItem: what an item is ("block"), and the items' names, set when a run declares its
  // metrics (RunInfo); the static declaration leaves `items` empty.
  std::string item_kind;
  std::vector<std::string> items;
  // The metric shown when a query names none (an objective marks its loss).
  bool primary = false;
  // Larger values are better (accuracy), so a target is reached from below; false: smaller are
  // better (loss) or neither is (a count).
  bool higher_is_better = false;

  bool operator==(const MetricSpec& other) const;
};

// A metric queried under its own name (query = name).
MetricSpec ScalarMetric(std::string name, MetricSplits splits, std::string doc);
MetricSpec PerClassMetric(std::string name, MetricSplits splits, Aggregate aggregate,
                          std::string doc);
MetricSpec PerItemMetric(std::string name, std::string item_kind, MetricSplits splits,
                         std::string doc);
// The same declaration stored as `stored` but queried as `query` ("loss_sum" -> "loss"), or
// not queryable on its own when `query` is empty.
MetricSpec Renamed(MetricSpec spec, std::string query);

// The same declaration with higher_is_better set (accuracy-like metrics).
MetricSpec HigherIsBetter(MetricSpec spec);
// The name of the trainer's elapsed training time, a scalar of the train split (`optbench profile
// --time seconds` reads it).
inline constexpr char kWallSecondsMetric[] = "wall_seconds";

// True for a name of 1..64 characters of [a-z0-9_.] that starts with a letter.
bool IsValidMetricName(absl::string_view name);

// Checks one reported value of `spec` for `split` with `count` values, for a run of
// `num_classes` classes (0 = not known yet). InvalidArgument naming the metric and what was
// expected (a scalar with 2 values, a per-class vector of the wrong length, a train-only metric
// for the test split).
absl::Status CheckMetricValue(const MetricSpec& spec, Split split, int64_t count,
                              int64_t num_classes);

// "scalar", "per class", "per block".
std::string DescribeShape(const MetricSpec& spec);

// The metric a query of a job with `metrics` shows by default: the primary one, else the first
// queryable one, else null.
const MetricSpec* DefaultMetric(const std::vector<MetricSpec>& metrics);

// The declaration named `name` (stored name) in `metrics`, or null.
const MetricSpec* FindMetric(const std::vector<MetricSpec>& metrics, absl::string_view name);
// The declaration queried as `query` in `metrics`, or null.
const MetricSpec* FindQueryMetric(const std::vector<MetricSpec>& metrics, absl::string_view query);

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_METRIC_H_

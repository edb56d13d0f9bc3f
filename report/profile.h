// Time to target and performance profiles, as AlgoPerf scores training algorithms (Dahl et al.,
// "Benchmarking Neural Network Training Algorithms", 2023; Dolan & Moré, "Benchmarking
// optimization software with performance profiles", Math. Program. 91, 2002): per workload (a
// sweep) and optimizer, the steps and wall seconds its best hyperparameters need to reach a
// target value of a metric, overall or in one frequency group (ALGORITHMS.md 1.4), and the
// fraction of workloads each optimizer solves within τ times the best optimizer's time.
//
// The core (ComputeProfile) works on plain data, so tests can feed it hand-made curves;
// ProfileRunsFromQuery builds that data from what QueryMetrics answers. Used by `optbench profile`
// and by the coordinator's dashboard.
#ifndef OPTBENCH_REPORT_PROFILE_H_
#define OPTBENCH_REPORT_PROFILE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "optbench/v1/coordinator.pb.h"

namespace optbench::report {

// Whether the metric must fall to the target (loss) or rise to it (accuracy).
enum class Goal { kMin, kMax };
// What "time" means: evaluated steps (deterministic) or the job's wall_seconds at that step
// (depends on the machine and its load).
enum class TimeMeasure { kSteps, kSeconds };

// The workload of a job of sweep `sweep_id` with `labels`: the sweep id, followed by the labels
// that name the problem rather than the optimizer's hyperparameters, when the sweep varies them:
// "task", "dataset", "model", "objective" and "source" and their "<slot>.<param>" keys
// ("s-1a2b3c4d dataset.m=5 model=mlp"). So one sweep over several data sets is several
// workloads, and a best setting is never picked across problems.
std::string WorkloadOf(const std::string& sweep_id,
                       const std::map<std::string, std::string>& labels);

// The goal of the metric of `metric` (a QueryMetrics answer) when none is given: kMax when its
// declaration (MetricDeclaration.higher_is_better, in the first job that declares the metric)
// says larger is better — accuracy, accuracy_fgsm, accuracy_pgd, p_true, agreement —, else kMin
// (loss, recon_mse, ...; also for jobs stored before declarations carried it).
Goal DefaultGoal(const v1::QueryMetricsResponse& metric);
// "min" / "max", "steps" / "seconds".
const char* GoalName(Goal goal);
const char* TimeMeasureName(TimeMeasure time);

// One job's evaluations: the input of ComputeProfile.
struct ProfileRun {
  std::string job_id;
  // What the optimizers are compared on: its sweep, and within it the problem (WorkloadOf).
  std::string workload;
  std::string optimizer;  // Its "optimizer" label (or the spec's optimizer name).
  // The job's labels without "seed": the jobs of a workload and optimizer with equal settings are
  // the seeds of one hyperparameter setting.
  std::map<std::string, std::string> setting;
  // (step, value) at every evaluation, steps ascending. NaN (a diverged job, an empty group)
  // never reaches a target.
  std::vector<std::pair<int64_t, double>> curve;
  // The job's wall_seconds by evaluated step; empty when it reports none.
  std::map<int64_t, double> wall_seconds;
};

struct ProfileOptions {
  double target = 0;
  Goal goal = Goal::kMin;
  TimeMeasure time = TimeMeasure::kSteps;
};

// One job's outcome: the first evaluation whose value is <= target (kMin) or >= target (kMax).
// No interpolation between evaluations: as AlgoPerf, the time of the first evaluation that
// reaches it.
struct RunOutcome {
  std::string job_id;
  std::optional<int64_t> step;  // Unset: never reached.
  // wall_seconds at `step`; +inf when never reached; NaN when reached but not reported there.
  double seconds = 0;
  double final_value = 0;  // The value at the last evaluation (NaN when there is none).
};

// One hyperparameter setting of an optimizer on a workload, over its seeds.
struct SettingOutcome {
  std::map<std::string, std::string> setting;
  std::vector<RunOutcome> runs;  // Its jobs, in job order.
  int reached = 0;               // Runs that reached the target, of runs.size().
  // Medians over the seeds, a seed that never reached counted as +inf: +inf when half or more
  // did not (with an even count the median is the mean of the middle two).
  double median_steps = 0;
  double median_seconds = 0;
  // The median final value (a NaN final value counted as the worst); NaN when all are NaN.
  double median_final = 0;
};

// An optimizer on a workload: its best setting and how long that took.
struct ProfileEntry {
  std::string workload;
  std::string optimizer;
  int settings = 0;  // Settings it was run with on the workload; 0 = not run there.
  // The best setting (see ComputeProfile); when none reached the target, the one with the best
  // median final value, for information. Unset when settings == 0.
  std::optional<SettingOutcome> best;
  bool solved = false;  // Its best setting's median time is finite.
  double time = 0;      // Median time in the chosen measure; +inf when not solved.
  // time / the workload's best time over optimizers: 1 for the best; +inf when not solved. When
  // the best time is 0 (the target met at the first evaluation), 1 for times of 0, +inf else.
  double ratio = 0;
};

// ρ_o(τ) of one optimizer as a right-continuous step function: 0 below the first breakpoint,
// then the fraction at the last breakpoint with tau <= τ. Breakpoints are the distinct finite
// ratios of its entries, ascending; fraction = |{w : r_{o,w} <= tau}| / |W|.
struct ProfileCurve {
  std::string optimizer;
  std::vector<std::pair<double, double>> breakpoints;  // (tau, fraction)
};
// ρ(τ) from `curve`.
double Rho(const ProfileCurve& curve, double tau);

struct ProfileResult {
  std::vector<std::string> workloads;   // In order of their first job.
  std::vector<std::string> optimizers;  // In order of their first job.
  std::vector<ProfileEntry> entries;    // Workload-major, optimizers in order within each.
  std::vector<ProfileCurve> curves;     // One per optimizer, in order.
};

// Time to target per workload and optimizer, and the performance profile.
//
// Best hyperparameters of (workload, optimizer): the setting with the smallest median time in
// `options.time`; ties go to the better median final value (lower for kMin, higher for kMax),
// then to the setting whose first job comes first. If no setting has a finite median, the
// optimizer fails the workload (time +inf) and the entry shows the setting with the best median
// final value.
//
// Performance profile (Dolan & Moré 2002, as AlgoPerf): best_w = min over optimizers of t_{o,w};
// r_{o,w} = t_{o,w} / best_w (+inf if o did not solve w; every r is +inf when no optimizer solved
// w); ρ_o(τ) = |{w : r_{o,w} <= τ}| / |W|. An optimizer a workload was not run with fails it.
//
// Errors: InvalidArgument for a target that is not finite; FailedPrecondition when `runs` is
// empty, or (time in seconds) when a run reached the target at a step without wall_seconds.
absl::StatusOr<ProfileResult> ComputeProfile(const std::vector<ProfileRun>& runs,
                                             const ProfileOptions& options);

// What ProfileRunsFromQuery built, and what it left out.
struct ProfileInput {
  std::vector<ProfileRun> runs;
  // Jobs left out because they did not finish, by state ("running": 2). Succeeded and diverged
  // jobs are kept: a divergence is the optimizer's outcome; queued, running, failed (the
  // infrastructure's) and cancelled jobs are left out.
  std::map<std::string, int> left_out;
};

// The request for the wall_seconds of the jobs `request` asks about (the same target): the train
// split's scalar spec::kWallSecondsMetric, GROUP_BY_NONE, no aggregation.
v1::QueryMetricsRequest WallSecondsQuery(const v1::QueryMetricsRequest& request);

// Runs from QueryMetrics answers: `metric` for the metric (GROUP_BY_NONE when `group` is 0,
// GROUP_BY_FREQUENCY otherwise) and `wall_seconds` for WallSecondsQuery (an empty response when
// the jobs report none). `group` 0 takes each series'
// only value, `group` g >= 1 its g-th (frequency group g, 1 = the most frequent classes).
//
// Errors: InvalidArgument for a `group` of a scalar metric (it has only its overall value);
// OutOfRange when a series has fewer than `group` groups; FailedPrecondition when the group has no
// classes in a job (one class spans several breakpoints: fewer groups help) or no job finished.
absl::StatusOr<ProfileInput> ProfileRunsFromQuery(const v1::QueryMetricsResponse& metric,
                                                  const v1::QueryMetricsResponse& wall_seconds,
                                                  int group);

// The τ at which tables show ρ: 1, 1.5, 2 and 4.
inline constexpr double kTableTaus[] = {1, 1.5, 2, 4};

// What ProfileToTable and ProfileToJson say about the question asked.
struct ProfileQuestion {
  std::string metric;  // "loss"
  std::string split;   // "train" or "test"
  int group = 0;       // 0 = overall; else the frequency group, 1 = most frequent.
  int groups = 0;      // G when group > 0.
  ProfileOptions options;
  // Sweep names by sweep id, shown beside the workloads of the sweep where known.
  std::map<std::string, std::string> workload_names;
};

// "k=v k=v" of a setting without its optimizer and workload labels; "-" when nothing else
// tells it apart.
std::string SettingText(const std::map<std::string, std::string>& setting);
// A workload as the table names it: "s-1a2b3c4d dataset.m=5 (the sweep's name)".
std::string WorkloadTitle(const std::string& workload, const ProfileQuestion& question);
// The question in words: "train loss in frequency group 4 of 4 (the rarest) <= 1".
std::string QuestionText(const ProfileQuestion& question);

// A profile's settings as a user typed them (empty: the default), for ParseProfileSettings.
struct ProfileSettingsText {
  std::string target;  // Required: a finite number.
  std::string goal;    // "min" or "max"; empty: the metric's declared direction (DefaultGoal).
  std::string time;    // "steps" (default) or "seconds".
  std::string group;   // A frequency group 1..question->groups, or "rarest"; empty: overall.
};
// Parses `text` into question->options (target, time) and question->group (question->groups
// set first), and the goal into `goal` (unset when not given: the caller takes DefaultGoal of
// the answers). InvalidArgument naming `prefix` + the setting and its value, e.g.
// "--goal: 'up' is not min or max" (the CLI's prefix "--", the dashboard's none).
absl::Status ParseProfileSettings(const ProfileSettingsText& text, const std::string& prefix,
                                  ProfileQuestion* question, std::optional<Goal>* goal);
// ProfileInput::left_out in words: "2 running, 1 queued"; empty when nothing was left out.
std::string LeftOutText(const std::map<std::string, int>& left_out);

// A line on the question and the rule, then a row per entry: workload ("s-1a2b3c4d (name)"),
// optimizer, best setting (its labels but optimizer, seed and the workload's; "-" for none;
// "(best final)" when not solved), settings tried, reached k/n, median steps, median seconds,
// median final value, ratio to the best; then ρ at kTableTaus per optimizer.
std::string ProfileToTable(const ProfileResult& result, const ProfileQuestion& question);
// One row per entry: workload, optimizer, setting (as in the table), settings, reached,
// seeds, median_steps, median_seconds, median_final, time, ratio, solved (infinity and NaN are
// empty fields). The profile itself is in the table, JSON and SVG.
std::string ProfileToCsv(const ProfileResult& result);
// {"metric", "split", "group" (null overall), "groups", "target", "goal", "time", "entries": [{
// "workload", "workload_name" (null when not known), "optimizer", "setting": {labels}, "settings",
// "reached", "seeds", "median_steps", "median_seconds", "median_final", "time", "ratio", "solved",
// "runs": [{"job_id", "step", "seconds", "final"}]}], "profile": [{"optimizer", "breakpoints":
// [[tau, fraction]...], "rho": {"1": x, "1.5": x, "2": x, "4": x}}]}; infinity and NaN are null.
std::string ProfileToJson(const ProfileResult& result, const ProfileQuestion& question);

}  // namespace optbench::report

#endif  // OPTBENCH_REPORT_PROFILE_H_

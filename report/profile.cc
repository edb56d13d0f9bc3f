#include "report/profile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json.h"
#include "proto/convert.h"
#include "report/format.h"
#include "spec/metric.h"
#include "spec/params.h"

namespace optbench::report {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Reaches(double value, const ProfileOptions& options) {
  return options.goal == Goal::kMin ? value <= options.target : value >= options.target;
}

// Lower is better whatever the goal; NaN is the worst.
double Badness(double value, Goal goal) {
  if (std::isnan(value)) return kInf;
  return goal == Goal::kMin ? value : -value;
}

// The median of `values`; the mean of the middle two for an even count. NaN if any is NaN.
double Median(std::vector<double> values) {
  if (values.empty()) return kNaN;
  if (std::any_of(values.begin(), values.end(), [](double v) { return std::isnan(v); })) {
    return kNaN;
  }
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2;
}

RunOutcome Outcome(const ProfileRun& run, const ProfileOptions& options) {
  RunOutcome out;
  out.job_id = run.job_id;
  out.seconds = kInf;
  out.final_value = run.curve.empty() ? kNaN : run.curve.back().second;
  for (const auto& [step, value] : run.curve) {
    if (!Reaches(value, options)) continue;
    out.step = step;
    auto it = run.wall_seconds.find(step);
    out.seconds = it == run.wall_seconds.end() ? kNaN : it->second;
    break;
  }
  return out;
}

SettingOutcome Summarize(const std::map<std::string, std::string>& setting,
                         std::vector<RunOutcome> runs, Goal goal) {
  SettingOutcome out;
  out.setting = setting;
  std::vector<double> steps, seconds, finals;
  for (const RunOutcome& r : runs) {
    if (r.step.has_value()) ++out.reached;
    steps.push_back(r.step.has_value() ? static_cast<double>(*r.step) : kInf);
    seconds.push_back(r.seconds);
    finals.push_back(Badness(r.final_value, goal));
  }
  out.runs = std::move(runs);
  out.median_steps = Median(steps);
  out.median_seconds = Median(seconds);
  const double final_badness = Median(finals);
  out.median_final = std::isinf(final_badness) ? kNaN
                     : goal == Goal::kMin      ? final_badness
                                               : -final_badness;
  return out;
}

double TimeOf(const SettingOutcome& s, TimeMeasure time) {
  return time == TimeMeasure::kSteps ? s.median_steps : s.median_seconds;
}

// A label that names the problem (WorkloadOf), not a hyperparameter.
bool IsWorkloadLabel(const std::string& key) {
  const std::string slot = key.substr(0, key.find('.'));
  return slot == "task" || slot == "dataset" || slot == "model" || slot == "objective" ||
         slot == "source";
}

}  // namespace

std::string SettingText(const std::map<std::string, std::string>& setting) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : setting) {
    if (k != "optimizer" && !IsWorkloadLabel(k)) parts.push_back(absl::StrCat(k, "=", v));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

std::string WorkloadTitle(const std::string& workload, const ProfileQuestion& question) {
  auto name = question.workload_names.find(workload.substr(0, workload.find(' ')));
  return name == question.workload_names.end() ? workload
                                               : absl::StrCat(workload, " (", name->second, ")");
}

std::string QuestionText(const ProfileQuestion& q) {
  return absl::StrCat(
      q.split, " ", q.metric,
      q.group > 0 ? absl::StrCat(" in frequency group ", q.group, " of ", q.groups,
                                 q.group == q.groups ? " (the rarest)" : "",
                                 q.group == 1 ? " (the most frequent)" : "")
                  : std::string(" (overall)"),
      q.options.goal == Goal::kMin ? " <= " : " >= ", spec::FormatDouble(q.options.target));
}

namespace {

std::string JsonNumber(double v) { return std::isfinite(v) ? spec::FormatDouble(v) : "null"; }
std::string CsvNumber(double v) { return std::isfinite(v) ? spec::FormatDouble(v) : ""; }
// For the table: short, "inf" for never, "-" for not known.
std::string Short(double v) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return "inf";
  return absl::StrFormat("%.4g", v);
}

}  // namespace

std::string WorkloadOf(const std::string& sweep_id,
                       const std::map<std::string, std::string>& labels) {
  std::string out = sweep_id;
  for (const auto& [key, value] : labels) {
    if (IsWorkloadLabel(key)) absl::StrAppend(&out, " ", key, "=", value);
  }
  return out;
}

Goal DefaultGoal(const v1::QueryMetricsResponse& metric) {
  for (const v1::Series& s : metric.series()) {
    for (const v1::MetricDeclaration& d : s.job().metrics()) {
      if (d.query() == s.metric()) return d.higher_is_better() ? Goal::kMax : Goal::kMin;
    }
  }
  return Goal::kMin;
}

v1::QueryMetricsRequest WallSecondsQuery(const v1::QueryMetricsRequest& request) {
  v1::QueryMetricsRequest out;
  if (request.has_sweep_id()) out.set_sweep_id(request.sweep_id());
  if (request.has_job_id()) out.set_job_id(request.job_id());
  out.set_metric(spec::kWallSecondsMetric);
  out.set_split(v1::SPLIT_TRAIN);
  out.set_group_by(v1::GROUP_BY_NONE);
  return out;
}

const char* GoalName(Goal goal) { return goal == Goal::kMin ? "min" : "max"; }
const char* TimeMeasureName(TimeMeasure time) {
  return time == TimeMeasure::kSteps ? "steps" : "seconds";
}

double Rho(const ProfileCurve& curve, double tau) {
  double rho = 0;
  for (const auto& [t, fraction] : curve.breakpoints) {
    if (t > tau) break;
    rho = fraction;
  }
  return rho;
}

absl::StatusOr<ProfileResult> ComputeProfile(const std::vector<ProfileRun>& runs,
                                             const ProfileOptions& options) {
  if (!std::isfinite(options.target)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target: ", options.target, " is not a finite number"));
  }
  if (runs.empty()) return absl::FailedPreconditionError("no finished job to profile");

  ProfileResult result;
  // (workload, optimizer) -> settings in order of their first job, each with its runs.
  using Settings =
      std::vector<std::pair<std::map<std::string, std::string>, std::vector<RunOutcome>>>;
  std::map<std::pair<std::string, std::string>, Settings> by_pair;
  for (const ProfileRun& run : runs) {
    if (absl::c_find(result.workloads, run.workload) == result.workloads.end()) {
      result.workloads.push_back(run.workload);
    }
    if (absl::c_find(result.optimizers, run.optimizer) == result.optimizers.end()) {
      result.optimizers.push_back(run.optimizer);
    }
    RunOutcome outcome = Outcome(run, options);
    if (options.time == TimeMeasure::kSeconds && outcome.step.has_value() &&
        std::isnan(outcome.seconds)) {
      return absl::FailedPreconditionError(
          absl::StrCat("time seconds: job ", run.job_id, " reached the target at step ",
                       *outcome.step, " but reported no wall_seconds there; use --time steps"));
    }
    Settings& settings = by_pair[{run.workload, run.optimizer}];
    auto it = std::find_if(settings.begin(), settings.end(),
                           [&](const auto& s) { return s.first == run.setting; });
    if (it == settings.end()) {
      settings.emplace_back(run.setting, std::vector<RunOutcome>());
      it = std::prev(settings.end());
    }
    it->second.push_back(std::move(outcome));
  }

  for (const std::string& workload : result.workloads) {
    const size_t first = result.entries.size();
    double best_time = kInf;
    for (const std::string& optimizer : result.optimizers) {
      ProfileEntry& entry = result.entries.emplace_back();
      entry.workload = workload;
      entry.optimizer = optimizer;
      entry.time = kInf;
      auto found = by_pair.find({workload, optimizer});
      if (found == by_pair.end()) continue;
      entry.settings = static_cast<int>(found->second.size());
      // Key (time, final badness, order): lexicographically smallest wins; an unsolved setting
      // has time +inf, so among those the best final value wins.
      std::tuple<double, double, size_t> best_key{kInf, kInf, SIZE_MAX};
      for (size_t i = 0; i < found->second.size(); ++i) {
        SettingOutcome s = Summarize(found->second[i].first, found->second[i].second, options.goal);
        const std::tuple<double, double, size_t> key{TimeOf(s, options.time),
                                                     Badness(s.median_final, options.goal), i};
        if (!entry.best.has_value() || key < best_key) {
          best_key = key;
          entry.best = std::move(s);
        }
      }
      entry.time = std::get<0>(best_key);
      entry.solved = std::isfinite(entry.time);
      if (entry.solved) best_time = std::min(best_time, entry.time);
    }
    for (size_t i = first; i < result.entries.size(); ++i) {
      ProfileEntry& entry = result.entries[i];
      if (!entry.solved) {
        entry.ratio = kInf;
      } else if (best_time == 0) {
        entry.ratio = entry.time == 0 ? 1 : kInf;
      } else {
        entry.ratio = entry.time / best_time;
      }
    }
  }

  const double num_workloads = static_cast<double>(result.workloads.size());
  for (const std::string& optimizer : result.optimizers) {
    ProfileCurve& curve = result.curves.emplace_back();
    curve.optimizer = optimizer;
    std::vector<double> ratios;
    for (const ProfileEntry& e : result.entries) {
      if (e.optimizer == optimizer && std::isfinite(e.ratio)) ratios.push_back(e.ratio);
    }
    std::sort(ratios.begin(), ratios.end());
    for (size_t i = 0; i < ratios.size(); ++i) {
      if (i + 1 < ratios.size() && ratios[i + 1] == ratios[i]) continue;
      curve.breakpoints.emplace_back(ratios[i], static_cast<double>(i + 1) / num_workloads);
    }
  }
  return result;
}

absl::StatusOr<ProfileInput> ProfileRunsFromQuery(const v1::QueryMetricsResponse& metric,
                                                  const v1::QueryMetricsResponse& wall_seconds,
                                                  int group) {
  std::map<std::string, const v1::Series*> seconds_of;
  for (const v1::Series& s : wall_seconds.series()) seconds_of[s.job().id()] = &s;
  ProfileInput input;
  for (const v1::Series& s : metric.series()) {
    const v1::Job& job = s.job();
    if (job.state() != v1::JOB_STATE_SUCCEEDED && job.state() != v1::JOB_STATE_DIVERGED) {
      input.left_out[StateName(job.state())]++;
      continue;
    }
    const int index = group > 0 ? group - 1 : 0;
    // The server answers a scalar with its one overall value whatever the grouping asked for.
    if (group > 0 && s.groups_size() == 1 && s.groups(0).classes_size() == 0 &&
        s.groups(0).label().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("group: ", s.metric(), " is a scalar (job ", job.id(),
                       "): it has no frequency groups; leave out --group"));
    }
    if (index >= s.groups_size()) {
      return absl::OutOfRangeError(absl::StrCat(
          "group: ", group, " is out of range: job ", job.id(), "'s ", s.metric(), " has ",
          s.groups_size(), " group(s)",
          s.groups_size() == 1 ? " (a scalar metric has only its overall value)" : ""));
    }
    if (group > 0 && s.groups(index).num_classes() == 0 && s.groups(index).label().empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("group: ", group, " has no classes in job ", job.id(),
                       " (one class spans several breakpoints of its ", s.groups_size(),
                       " frequency groups); use fewer --groups"));
    }
    ProfileRun& run = input.runs.emplace_back();
    run.job_id = job.id();
    auto optimizer = job.labels().find("optimizer");
    run.optimizer =
        optimizer != job.labels().end() ? optimizer->second : job.spec().optimizer().name();
    run.setting = std::map<std::string, std::string>(job.labels().begin(), job.labels().end());
    run.setting.erase("seed");
    run.workload = WorkloadOf(job.sweep_id(), run.setting);
    for (const v1::SeriesPoint& p : s.points()) {
      run.curve.emplace_back(p.step(), index < p.values_size() ? p.values(index) : kNaN);
    }
    if (auto it = seconds_of.find(job.id()); it != seconds_of.end()) {
      for (const v1::SeriesPoint& p : it->second->points()) {
        if (p.values_size() > 0) run.wall_seconds[p.step()] = p.values(0);
      }
    }
  }
  if (input.runs.empty()) {
    std::vector<std::string> states;
    for (const auto& [state, n] : input.left_out) states.push_back(absl::StrCat(n, " ", state));
    return absl::FailedPreconditionError(
        absl::StrCat("no finished job to profile (succeeded or diverged); the jobs: ",
                     states.empty() ? "none" : absl::StrJoin(states, ", ")));
  }
  return input;
}

std::string ProfileToTable(const ProfileResult& result, const ProfileQuestion& question) {
  std::string out = absl::StrCat(
      "time to target: ", QuestionText(question), ", time in ",
      TimeMeasureName(question.options.time),
      "\nbest setting per optimizer and workload: the smallest median ",
      TimeMeasureName(question.options.time),
      " over seeds (a seed that never reaches counts as inf), ties to the better median final "
      "value, then to the first\n\n");
  std::vector<std::vector<std::string>> rows = {{"workload", "optimizer", "best setting",
                                                 "settings", "reached", "median steps",
                                                 "median seconds", "median final", "ratio"}};
  for (const ProfileEntry& e : result.entries) {
    const std::string workload = WorkloadTitle(e.workload, question);
    if (!e.best.has_value()) {
      rows.push_back({workload, e.optimizer, "(not run)", "0", "-", "-", "-", "-", "inf"});
      continue;
    }
    const SettingOutcome& s = *e.best;
    rows.push_back(
        {workload, e.optimizer,
         e.solved ? SettingText(s.setting) : absl::StrCat(SettingText(s.setting), " (best final)"),
         absl::StrCat(e.settings), absl::StrCat(s.reached, "/", s.runs.size()),
         Short(s.median_steps), Short(s.median_seconds), Short(s.median_final), Short(e.ratio)});
  }
  absl::StrAppend(&out, TextTable(rows));
  absl::StrAppend(&out, "\nperformance profile: fraction of the ", result.workloads.size(),
                  " workload(s) solved within tau x the best time\n");
  std::vector<std::vector<std::string>> profile = {{"optimizer"}};
  for (double tau : kTableTaus) profile[0].push_back(absl::StrCat("tau=", tau));
  for (const ProfileCurve& c : result.curves) {
    std::vector<std::string>& row = profile.emplace_back();
    row.push_back(c.optimizer);
    for (double tau : kTableTaus) row.push_back(absl::StrFormat("%.3g", Rho(c, tau)));
  }
  absl::StrAppend(&out, TextTable(profile));
  return out;
}

std::string ProfileToCsv(const ProfileResult& result) {
  std::string out =
      "workload,optimizer,setting,settings,reached,seeds,median_steps,median_seconds,"
      "median_final,time,ratio,solved\n";
  for (const ProfileEntry& e : result.entries) {
    const SettingOutcome empty;
    const SettingOutcome& s = e.best.has_value() ? *e.best : empty;
    absl::StrAppend(&out, CsvQuote(e.workload), ",", CsvQuote(e.optimizer), ",",
                    CsvQuote(e.best.has_value() ? SettingText(s.setting) : ""), ",", e.settings,
                    ",", s.reached, ",", s.runs.size(), ",",
                    CsvNumber(e.best.has_value() ? s.median_steps : kInf), ",",
                    CsvNumber(e.best.has_value() ? s.median_seconds : kInf), ",",
                    CsvNumber(e.best.has_value() ? s.median_final : kNaN), ",", CsvNumber(e.time),
                    ",", CsvNumber(e.ratio), ",", e.solved ? "true" : "false", "\n");
  }
  return out;
}

std::string ProfileToJson(const ProfileResult& result, const ProfileQuestion& question) {
  std::vector<std::string> entries;
  for (const ProfileEntry& e : result.entries) {
    const SettingOutcome empty;
    const SettingOutcome& s = e.best.has_value() ? *e.best : empty;
    std::vector<std::string> runs;
    for (const RunOutcome& r : s.runs) {
      runs.push_back(absl::StrCat("{\"job_id\":", JsonQuote(r.job_id),
                                  ",\"step\":", r.step.has_value() ? absl::StrCat(*r.step) : "null",
                                  ",\"seconds\":", JsonNumber(r.seconds),
                                  ",\"final\":", JsonNumber(r.final_value), "}"));
    }
    auto name = question.workload_names.find(e.workload.substr(0, e.workload.find(' ')));
    entries.push_back(absl::StrCat(
        "{\"workload\":", JsonQuote(e.workload), ",\"workload_name\":",
        name == question.workload_names.end() ? "null" : JsonQuote(name->second),
        ",\"optimizer\":", JsonQuote(e.optimizer), ",\"setting\":", proto::LabelsToJson(s.setting),
        ",\"settings\":", e.settings, ",\"reached\":", s.reached, ",\"seeds\":", s.runs.size(),
        ",\"median_steps\":", JsonNumber(e.best.has_value() ? s.median_steps : kInf),
        ",\"median_seconds\":", JsonNumber(e.best.has_value() ? s.median_seconds : kInf),
        ",\"median_final\":", JsonNumber(e.best.has_value() ? s.median_final : kNaN),
        ",\"time\":", JsonNumber(e.time), ",\"ratio\":", JsonNumber(e.ratio), ",\"solved\":",
        e.solved ? "true" : "false", ",\"runs\":[", absl::StrJoin(runs, ","), "]}"));
  }
  std::vector<std::string> curves;
  for (const ProfileCurve& c : result.curves) {
    std::vector<std::string> points, rho;
    for (const auto& [tau, fraction] : c.breakpoints) {
      points.push_back(absl::StrCat("[", JsonNumber(tau), ",", JsonNumber(fraction), "]"));
    }
    for (double tau : kTableTaus) {
      rho.push_back(absl::StrCat("\"", tau, "\":", JsonNumber(Rho(c, tau))));
    }
    curves.push_back(absl::StrCat("{\"optimizer\":", JsonQuote(c.optimizer), ",\"breakpoints\":[",
                                  absl::StrJoin(points, ","), "],\"rho\":{",
                                  absl::StrJoin(rho, ","), "}}"));
  }
  const ProfileOptions& o = question.options;
  return absl::StrCat(
      "{\"metric\":", JsonQuote(question.metric), ",\"split\":", JsonQuote(question.split),
      ",\"group\":", question.group > 0 ? absl::StrCat(question.group) : "null",
      ",\"groups\":", question.group > 0 ? absl::StrCat(question.groups) : "null",
      ",\"target\":", JsonNumber(o.target), ",\"goal\":\"", GoalName(o.goal), "\",\"time\":\"",
      TimeMeasureName(o.time), "\",\n\"entries\":[\n  ", absl::StrJoin(entries, ",\n  "),
      "\n],\n\"profile\":[\n  ", absl::StrJoin(curves, ",\n  "), "\n]}\n");
}

absl::Status ParseProfileSettings(const ProfileSettingsText& text, const std::string& prefix,
                                  ProfileQuestion* question, std::optional<Goal>* goal) {
  ProfileOptions& options = question->options;
  if (!absl::SimpleAtod(text.target, &options.target) || !std::isfinite(options.target)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "target: '", text.target, "' is not a finite number"));
  }
  if (text.goal.empty()) {
    goal->reset();
  } else if (text.goal == "min" || text.goal == "max") {
    *goal = text.goal == "min" ? Goal::kMin : Goal::kMax;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "goal: '", text.goal, "' is not min or max"));
  }
  if (!text.time.empty() && text.time != "steps" && text.time != "seconds") {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "time: '", text.time, "' is not steps or seconds"));
  }
  options.time = text.time == "seconds" ? TimeMeasure::kSeconds : TimeMeasure::kSteps;
  question->group = 0;
  if (text.group == "rarest") {
    question->group = question->groups;
  } else if (!text.group.empty() && (!absl::SimpleAtoi(text.group, &question->group) ||
                                     question->group < 1 || question->group > question->groups)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "group: '", text.group, "' is not a group in 1..", question->groups, " (of ",
        prefix, "groups ", question->groups, ", 1 = most frequent) or rarest"));
  }
  return absl::OkStatus();
}

std::string LeftOutText(const std::map<std::string, int>& left_out) {
  std::vector<std::string> states;
  for (const auto& [state, n] : left_out) states.push_back(absl::StrCat(n, " ", state));
  return absl::StrJoin(states, ", ");
}

}  // namespace optbench::report

#include "report/format.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "proto/convert.h"
#include "spec/params.h"

namespace optbench::report {
namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string JsonString(const std::string& s) { return JsonQuote(s); }

std::string Number(double v) { return std::isfinite(v) ? spec::FormatDouble(v) : ""; }

std::vector<const v1::Job*> JobsOf(const v1::QueryMetricsResponse& response) {
  std::vector<const v1::Job*> jobs;
  for (const v1::Series& s : response.series()) jobs.push_back(&s.job());
  return jobs;
}

std::string SplitName(v1::Split split) { return split == v1::SPLIT_TEST ? "test" : "train"; }

// Calls `row` for every (series, point, group) triple of `list` (the response's series or its
// aggregates), with the group's number as every output of the CLI shows it: a frequency group
// 1-based, 1 = the most frequent classes (the wire's ClassGroup.index + 1); with group_by class,
// the class's own id (a label of the data set).
template <typename SeriesList, typename F>
void ForEachRow(const SeriesList& list, v1::GroupBy group_by, F row) {
  for (const auto& s : list) {
    for (const auto& p : s.points()) {
      for (int g = 0; g < p.values_size(); ++g) {
        const v1::ClassGroup* group = g < s.groups_size() ? &s.groups(g) : nullptr;
        int64_t number = g + 1;
        if (group_by == v1::GROUP_BY_CLASS) {
          number = group != nullptr && group->classes_size() == 1 ? group->classes(0) : g;
        }
        row(s, p, number, group, p.values(g));
      }
    }
  }
}

// The steps of `step_set`, at most `max_steps` of them evenly spread (always the first and the
// last) when there are more.
std::vector<int64_t> SpreadSteps(const std::set<int64_t>& step_set, int max_steps) {
  std::vector<int64_t> steps(step_set.begin(), step_set.end());
  if (max_steps > 1 && static_cast<int>(steps.size()) > max_steps) {
    std::vector<int64_t> picked;
    for (int i = 0; i < max_steps; ++i) {
      picked.push_back(steps[(steps.size() - 1) * i / (max_steps - 1)]);
    }
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    steps = picked;
  }
  return steps;
}

// The settings as jobs named by their labels alone, for LabelKeys and DistinguishingTitles.
std::vector<v1::Job> SettingsAsJobs(const v1::QueryMetricsResponse& response) {
  std::vector<v1::Job> jobs;
  for (const v1::AggregateSeries& s : response.aggregates()) {
    v1::Job& job = jobs.emplace_back();
    job.set_id("all seeds");
    *job.mutable_labels() = s.labels();
  }
  return jobs;
}

// The column of the group's number: "class" when each group is one class, else "group".
const char* GroupColumn(v1::GroupBy group_by) {
  return group_by == v1::GROUP_BY_CLASS ? "class" : "group";
}

}  // namespace

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  if (absl::StartsWith(name, "JOB_STATE_")) name = name.substr(10);
  return absl::AsciiStrToLower(name);
}

namespace {
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);
}  // namespace

std::vector<std::string> LabelKeys(const std::vector<const v1::Job*>& jobs) {
  std::set<std::string> keys;
  for (const v1::Job* job : jobs) {
    for (const auto& [k, v] : job->labels()) keys.insert(k);
  }
  std::vector<std::string> out;
  if (keys.erase("optimizer")) out.push_back("optimizer");
  const bool seed = keys.erase("seed") > 0;
  out.insert(out.end(), keys.begin(), keys.end());
  if (seed) out.push_back("seed");
  return out;
}

std::string JobTitle(const v1::Job& job) {
  std::vector<std::string> parts;
  for (const std::string& key : LabelKeys({&job})) {
    auto it = job.labels().find(key);
    if (it == job.labels().end()) continue;
    parts.push_back(key == "optimizer" ? it->second : absl::StrCat(key, "=", it->second));
  }
  if (parts.empty()) return job.id();
  return absl::StrJoin(parts, " ");
}

std::vector<std::string> DistinguishingTitles(const std::vector<const v1::Job*>& jobs) {
  // The keys whose values differ between the jobs (a key some job lacks differs too).
  std::vector<std::string> varying;
  for (const std::string& key : LabelKeys(jobs)) {
    std::set<std::string> values;
    for (const v1::Job* job : jobs) {
      auto it = job->labels().find(key);
      values.insert(it == job->labels().end() ? std::string("\x01") : it->second);
    }
    if (values.size() > 1) varying.push_back(key);
  }
  // "trainer.steps" -> "steps" unless two keys would read the same.
  std::map<std::string, int> uses;
  auto short_key = [](const std::string& key) {
    const size_t dot = key.rfind('.');
    return dot == std::string::npos ? key : key.substr(dot + 1);
  };
  for (const std::string& key : varying) ++uses[short_key(key)];
  std::vector<std::string> titles;
  for (const v1::Job* job : jobs) {
    std::vector<std::string> parts;
    for (const std::string& key : varying) {
      auto it = job->labels().find(key);
      if (it == job->labels().end()) continue;
      const std::string shown = uses[short_key(key)] == 1 ? short_key(key) : key;
      parts.push_back(key == "optimizer" ? it->second : absl::StrCat(shown, "=", it->second));
    }
    titles.push_back(parts.empty() ? job->id() : absl::StrJoin(parts, " "));
  }
  return titles;
}

std::string FormatEta(const v1::Job& job, absl::Time now) {
  if (job.state() != v1::JOB_STATE_RUNNING || job.progress_step() <= 0 ||
      job.total_steps() <= job.progress_step() || job.started_at().seconds() <= 0) {
    return "-";
  }
  const absl::Time started = absl::FromUnixSeconds(job.started_at().seconds()) +
                             absl::Nanoseconds(job.started_at().nanos());
  const absl::Duration elapsed = now - started;
  if (elapsed <= absl::ZeroDuration()) return "-";
  const absl::Duration left =
      elapsed * (static_cast<double>(job.total_steps() - job.progress_step()) /
                 static_cast<double>(job.progress_step()));
  const int64_t seconds = absl::ToInt64Seconds(left) + 1;
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%dh%02dm", seconds / 3600, seconds / 60 % 60);
}

std::string ProgressSnapshot(const std::vector<v1::Job>& jobs, absl::Time now,
                             const std::map<std::string, double>& losses) {
  std::vector<const v1::Job*> ptrs;
  for (const v1::Job& j : jobs) ptrs.push_back(&j);
  const std::vector<std::string> titles = DistinguishingTitles(ptrs);
  std::vector<std::vector<std::string>> rows = {
      {"job", "labels", "state", "progress", "train loss", "eta"}};
  for (size_t i = 0; i < jobs.size(); ++i) {
    const v1::Job& j = jobs[i];
    auto loss = losses.find(j.id());
    rows.push_back({j.id(), titles[i], StateName(j.state()),
                    absl::StrCat(j.progress_step(), "/", j.total_steps()),
                    loss == losses.end() ? "-" : absl::StrFormat("%.4g", loss->second),
                    FormatEta(j, now)});
  }
  return RenderTable(rows);
}

std::string QueryToCsv(const v1::QueryMetricsResponse& response, v1::GroupBy group_by) {
  const std::vector<std::string> keys = LabelKeys(JobsOf(response));
  std::string out = "job_id,sweep_id,state";
  for (const std::string& k : keys) absl::StrAppend(&out, ",", CsvField(k));
  absl::StrAppend(&out, ",step,split,metric,", GroupColumn(group_by),
                  ",group_classes,group_train_examples,value\n");
  ForEachRow(response.series(), group_by,
             [&](const v1::Series& s, const v1::SeriesPoint& p, int64_t g,
                 const v1::ClassGroup* group, double value) {
               absl::StrAppend(&out, CsvField(s.job().id()), ",", CsvField(s.job().sweep_id()), ",",
                               StateName(s.job().state()));
               for (const std::string& k : keys) {
                 auto it = s.job().labels().find(k);
                 absl::StrAppend(&out, ",",
                                 it == s.job().labels().end() ? "" : CsvField(it->second));
               }
               absl::StrAppend(&out, ",", p.step(), ",", SplitName(s.split()), ",", s.metric(), ",",
                               g, ",", group ? group->num_classes() : 0, ",",
                               group ? group->train_examples() : 0, ",", Number(value), "\n");
             });
  return out;
}

std::string QueryToJson(const v1::QueryMetricsResponse& response, v1::GroupBy group_by) {
  std::vector<std::string> rows;
  ForEachRow(
      response.series(), group_by,
      [&](const v1::Series& s, const v1::SeriesPoint& p, int64_t g, const v1::ClassGroup* group,
          double value) {
        std::map<std::string, std::string> labels(s.job().labels().begin(), s.job().labels().end());
        rows.push_back(absl::StrCat(
            "{\"job_id\":", JsonString(s.job().id()), ",\"sweep_id\":",
            JsonString(s.job().sweep_id()), ",\"state\":", JsonString(StateName(s.job().state())),
            ",\"labels\":", proto::LabelsToJson(labels), ",\"step\":", p.step(),
            ",\"split\":", JsonString(SplitName(s.split())), ",\"metric\":", JsonString(s.metric()),
            ",\"", GroupColumn(group_by), "\":", g,
            ",\"group_classes\":", group ? group->num_classes() : 0,
            ",\"group_train_examples\":", group ? group->train_examples() : 0,
            ",\"value\":", std::isfinite(value) ? spec::FormatDouble(value) : "null", "}"));
      });
  if (rows.empty()) return "[]\n";
  return absl::StrCat("[\n  ", absl::StrJoin(rows, ",\n  "), "\n]\n");
}

std::string QueryToTable(const v1::QueryMetricsResponse& response, int max_steps,
                         v1::GroupBy group_by) {
  const bool by_class = group_by == v1::GROUP_BY_CLASS;
  // All steps present in any series, then a spread subset of them.
  std::set<int64_t> step_set;
  size_t width = 0;
  int num_groups = 0;
  for (const v1::Series& s : response.series()) {
    width = std::max(width, JobTitle(s.job()).size());
    num_groups = std::max(num_groups, s.groups_size());
    for (const v1::SeriesPoint& p : s.points()) step_set.insert(p.step());
  }
  const std::vector<int64_t> steps = SpreadSteps(step_set, max_steps);
  if (steps.empty()) return "(no metrics yet)\n";
  const bool grouped = num_groups > 1;
  // A per-item metric (a quantize job's block_mse) has its items for groups, named.
  std::vector<std::string> item_labels;
  for (const v1::Series& s : response.series()) {
    if (s.groups_size() == num_groups && s.groups_size() > 0 && !s.groups(0).label().empty()) {
      for (const v1::ClassGroup& g : s.groups()) item_labels.push_back(g.label());
      break;
    }
  }
  const bool items = grouped && !item_labels.empty();
  std::string out;
  const std::string metric =
      response.series_size() > 0
          ? absl::StrCat(SplitName(response.series(0).split()), " ", response.series(0).metric())
          : "";
  for (int64_t step : steps) {
    absl::StrAppend(&out, "step ", step, " - ", metric,
                    items      ? " by item"
                    : by_class ? " by class (the data set's class ids)"
                    : grouped  ? " by group (1 = most frequent classes)"
                               : "",
                    "\n");
    absl::StrAppend(&out, absl::StrFormat("  %-*s", static_cast<int>(width), "job"));
    for (int g = 0; g < std::max(1, num_groups); ++g) {
      if (items) {
        absl::StrAppend(&out, absl::StrFormat(" %7s", item_labels[static_cast<size_t>(g)]));
      } else {
        // A per-class series' groups are its classes in id order.
        absl::StrAppend(&out, grouped ? absl::StrFormat(" %7d", by_class ? g : g + 1) : "   value");
      }
    }
    absl::StrAppend(&out, "\n");
    for (const v1::Series& s : response.series()) {
      absl::StrAppend(&out, absl::StrFormat("  %-*s", static_cast<int>(width), JobTitle(s.job())));
      const v1::SeriesPoint* point = nullptr;
      for (const v1::SeriesPoint& p : s.points()) {
        if (p.step() == step) point = &p;
      }
      for (int g = 0; g < std::max(1, num_groups); ++g) {
        if (point == nullptr || g >= point->values_size() || !std::isfinite(point->values(g))) {
          absl::StrAppend(&out, "       -");
        } else {
          absl::StrAppend(&out, absl::StrFormat(" %7.3f", point->values(g)));
        }
      }
      absl::StrAppend(&out, "\n");
    }
  }
  return out;
}

std::string AggregatesToCsv(const v1::QueryMetricsResponse& response, v1::GroupBy group_by) {
  const std::vector<v1::Job> settings = SettingsAsJobs(response);
  std::vector<const v1::Job*> pointers;
  for (const v1::Job& job : settings) pointers.push_back(&job);
  const std::vector<std::string> keys = LabelKeys(pointers);
  std::string out;
  for (const std::string& k : keys) absl::StrAppend(&out, CsvField(k), ",");
  absl::StrAppend(&out, "step,split,metric,", GroupColumn(group_by),
                  ",group_classes,group_train_examples,mean,std,n,ci_low,ci_high\n");
  ForEachRow(response.aggregates(), group_by,
             [&](const v1::AggregateSeries& s, const v1::AggregatePoint& p, int64_t g,
                 const v1::ClassGroup* group, const v1::AggregateValue& v) {
               for (const std::string& k : keys) {
                 auto it = s.labels().find(k);
                 absl::StrAppend(&out, it == s.labels().end() ? "" : CsvField(it->second), ",");
               }
               absl::StrAppend(&out, p.step(), ",", SplitName(s.split()), ",", s.metric(), ",", g,
                               ",", group ? group->num_classes() : 0, ",",
                               group ? group->train_examples() : 0, ",", Number(v.mean()), ",",
                               Number(v.std()), ",", v.n(), ",", Number(v.ci_low()), ",",
                               Number(v.ci_high()), "\n");
             });
  return out;
}

std::string AggregatesToJson(const v1::QueryMetricsResponse& response, v1::GroupBy group_by) {
  auto json_number = [](double v) { return std::isfinite(v) ? spec::FormatDouble(v) : "null"; };
  std::vector<std::string> rows;
  ForEachRow(response.aggregates(), group_by,
             [&](const v1::AggregateSeries& s, const v1::AggregatePoint& p, int64_t g,
                 const v1::ClassGroup* group, const v1::AggregateValue& v) {
               std::map<std::string, std::string> labels(s.labels().begin(), s.labels().end());
               rows.push_back(absl::StrCat(
                   "{\"labels\":", proto::LabelsToJson(labels), ",\"jobs\":[",
                   absl::StrJoin(s.job_ids(), ",",
                                 [](std::string* o, const std::string& id) {
                                   absl::StrAppend(o, JsonString(id));
                                 }),
                   "],\"step\":", p.step(), ",\"split\":", JsonString(SplitName(s.split())),
                   ",\"metric\":", JsonString(s.metric()), ",\"", GroupColumn(group_by), "\":", g,
                   ",\"group_classes\":", group ? group->num_classes() : 0,
                   ",\"group_train_examples\":", group ? group->train_examples() : 0,
                   ",\"mean\":", json_number(v.mean()), ",\"std\":", json_number(v.std()),
                   ",\"n\":", v.n(), ",\"ci_low\":", json_number(v.ci_low()),
                   ",\"ci_high\":", json_number(v.ci_high()), "}"));
             });
  if (rows.empty()) return "[]\n";
  return absl::StrCat("[\n  ", absl::StrJoin(rows, ",\n  "), "\n]\n");
}

std::string AggregatesToTable(const v1::QueryMetricsResponse& response, int max_steps,
                              v1::GroupBy group_by) {
  std::set<int64_t> step_set;
  int num_groups = 0;
  for (const v1::AggregateSeries& s : response.aggregates()) {
    for (const v1::AggregatePoint& p : s.points()) {
      step_set.insert(p.step());
      num_groups = std::max(num_groups, p.values_size());
    }
  }
  const std::vector<int64_t> steps = SpreadSteps(step_set, max_steps);
  if (steps.empty()) return "(no metrics yet)\n";
  const std::vector<v1::Job> settings = SettingsAsJobs(response);
  std::vector<const v1::Job*> pointers;
  for (const v1::Job& job : settings) pointers.push_back(&job);
  const std::vector<std::string> titles = DistinguishingTitles(pointers);
  size_t width = std::string("setting").size();
  for (const std::string& t : titles) width = std::max(width, t.size());
  const v1::AggregateSeries& first = response.aggregates(0);
  const bool grouped = num_groups > 1;
  const bool by_class = group_by == v1::GROUP_BY_CLASS;
  std::string out;
  for (int64_t step : steps) {
    absl::StrAppend(&out, "step ", step, " - ", SplitName(first.split()), " ", first.metric(),
                    ", mean ± 95 % CI (n) over seeds",
                    by_class  ? " by class (the data set's class ids)"
                    : grouped ? " by group (1 = most frequent classes)"
                              : "",
                    "\n");
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"setting"});
    for (int g = 0; g < std::max(1, num_groups); ++g) {
      const bool item = g < first.groups_size() && !first.groups(g).label().empty();
      // A per-class series' groups are its classes in id order, so the index is the class id.
      rows[0].push_back(item       ? first.groups(g).label()
                        : by_class ? absl::StrCat(g)
                        : grouped  ? absl::StrCat(g + 1)
                                   : "value");
    }
    for (int i = 0; i < response.aggregates_size(); ++i) {
      const v1::AggregateSeries& s = response.aggregates(i);
      std::vector<std::string>& row = rows.emplace_back();
      row.push_back(titles[static_cast<size_t>(i)]);
      const v1::AggregatePoint* point = nullptr;
      for (const v1::AggregatePoint& p : s.points()) {
        if (p.step() == step) point = &p;
      }
      for (int g = 0; g < std::max(1, num_groups); ++g) {
        if (point == nullptr || g >= point->values_size() ||
            !std::isfinite(point->values(g).mean())) {
          row.push_back("-");
          continue;
        }
        const v1::AggregateValue& v = point->values(g);
        row.push_back(std::isfinite(v.ci_high()) ? absl::StrFormat("%.3f ± %.3f (%d)", v.mean(),
                                                                   v.ci_high() - v.mean(), v.n())
                                                 : absl::StrFormat("%.3f (%d)", v.mean(), v.n()));
      }
    }
    // Right-aligned value columns; "±" is two bytes and one column wide.
    auto shown = [](const std::string& cell) {
      return cell.size() - (absl::StrContains(cell, "±") ? 1 : 0);
    };
    std::vector<size_t> widths(rows[0].size(), 0);
    widths[0] = width;
    for (const auto& row : rows) {
      for (size_t c = 1; c < row.size(); ++c) widths[c] = std::max(widths[c], shown(row[c]));
    }
    for (const auto& row : rows) {
      absl::StrAppend(&out, "  ", row[0], std::string(width - row[0].size(), ' '));
      for (size_t c = 1; c < row.size(); ++c) {
        absl::StrAppend(&out, "  ", std::string(widths[c] - shown(row[c]), ' '), row[c]);
      }
      absl::StrAppend(&out, "\n");
    }
  }
  return out;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return value < 10 ? absl::StrFormat("%.1f %s", value, units[unit])
                    : absl::StrFormat("%.0f %s", value, units[unit]);
}

namespace {

// Left-aligned columns two spaces apart, without trailing spaces; rows[0] is the header.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&out, absl::StrFormat("%-*s", static_cast<int>(widths[i]) + 2, row[i]));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    absl::StrAppend(&out, "\n");
  }
  return out;
}

// "3 queued, 2 succeeded": the non-zero counts in state order.
std::string StateCounts(const v1::Sweep& sweep) {
  std::vector<std::string> parts;
  for (int s = v1::JOB_STATE_QUEUED; s <= v1::JOB_STATE_CANCELLED; ++s) {
    const std::string name = StateName(static_cast<v1::JobState>(s));
    auto it = sweep.state_counts().find(name);
    if (it != sweep.state_counts().end() && it->second > 0) {
      parts.push_back(absl::StrCat(it->second, " ", name));
    }
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

// The note on one line, cut at `width` characters with "...".
std::string ShortNote(const std::string& note, size_t width) {
  std::string line = absl::StrReplaceAll(note, {{"\n", " "}, {"\r", " "}, {"\t", " "}});
  if (line.size() > width) line = absl::StrCat(line.substr(0, width - 3), "...");
  return line;
}

std::string CreatedAt(const v1::Sweep& sweep) {
  const absl::Time t = absl::FromUnixSeconds(sweep.created_at().seconds());
  return absl::FormatTime("%Y-%m-%d %H:%M", t, absl::UTCTimeZone());
}

}  // namespace

std::string SweepsToTable(const std::vector<v1::Sweep>& sweeps) {
  std::vector<std::vector<std::string>> rows = {
      {"sweep", "name", "created (UTC)", "jobs", "states", "tags", "note"}};
  for (const v1::Sweep& s : sweeps) {
    rows.push_back({s.id(), s.name(), CreatedAt(s), absl::StrCat(s.num_jobs()), StateCounts(s),
                    s.tags().empty() ? "-" : absl::StrJoin(s.tags(), ","),
                    ShortNote(s.note(), 40)});
  }
  return RenderTable(rows);
}

std::string SweepHeader(const v1::Sweep& sweep) {
  std::string out =
      absl::StrCat("sweep ", sweep.id(), " '", sweep.name(), "', created ", CreatedAt(sweep),
                   " UTC: ", sweep.num_jobs(), " jobs (", StateCounts(sweep), ")\n");
  if (!sweep.tags().empty())
    absl::StrAppend(&out, "tags: ", absl::StrJoin(sweep.tags(), ", "), "\n");
  if (!sweep.note().empty()) absl::StrAppend(&out, "note: ", sweep.note(), "\n");
  return out;
}

std::string JobsToTable(const std::vector<v1::Job>& jobs) {
  std::vector<const v1::Job*> ptrs;
  for (const v1::Job& j : jobs) ptrs.push_back(&j);
  const std::vector<std::string> keys = LabelKeys(ptrs);
  // Kept models get a column only where there are some: most sweeps keep none.
  const bool models =
      std::any_of(jobs.begin(), jobs.end(), [](const v1::Job& j) { return j.has_kept_model(); });
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"job", "state", "attempt", "worker", "progress"};
  if (models) header.push_back("model");
  header.insert(header.end(), keys.begin(), keys.end());
  rows.push_back(header);
  for (const v1::Job& j : jobs) {
    std::vector<std::string> row = {j.id(), StateName(j.state()),
                                    absl::StrCat(j.attempt(), "/", j.max_attempts()),
                                    j.worker_id().empty() ? "-" : j.worker_id(),
                                    absl::StrCat(j.progress_step(), "/", j.total_steps())};
    if (models) {
      row.push_back(j.has_kept_model() ? FormatBytes(j.kept_model().size_bytes()) : "-");
    }
    for (const std::string& k : keys) {
      auto it = j.labels().find(k);
      row.push_back(it == j.labels().end() ? "" : it->second);
    }
    rows.push_back(row);
  }
  std::string out = RenderTable(rows);
  for (const v1::Job& j : jobs) {
    if (!j.error().empty()) absl::StrAppend(&out, j.id(), ": ", j.error(), "\n");
  }
  return out;
}

namespace {

void AppendParam(const v1::ParamDeclaration& p, std::string* out) {
  std::string allowed;
  if (p.choices_size() > 0) {
    allowed = absl::StrCat("one of ", absl::StrJoin(p.choices(), ", "));
  } else if (p.has_min() && p.has_max()) {
    allowed = absl::StrCat(p.min_exclusive() ? "(" : "[", spec::FormatDouble(p.min()), ", ",
                           spec::FormatDouble(p.max()), p.max_exclusive() ? ")" : "]");
  } else if (p.has_min()) {
    allowed = absl::StrCat(p.min_exclusive() ? "> " : ">= ", spec::FormatDouble(p.min()));
  } else if (p.has_max()) {
    allowed = absl::StrCat(p.max_exclusive() ? "< " : "<= ", spec::FormatDouble(p.max()));
  }
  const std::string def = spec::FormatParamValue(proto::FromProto(p.default_value()));
  const std::string only =
      p.used_when_param().empty()
          ? std::string()
          : absl::StrCat(" (", p.used_when_param(), " ", p.used_when_value(), " only)");
  absl::StrAppend(out,
                  absl::StrFormat("      %-16s %-8s default %-10s %-18s %s%s\n", p.name(), p.type(),
                                  def.empty() ? "\"\"" : def, allowed, p.doc(), only));
}

// `width`: the query-name column's, wide enough for the longest name listed.
void AppendMetric(const v1::MetricDeclaration& m, int width, std::string* out) {
  std::string shape;
  switch (m.shape()) {
    case v1::MetricDeclaration::SHAPE_PER_CLASS:
      shape = "per class";
      break;
    case v1::MetricDeclaration::SHAPE_PER_ITEM:
      shape = absl::StrCat("per ", m.item_kind().empty() ? "item" : m.item_kind());
      break;
    default:
      shape = "scalar";
  }
  const std::string splits =
      m.splits() == v1::MetricDeclaration::SPLITS_TRAIN ? "train" : "train, test";
  const std::string query = m.query().empty() ? "(stored only)" : m.query();
  const std::string stored =
      m.query() == m.name() ? "" : absl::StrCat(" [stored as ", m.name(), "]");
  absl::StrAppend(out, absl::StrFormat("      %-*s %-10s %-12s %s%s%s\n", width, query, shape,
                                       splits, m.doc(), stored, m.primary() ? " (default)" : ""));
}

}  // namespace

std::string ComponentsToText(const v1::ListComponentsResponse& declarations) {
  std::string out;
  if (declarations.tasks_size() > 0) absl::StrAppend(&out, "tasks:\n");
  for (const v1::TaskDeclaration& t : declarations.tasks()) {
    absl::StrAppend(&out, "  ", t.name(), " - ", t.doc(), "\n");
    for (const v1::SlotDeclaration& slot : t.slots()) {
      absl::StrAppend(&out,
                      absl::StrFormat("      %-16s %-9s %s%s - %s\n", slot.name(), slot.kind(),
                                      slot.required() ? "required" : "optional",
                                      slot.default_component().empty()
                                          ? std::string()
                                          : absl::StrCat(", default ", slot.default_component()),
                                      slot.doc()));
    }
    absl::StrAppend(&out, "    ", t.settings_key(), ":\n");
    for (const v1::ParamDeclaration& p : t.settings()) AppendParam(p, &out);
  }
  std::string kind;
  for (const v1::ComponentDeclaration& c : declarations.components()) {
    if (c.kind() != kind) {
      kind = c.kind();
      absl::StrAppend(&out, out.empty() ? "" : "\n", kind, "s:\n");
    }
    absl::StrAppend(&out, "  ", c.name(), " - ", c.doc(), "\n");
    if (c.needs_size() > 0)
      absl::StrAppend(&out, "      needs: ", absl::StrJoin(c.needs(), ", "), "\n");
    for (const v1::ParamDeclaration& p : c.params()) AppendParam(p, &out);
  }
  return out;
}

std::string MetricsToText(const v1::ListComponentsResponse& declarations) {
  int width = 22;
  const auto widen = [&width](const v1::MetricDeclaration& m) {
    width = std::max(width, static_cast<int>(m.query().size()));
  };
  for (const v1::TaskDeclaration& t : declarations.tasks()) absl::c_for_each(t.metrics(), widen);
  for (const v1::ComponentDeclaration& c : declarations.components()) {
    absl::c_for_each(c.metrics(), widen);
  }
  std::string out;
  for (const v1::TaskDeclaration& t : declarations.tasks()) {
    absl::StrAppend(&out, "task ", t.name(), ":\n");
    for (const v1::MetricDeclaration& m : t.metrics()) AppendMetric(m, width, &out);
  }
  for (const v1::ComponentDeclaration& c : declarations.components()) {
    if (c.metrics_size() == 0) continue;
    absl::StrAppend(&out, c.kind(), " ", c.name(), ":\n");
    for (const v1::MetricDeclaration& m : c.metrics()) AppendMetric(m, width, &out);
  }
  return out;
}

std::string TextTable(const std::vector<std::vector<std::string>>& rows) {
  return RenderTable(rows);
}

std::string CsvQuote(const std::string& field) { return CsvField(field); }

}  // namespace optbench::report

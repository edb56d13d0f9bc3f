// Rendering of query results and job listings for the terminal, CSV and JSON.
#ifndef OPTBENCH_REPORT_FORMAT_H_
#define OPTBENCH_REPORT_FORMAT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "optbench/v1/coordinator.pb.h"

namespace optbench::report {

// Label columns shared by a set of jobs: every label key present on any job, "optimizer" first,
// "seed" last, the rest sorted.
std::vector<std::string> LabelKeys(const std::vector<const v1::Job*>& jobs);
// "adam lr=0.001 seed=0" — a short row name for a job.
std::string JobTitle(const v1::Job& job);

// What tells `jobs` apart, one title per job in order: the labels whose values differ between
// them ("adam lr=0.001": the optimizer's name bare), a key shortened to its last part
// ("trainer.steps" -> "steps") unless two would read the same; the job id if none differ.
std::vector<std::string> DistinguishingTitles(const std::vector<const v1::Job*>& jobs);
// A running job's time left at its pace since its latest start ("42s", "3m05s", "1h20m"), else
// "-".
std::string FormatEta(const v1::Job& job, absl::Time now);
// `optbench watch --once`: a row per job: id, distinguishing title, state, progress, its latest
// loss when `losses` has one (by job id), ETA.
std::string ProgressSnapshot(const std::vector<v1::Job>& jobs, absl::Time now,
                             const std::map<std::string, double>& losses = {});

// CSV, one row per (job, step, group): job_id, sweep_id, state, the label columns (optimizer
// and hyperparameters, so the file pivots without a join), step, split, metric, group,
// group_classes, group_train_examples, value. `group` numbers frequency groups from 1 (the most
// frequent classes), as the table and the plots do; with `group_by` class the column is `class`,
// the class's id. RFC 4180 quoting; NaN is an empty field.
std::string QueryToCsv(const v1::QueryMetricsResponse& response,
                       v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);
// JSON array of the same rows as objects (NaN is null).
std::string QueryToJson(const v1::QueryMetricsResponse& response,
                        v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);
// Human table: for each step, one row per job and one column per group. Steps are limited to
// `max_steps` evenly spread ones (always the first and the last) when there are more.
// With `group_by` class, the columns are the class ids.
std::string QueryToTable(const v1::QueryMetricsResponse& response, int max_steps,
                         v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);

// The same three for response.aggregates (`optbench query --aggregate seed`). CSV and JSON: one
// row per (setting, step, group): the setting's label columns (no seed), step, split, metric,
// group (or class), group_classes, group_train_examples, mean, std, n, ci_low, ci_high (NaN is
// an empty field in CSV, null in JSON). Table: for each step, one row per setting and per group
// "mean ± half-width of the 95 % interval (n)"; "mean (n)" where n < 2.
std::string AggregatesToCsv(const v1::QueryMetricsResponse& response,
                            v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);
std::string AggregatesToJson(const v1::QueryMetricsResponse& response,
                             v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);
std::string AggregatesToTable(const v1::QueryMetricsResponse& response, int max_steps,
                              v1::GroupBy group_by = v1::GROUP_BY_FREQUENCY);

// Job listing table: id, state, attempt, worker, progress, the kept model's size (a column only
// when some job kept one), labels.
std::string JobsToTable(const std::vector<v1::Job>& jobs);
// Sweep listing table (`optbench sweeps`, `status`): id, name, creation time (UTC), jobs, jobs per
// state, tags, the note on one line (cut at 40 characters).
std::string SweepsToTable(const std::vector<v1::Sweep>& sweeps);
// A sweep's lines above its jobs (`optbench list SWEEP`): id, name, creation, jobs per state, and
// its tags and note when it has them.
std::string SweepHeader(const v1::Sweep& sweep);
// "812 B", "3.5 KiB", "14 MiB": a size for listings.
std::string FormatBytes(int64_t bytes);
// `optbench list optimizers|models|datasets|objectives|tasks`: every task (slots and settings) and
// component (parameters with type, default, range, doc) in `declarations`.
std::string ComponentsToText(const v1::ListComponentsResponse& declarations);
// `optbench list metrics`: each task's metrics and what each component adds (query name, shape,
// splits, doc).
std::string MetricsToText(const v1::ListComponentsResponse& declarations);

// "running", "succeeded", ...
std::string StateName(v1::JobState state);

// The text-table and CSV-field helpers the tables above use, for other reports (profile.h):
// rows as left-aligned columns two spaces apart, trailing spaces trimmed; a field RFC 4180-quoted
// where it needs quotes.
std::string TextTable(const std::vector<std::vector<std::string>>& rows);
std::string CsvQuote(const std::string& field);

}  // namespace optbench::report

#endif  // OPTBENCH_REPORT_FORMAT_H_

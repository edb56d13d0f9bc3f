// Rendering of query results and job listings for the terminal, CSV and JSON.
#ifndef OPTBENCH_CLIENT_FORMAT_H_
#define OPTBENCH_CLIENT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "optbench/v1/coordinator.pb.h"

namespace optbench::client {

// Label columns shared by a set of jobs: every label key present on any job, "optimizer" first,
// "seed" last, the rest sorted.
std::vector<std::string> LabelKeys(const std::vector<const v1::Job*>& jobs);
// "adam lr=0.001 seed=0" — a short row name for a job.
std::string JobTitle(const v1::Job& job);

// CSV, one row per (job, step, group): job_id, sweep_id, state, the label columns (optimizer
// and hyperparameters, so the file pivots without a join), step, split, metric, group,
// group_classes, group_train_examples, value. RFC 4180 quoting; NaN is an empty field.
std::string QueryToCsv(const v1::QueryMetricsResponse& response);
// JSON array of the same rows as objects (NaN is null).
std::string QueryToJson(const v1::QueryMetricsResponse& response);
// Human table: for each step, one row per job and one column per group. Steps are limited to
// `max_steps` evenly spread ones (always the first and the last) when there are more.
std::string QueryToTable(const v1::QueryMetricsResponse& response, int max_steps);

// Job listing table: id, state, attempt, worker, progress, the kept model's size (a column only
// when some job kept one), labels.
std::string JobsToTable(const std::vector<v1::Job>& jobs);
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

}  // namespace optbench::client

#endif  // OPTBENCH_CLIENT_FORMAT_H_

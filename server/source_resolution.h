// Source resolution (issue 11): a job of a task that works on the model another job kept
// (spec::TaskSpec::source_slots, e.g. quantize) names its source at submission — a job id, or a
// sweep and label filters (spec/source.h) — and the coordinator turns it, against its database
// and before anything is created, into the jobs it means. Pure logic over a StoreReader (the
// Scheduler; a store in tests), called by SubmitSweep (ExpandSubmission) and LoadSourceModel.
#ifndef OPTBENCH_SERVER_SOURCE_RESOLUTION_H_
#define OPTBENCH_SERVER_SOURCE_RESOLUTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/catalog.h"
#include "spec/job_spec.h"
#include "storage/store.h"
#include "sweep/sweep_file.h"

namespace optbench::server {

// Specs as they will run, and for each the labels of its source job (empty for a spec of a task
// without sources): what sweep::LabelJobs labels them by.
struct ResolvedSpecs {
  std::vector<spec::JobSpec> specs;
  std::vector<sweep::JobLabels> source_labels;
};

// Resolves every spec of `specs` (each validated by `catalog`) whose task has source_slots.
// Every job its source names becomes one spec — in the order of `specs`, then of the source
// sweep's job indices — with kSourceSetting set to that job's id, kSourceSeedSetting to its seed
// and the components of source_slots copied from its spec (replacing whatever the submission
// gave), validated again. Specs of other tasks pass unchanged.
//
// A filter term <label>=<value> matches a job whose label of that name (the labels shown for
// jobs), or else whose field of that name (sweep::JobFields: "model", "optimizer.name",
// "optimizer.lr", "trainer.steps", ...), has that value: the same text, or the same number
// ("1e-3" matches "0.001").
//
// Errors, InvalidArgument naming the source and the problem unless said: a source text that does
// not parse, or missing; an unknown job, or a sweep no id or name matches; a filter that matches
// no job (naming the labels the sweep's jobs have); a job it means that has not finished, did
// not succeed or kept no model (naming the job and its state); a resolved spec the catalog
// refuses ("source job <id>: ..."); two specs that resolve to the same job; ResourceExhausted for
// more than `max_jobs` specs; DataLoss for a source job whose stored spec does not parse; the
// store's errors.
absl::StatusOr<ResolvedSpecs> ResolveSources(const std::vector<spec::JobSpec>& specs,
                                             const spec::Catalog& catalog,
                                             storage::StoreReader& store, int64_t max_jobs);

// The id of the job whose kept model `job` works on: its kSourceSetting, resolved at submission.
// FailedPrecondition when its spec names no source, or one that was never resolved to a job;
// DataLoss when its stored spec does not parse.
absl::StatusOr<std::string> SourceJobOf(const storage::JobRecord& job);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_SOURCE_RESOLUTION_H_

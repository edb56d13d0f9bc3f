// Sweep files: a grid of jobs of one task (for the default task "train": dataset x model x
// optimizer x hyperparameters x trainer settings x seed) written in YAML or JSON, parsed,
// expanded and validated into spec::JobSpecs against a catalog.
//
// Format (YAML; JSON is YAML too and goes through the same parser):
//
//   name: heavy_tail_linear          # optional; default: the source file's stem
//   dataset: {name: heavy_tail_uniform, m: 8}
//   model:   {name: linear, bias: true, init: zeros}
//   trainer: {steps: 300, eval_every: 10, eval_log_spaced: true}   # optional
//   seed: [0, 1, 2]                  # optional (default 0); an int or a list (a grid axis)
//   optimizer:                       # a mapping, or a list of mappings = alternatives
//     - {name: gd, lr: [0.1, 0.3]}   # a list-valued hyperparameter is a grid axis
//     - {name: adam, lr: 1e-3, beta1: [0, 0.9]}
//     - {name: sign_descent, lr: 1e-3}
//
// gives 2 (gd) + 2 (adam) + 1 (sign_descent) optimizer settings x 3 seeds = 15 jobs.
//
// Keys. Top level: name, tags and note (see SweepFile), task (optional: the catalog's default
// task, "train"), seed, and the task's keys (`optbench list tasks`): one per component slot and
// its settings key. For "train":
// dataset, model, optimizer (required), aux_optimizer, objective, trainer. A component slot takes
// a mapping with `name` (a registered component, see `optbench list`) and its hyperparameters, or
// a non-empty list of such mappings (alternatives), unless the slot takes one setting only
// (aux_optimizer: paper 2's parameter groups; `optimizer` trains the hidden matrices, it trains
// everything else at its own lr; e.g. {name: paper2_adam, lr: 0.01}). The settings key
// (`trainer`) takes a mapping of the task's settings.
// Sources. A task that works on the model another job kept (spec::TaskSpec::source_slots, e.g.
// quantize) also takes `source`: a job id (`source: s-1a2b3c4d-0`), or a sweep and label filters
// (`source: {sweep: paper5_train, optimizer: adam}`: the sweep's id or name, a name meaning its
// most recent sweep; every job of it whose labels, or fields such as `model` or `optimizer.lr`,
// match), or a list of these (a grid axis). It becomes the task's `source` setting (text, see
// spec/source.h); the coordinator resolves it at submission into one job per matching job,
// each of which must have succeeded and kept its model (server/source_resolution.h).
// Omitted hyperparameters, components and settings take their catalog defaults. A file holds
// exactly one YAML document; anchors and aliases work (an aliased value reports its anchor's
// line).
//
// Grid axes. Inside a component and in the settings, a list value is a grid axis: one job per
// element. Exception: for a parameter declared int_list, a list of ints is one value and a list of
// lists is an axis (`hidden: [128, 64]` is one value, `hidden: [[128], [128, 64]]` two). An empty
// list is an error (it would give zero jobs), except as an int_list value.
//
// Job order (deterministic): the jobs are the cartesian product of the slots' settings in the
// task's slot order (for train: dataset, model, optimizer, aux_optimizer, objective), the task's
// settings and seeds, the first slot outermost and seed innermost. The settings of one component
// are its alternatives in file order, each expanded over its axes in file order (the first axis
// varies slowest); the task's settings likewise.
//
// Scalars are typed by their text, as YAML 1.2's core schema does, never by the parameter:
//   - quoted ('3', "3") or tagged !!str: a string;
//   - [-+]?[0-9]+: an int64 (an integer too large for int64 becomes a double);
//   - [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?: a double ("3.0", "1e-3", ".5", "1e3");
//     also .inf, -.inf, .nan and inf, -inf, nan (lower, Title or UPPER case), which
//     validation then rejects as not finite;
//   - true/false (also True, TRUE, False, FALSE): a bool; yes/no/on/off are strings;
//   - anything else: a string. Null (`~`, `null`, nothing) is an error.
// Validation widens an int where a double is declared and accepts an integral double (3.0) where
// an int is declared; seeds are integers in [0, 2^53]. Each value is checked where it is written;
// rules across fields, once defaults are filled in, per job.
//
// Errors are InvalidArgument "<source>:<line>: <field>: <problem and what is allowed>", e.g.
//   sweep.yaml:7: optimizer[1].beta1[1]: 1.5 is out of range; allowed [0, 1)
// where <field> names the node in the file (`optimizer[1]` = second alternative, `beta1[1]` =
// second value of that axis) and <line> is where it is written (1-based). Two jobs that come out
// identical after defaults are filled are an error too (every job of a sweep must differ).
#ifndef OPTBENCH_SWEEP_SWEEP_FILE_H_
#define OPTBENCH_SWEEP_SWEEP_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/catalog.h"
#include "spec/job_spec.h"

namespace optbench::sweep {

// Labels of a job: what tells it apart from the other jobs of its sweep, as "key" -> value text.
// Always its task's labelled slot ("optimizer": its name), "seed", and for a task that works on
// another job's kept model its "source" (see LabelJobs); plus every field whose
// value differs between jobs that have it: "task", slot names ("dataset", "model": component
// names), "<slot>.<param>", the labelled slot's hyperparameters by their bare name ("lr",
// "beta1"; "optimizer.<param>" should one clash with a slot name, "task" or "seed") and
// "<settings key>.<setting>" ("trainer.steps"). Values are formatted with
// spec::FormatParamValue (doubles with spec::FormatDouble: "0.001", "1e-08").
using JobLabels = std::map<std::string, std::string>;

// One job of an expanded sweep.
struct ExpandedJob {
  spec::JobSpec spec;  // Validated by spec::Catalog::Validate: every default filled in.
  JobLabels labels;
};

// A parsed sweep: its name, its tags and note (top-level `tags: [a, b]` or `tags: a`, `note:
// "text"`; they describe the sweep, not its jobs) and its jobs in the documented order.
struct SweepFile {
  std::string name;
  std::vector<std::string> tags;  // In file order, each checked by CheckSweepTag.
  std::string note;               // Checked by CheckSweepNote.
  std::vector<ExpandedJob> jobs;
};

// A sweep's tag: 1..64 characters of letters, digits and _ . : + = / - (no spaces, so that a
// tag is one word on a command line). InvalidArgument naming the tag and what is allowed.
absl::Status CheckSweepTag(absl::string_view tag);
inline constexpr int kMaxSweepTags = 32;
// A sweep's note: at most 4096 bytes. InvalidArgument naming its length.
absl::Status CheckSweepNote(absl::string_view note);

struct ParseOptions {
  // The most jobs a sweep may expand to (>= 1). Checked before expanding.
  int64_t max_jobs = 10000;
};

// Parses, expands and validates the sweep file `text`. `source_name` (a path or a label such as
// "request") prefixes every error message; its stem ("dir/a.yaml" -> "a") is the default name.
// Errors: InvalidArgument for malformed YAML/JSON and for anything the format or the catalog
// refuses (see the top of this file); ResourceExhausted when the grid has more than
// `options.max_jobs` jobs (the message gives the count, its factors and the cap). Never throws.
absl::StatusOr<SweepFile> ParseSweep(absl::string_view text, absl::string_view source_name,
                                     const spec::Catalog& catalog,
                                     const ParseOptions& options = {});

// Labels for jobs submitted directly rather than from a file, by the same rule as ParseSweep:
// result[i] labels specs[i]. Give validated specs, so that defaults count as values.
// Jobs of a task that works on another job's kept model (spec::TaskSpec::source_slots) are
// labelled by their source: "source" (its kSourceSetting text, always labelled) stands for the
// components copied from it and the source settings, and source_labels[i] (the source job's own
// labels; empty or missing = none) join as "source.<key>", by the same rule as the rest.
std::vector<JobLabels> LabelJobs(const spec::Catalog& catalog,
                                 const std::vector<spec::JobSpec>& specs,
                                 const std::vector<JobLabels>& source_labels = {});

// Every field of a validated `spec` by label key, whether it varies in its sweep or not, as
// LabelJobs names them (without source labels), and also "<slot>.name" for each component and
// "<slot>.<param>" for the labelled slot's parameters: what a source filter may match.
JobLabels JobFields(const spec::Catalog& catalog, const spec::JobSpec& spec);

// One line for listings: "optimizer=adam beta1=0 lr=0.001 seed=2" (optimizer first, seed last,
// the other labels in key order).
std::string FormatLabels(const JobLabels& labels);

}  // namespace optbench::sweep

#endif  // OPTBENCH_SWEEP_SWEEP_FILE_H_

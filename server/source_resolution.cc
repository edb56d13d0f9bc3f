#include "server/source_resolution.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "optbench/v1/types.pb.h"
#include "proto/convert.h"
#include "server/wire.h"
#include "spec/source.h"
#include "sweep/sweep_values.h"

namespace optbench::server {
namespace {

// Values shown per label when a filter matches nothing.
constexpr size_t kValuesShown = 6;

// A job a source may mean, read once per source text.
struct Candidate {
  storage::JobRecord job;
  std::optional<spec::JobSpec> spec;  // Unset when its stored spec does not parse.
  sweep::JobLabels labels;            // As shown for the job.
  sweep::JobLabels fields;            // sweep::JobFields of its spec (empty without one).
};

absl::StatusOr<spec::JobSpec> StoredSpec(const storage::JobRecord& job) {
  v1::JobSpec wire;
  if (!wire.ParseFromString(job.spec)) {
    return absl::DataLossError(absl::StrCat("the stored spec of job ", job.id, " does not parse"));
  }
  absl::StatusOr<spec::JobSpec> parsed = proto::FromProto(wire);
  if (!parsed.ok()) {
    return absl::DataLossError(
        absl::StrCat("the stored spec of job ", job.id, ": ", parsed.status().message()));
  }
  return parsed;
}

Candidate MakeCandidate(storage::JobRecord job, const spec::Catalog& catalog) {
  Candidate c;
  c.labels = proto::LabelsFromJson(job.summary_json);
  absl::StatusOr<spec::JobSpec> parsed = StoredSpec(job);
  // Fields are only a convenience beside the labels: a spec of a task this coordinator no longer
  // knows is matched by its labels alone.
  if (parsed.ok()) {
    if (catalog.FindTask(parsed->task).ok()) c.fields = sweep::JobFields(catalog, *parsed);
    c.spec = *std::move(parsed);
  }
  c.job = std::move(job);
  return c;
}

// Label and filter values compare as text, or as numbers when both are numbers.
bool SameValue(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto number = [](const std::string& text) -> std::optional<double> {
    const spec::ParamValue v = sweep::TypePlainScalar(text);
    if (const int64_t* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const double* d = std::get_if<double>(&v)) return *d;
    return std::nullopt;
  };
  const std::optional<double> x = number(a), y = number(b);
  return x.has_value() && y.has_value() && *x == *y;
}

// The value a filter term's key names for `c`: its label, else its field; null if neither.
const std::string* ValueOf(const Candidate& c, const std::string& key) {
  for (const sweep::JobLabels* names : {&c.labels, &c.fields}) {
    auto it = names->find(key);
    if (it != names->end()) return &it->second;
  }
  return nullptr;
}

// "optimizer=adam|sgd, seed=0|1|2": the labels of `jobs`, for a filter that matched none.
std::string DescribeLabels(const std::vector<Candidate>& jobs) {
  std::map<std::string, std::set<std::string>> values;
  for (const Candidate& c : jobs) {
    for (const auto& [key, value] : c.labels) values[key].insert(value);
  }
  std::vector<std::string> parts;
  for (const auto& [key, seen] : values) {
    std::vector<std::string> shown(seen.begin(), seen.end());
    if (shown.size() > kValuesShown) {
      shown.resize(kValuesShown);
      shown.push_back("...");
    }
    parts.push_back(absl::StrCat(key, "=", absl::StrJoin(shown, "|")));
  }
  return parts.empty() ? std::string("(none)") : absl::StrJoin(parts, ", ");
}

// The jobs of sweep `name_or_id` that `source`'s filter matches, in index order.
absl::StatusOr<std::vector<Candidate>> MatchFilter(const spec::SourceSpec& source,
                                                   const std::string& text,
                                                   const spec::Catalog& catalog,
                                                   storage::StoreReader& store) {
  absl::StatusOr<storage::SweepRecord> sweep = store.GetSweep(source.sweep);
  if (absl::IsNotFound(sweep.status())) sweep = store.FindSweepByName(source.sweep);
  if (absl::IsNotFound(sweep.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("source '", text, "': no sweep has the id or name '", source.sweep, "'"));
  }
  OPTBENCH_RETURN_IF_ERROR(sweep.status());
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<storage::JobRecord> records,
                            AllJobsOfSweep(store, sweep->id));
  std::vector<Candidate> all;
  for (storage::JobRecord& job : records) all.push_back(MakeCandidate(std::move(job), catalog));
  std::vector<Candidate> matched;
  for (const Candidate& c : all) {
    bool match = true;
    for (const auto& [key, value] : source.filter) {
      const std::string* have = ValueOf(c, key);
      match = match && have != nullptr && SameValue(*have, value);
    }
    if (match) matched.push_back(c);
  }
  if (!matched.empty()) return matched;
  const std::string where =
      absl::StrCat("sweep ", sweep->id, " ('", sweep->name, "', ", all.size(), " jobs)");
  for (const auto& term : source.filter) {
    // A named variable: a lambda may not capture a structured binding in C++17 (clang refuses).
    const std::string& key = term.first;
    const bool known = std::any_of(all.begin(), all.end(),
                                   [&](const Candidate& c) { return ValueOf(c, key) != nullptr; });
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("source '", text, "': no job of ", where,
                                                     " has a label or field '", key,
                                                     "'; their labels: ", DescribeLabels(all)));
    }
  }
  std::vector<std::string> terms;
  for (const auto& [key, value] : source.filter) terms.push_back(absl::StrCat(key, "=", value));
  return absl::InvalidArgumentError(absl::StrCat("source '", text, "': no job of ", where,
                                                 " matches ", absl::StrJoin(terms, ","),
                                                 "; their labels: ", DescribeLabels(all)));
}

// The jobs `text` means, each checked to be usable as a source.
absl::StatusOr<std::vector<Candidate>> JobsOfSource(const std::string& text,
                                                    const spec::Catalog& catalog,
                                                    storage::StoreReader& store) {
  OPTBENCH_ASSIGN_OR_RETURN(const spec::SourceSpec source, spec::ParseSource(text));
  std::vector<Candidate> jobs;
  if (!source.job_id.empty()) {
    absl::StatusOr<storage::JobRecord> job = store.GetJob(source.job_id);
    if (absl::IsNotFound(job.status())) {
      return absl::InvalidArgumentError(absl::StrCat("source: no job has the id '", text, "'"));
    }
    OPTBENCH_RETURN_IF_ERROR(job.status());
    jobs.push_back(MakeCandidate(*std::move(job), catalog));
  } else {
    OPTBENCH_ASSIGN_OR_RETURN(jobs, MatchFilter(source, text, catalog, store));
  }
  for (const Candidate& c : jobs) {
    const std::string name = absl::StrCat("source '", text, "': job ", c.job.id);
    const char* state = storage::JobStateName(c.job.state);
    if (!storage::IsTerminal(c.job.state)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " has not finished (state ", state, ")"));
    }
    if (c.job.state != storage::JobState::kSucceeded) {
      return absl::InvalidArgumentError(absl::StrCat(name, " did not succeed (state ", state,
                                                     "); only a succeeded job's model is kept"));
    }
    if (!c.job.kept_model.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " kept no model (a train job keeps one with trainer.keep_model: true)"));
    }
    if (!c.spec.has_value()) OPTBENCH_RETURN_IF_ERROR(StoredSpec(c.job).status());
    // A job that itself worked on a source (quantize) keeps what it made of it (a quantized
    // export), not a model to start from.
    absl::StatusOr<const spec::TaskSpec*> task = catalog.FindTask(c.spec->task);
    if (task.ok() && !(*task)->source_slots.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " is a ", c.spec->task, " job, which worked on a source itself: what it kept ",
          "is its output, not a model to start from; name the job it worked on instead"));
    }
  }
  return jobs;
}

// `spec` working on `source`'s model: what ResolveSources makes of one match.
absl::StatusOr<spec::JobSpec> WorkOn(const spec::JobSpec& spec, const spec::TaskSpec& task,
                                     const Candidate& source, const spec::Catalog& catalog) {
  spec::JobSpec out = spec;
  out.settings[spec::kSourceSetting] = source.job.id;
  out.settings[spec::kSourceSeedSetting] = static_cast<int64_t>(source.spec->seed);
  for (const std::string& slot : task.source_slots) {
    const spec::ComponentChoice* copied = source.spec->find_component(slot);
    if (copied != nullptr) {
      out.components[slot] = *copied;
    } else {
      out.components.erase(slot);
    }
  }
  absl::StatusOr<spec::JobSpec> validated = catalog.Validate(out);
  if (!validated.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source job ", source.job.id, ": ", validated.status().message()));
  }
  return validated;
}

}  // namespace

absl::StatusOr<ResolvedSpecs> ResolveSources(const std::vector<spec::JobSpec>& specs,
                                             const spec::Catalog& catalog,
                                             storage::StoreReader& store, int64_t max_jobs) {
  ResolvedSpecs out;
  // A grid over a filtered sweep names the same source in every job: read it once.
  std::map<std::string, std::vector<Candidate>> sources;
  std::map<sweep::JobLabels, size_t> first_of;
  for (size_t i = 0; i < specs.size(); ++i) {
    OPTBENCH_ASSIGN_OR_RETURN(const spec::TaskSpec* task, catalog.FindTask(specs[i].task));
    if (task->source_slots.empty()) {
      out.specs.push_back(specs[i]);
      out.source_labels.emplace_back();
      continue;
    }
    auto setting = specs[i].settings.find(spec::kSourceSetting);
    const std::string* text =
        setting == specs[i].settings.end() ? nullptr : std::get_if<std::string>(&setting->second);
    if (text == nullptr || text->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "source: missing; task '", task->name,
          "' works on another job's kept model: give a job id or a sweep (sweep file: source: "
          "{sweep: <id or name>, <label>: <value>})"));
    }
    auto found = sources.find(*text);
    if (found == sources.end()) {
      OPTBENCH_ASSIGN_OR_RETURN(std::vector<Candidate> jobs, JobsOfSource(*text, catalog, store));
      found = sources.emplace(*text, std::move(jobs)).first;
    }
    for (const Candidate& source : found->second) {
      OPTBENCH_ASSIGN_OR_RETURN(spec::JobSpec resolved, WorkOn(specs[i], *task, source, catalog));
      // The job's fields with "source" stand for everything copied from the source.
      auto [first, inserted] =
          first_of.emplace(sweep::JobFields(catalog, resolved), out.specs.size());
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat(
            "source '", *text, "': job ", source.job.id, " gives job ", out.specs.size(),
            " the same as job ", first->second, "; every job of a sweep must differ"));
      }
      out.specs.push_back(std::move(resolved));
      out.source_labels.push_back(source.labels);
      if (static_cast<int64_t>(out.specs.size()) > max_jobs) {
        return absl::ResourceExhaustedError(absl::StrCat("source '", *text,
                                                         "': its jobs make the sweep more than ",
                                                         max_jobs, " jobs (the limit)"));
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> SourceJobOf(const storage::JobRecord& job) {
  OPTBENCH_ASSIGN_OR_RETURN(const spec::JobSpec spec, StoredSpec(job));
  auto setting = spec.settings.find(spec::kSourceSetting);
  const std::string* text =
      setting == spec.settings.end() ? nullptr : std::get_if<std::string>(&setting->second);
  if (text == nullptr || text->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id, " works on no other job's model (no ", spec::kSourceSetting, " setting)"));
  }
  absl::StatusOr<spec::SourceSpec> source = spec::ParseSource(*text);
  if (!source.ok() || source->job_id.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, ": its source '", *text, "' was never resolved to a job"));
  }
  return source->job_id;
}

}  // namespace optbench::server

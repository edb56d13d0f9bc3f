#include "server/wire.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "proto/convert.h"

namespace optbench::server {

namespace {

// Sets the timestamp `field()` returns (a message's mutable_*_at), creating it only for a real
// time: a job not started yet has no started_at on the wire, not an epoch-0 one.
template <typename Field>
void SetTime(absl::Time t, Field field) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return;
  google::protobuf::Timestamp* out = field();
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1'000'000);
  out->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
}

}  // namespace

v1::JobState StateToProto(storage::JobState state) {
  switch (state) {
    case storage::JobState::kQueued:
      return v1::JOB_STATE_QUEUED;
    case storage::JobState::kRunning:
      return v1::JOB_STATE_RUNNING;
    case storage::JobState::kSucceeded:
      return v1::JOB_STATE_SUCCEEDED;
    case storage::JobState::kFailed:
      return v1::JOB_STATE_FAILED;
    case storage::JobState::kDiverged:
      return v1::JOB_STATE_DIVERGED;
    case storage::JobState::kCancelled:
      return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

std::optional<storage::JobState> StateFromProto(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return storage::JobState::kQueued;
    case v1::JOB_STATE_RUNNING:
      return storage::JobState::kRunning;
    case v1::JOB_STATE_SUCCEEDED:
      return storage::JobState::kSucceeded;
    case v1::JOB_STATE_FAILED:
      return storage::JobState::kFailed;
    case v1::JOB_STATE_DIVERGED:
      return storage::JobState::kDiverged;
    case v1::JOB_STATE_CANCELLED:
      return storage::JobState::kCancelled;
    default:
      return std::nullopt;
  }
}

v1::Job JobToProto(const storage::JobRecord& job) {
  v1::Job out;
  out.set_id(job.id);
  out.set_sweep_id(job.sweep_id);
  out.set_index(job.index);
  // The coordinator wrote these bytes from a validated message; a parse failure would mean a
  // corrupt row, which leaves the spec empty rather than failing the whole listing.
  (void)out.mutable_spec()->ParseFromString(job.spec);
  out.set_state(StateToProto(job.state));
  out.set_attempt(job.attempt);
  out.set_max_attempts(job.max_attempts);
  out.set_worker_id(job.worker_id);
  out.set_progress_step(job.progress_step);
  out.set_total_steps(job.total_steps);
  out.set_cancel_requested(job.cancel_requested);
  out.set_error(job.error);
  SetTime(job.created_at, [&] { return out.mutable_created_at(); });
  SetTime(job.started_at, [&] { return out.mutable_started_at(); });
  SetTime(job.finished_at, [&] { return out.mutable_finished_at(); });
  for (const auto& [k, v] : proto::LabelsFromJson(job.summary_json)) {
    (*out.mutable_labels())[k] = v;
  }
  v1::MetricDeclarations declared;
  if (!job.metrics.empty() && declared.ParseFromString(job.metrics)) {
    *out.mutable_metrics() = std::move(*declared.mutable_metrics());
  }
  if (job.kept_model.has_value()) {
    out.mutable_kept_model()->set_size_bytes(job.kept_model->size_bytes);
    out.mutable_kept_model()->set_checksum(job.kept_model->checksum);
  }
  return out;
}

v1::Sweep SweepToProto(const storage::SweepRecord& sweep,
                       const std::vector<std::pair<storage::JobState, int64_t>>& counts) {
  v1::Sweep out;
  out.set_id(sweep.id);
  out.set_name(sweep.name);
  SetTime(sweep.created_at, [&] { return out.mutable_created_at(); });
  out.set_num_jobs(sweep.num_jobs);
  for (const std::string& tag : sweep.tags) out.add_tags(tag);
  out.set_note(sweep.note);
  for (const auto& [state, n] : counts) {
    (*out.mutable_state_counts())[storage::JobStateName(state)] = n;
  }
  return out;
}

absl::StatusOr<std::vector<spec::MetricSpec>> JobMetrics(const storage::JobRecord& job,
                                                         const spec::Catalog& catalog) {
  if (!job.metrics.empty()) {
    v1::MetricDeclarations declared;
    if (!declared.ParseFromString(job.metrics)) {
      return absl::DataLossError(
          absl::StrCat("the stored metric declarations of job ", job.id, " do not parse"));
    }
    absl::StatusOr<std::vector<spec::MetricSpec>> metrics =
        proto::MetricsFromProto(declared.metrics());
    if (!metrics.ok()) {
      return absl::DataLossError(absl::StrCat("job ", job.id, ": ", metrics.status().message()));
    }
    return metrics;
  }
  v1::JobSpec wire;
  if (!wire.ParseFromString(job.spec)) {
    return absl::DataLossError(absl::StrCat("the stored spec of job ", job.id, " does not parse"));
  }
  absl::StatusOr<spec::JobSpec> parsed = proto::FromProto(wire);
  if (!parsed.ok()) return parsed.status();
  return catalog.Metrics(*parsed);
}

absl::StatusOr<std::vector<storage::JobRecord>> AllJobsOfSweep(storage::StoreReader& store,
                                                               const std::string& sweep_id) {
  std::vector<storage::JobRecord> jobs;
  storage::JobFilter filter;
  filter.sweep_id = sweep_id;
  filter.page_size = 1000;
  while (true) {
    auto page = store.ListJobs(filter);
    if (!page.ok()) return page.status();
    for (auto& job : page->jobs) jobs.push_back(std::move(job));
    if (page->next_page_token.empty()) return jobs;
    filter.page_token = page->next_page_token;
  }
}

absl::StatusOr<v1::ListComponentsResponse> ListComponentDeclarations(const spec::Catalog& catalog,
                                                                     const std::string& kind) {
  const spec::ComponentKind kinds[] = {spec::ComponentKind::kDataset, spec::ComponentKind::kModel,
                                       spec::ComponentKind::kOptimizer,
                                       spec::ComponentKind::kObjective};
  constexpr char kTask[] = "task";
  v1::ListComponentsResponse out;
  bool matched = kind.empty() || kind == kTask;
  std::vector<std::string> known;
  for (spec::ComponentKind k : kinds) {
    known.push_back(spec::ComponentKindName(k));
    if (!kind.empty() && kind != spec::ComponentKindName(k)) continue;
    matched = true;
    for (const spec::ComponentSpec* c : catalog.List(k)) *out.add_components() = proto::ToProto(*c);
  }
  known.push_back(kTask);
  if (!matched) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: unknown kind '", kind, "'; known: ", absl::StrJoin(known, ", ")));
  }
  if (kind.empty() || kind == kTask) {
    for (const spec::TaskSpec* t : catalog.tasks()) *out.add_tasks() = proto::ToProto(*t);
  }
  return out;
}

}  // namespace optbench::server

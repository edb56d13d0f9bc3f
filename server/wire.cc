#include "server/wire.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "proto/convert.h"
#include "worker/engine/catalog.h"

namespace optbench::server {

bool IsDiagnosticMetric(std::string_view metric) {
  constexpr std::string_view kPrefix = "diag.";
  if (metric.substr(0, kPrefix.size()) != kPrefix) return false;
  const std::string_view name = metric.substr(kPrefix.size());
  if (name.empty() || name.size() > kMaxDiagnosticName) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}
namespace {

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return;
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
  SetTime(job.created_at, out.mutable_created_at());
  SetTime(job.started_at, out.mutable_started_at());
  SetTime(job.finished_at, out.mutable_finished_at());
  for (const auto& [k, v] : proto::LabelsFromJson(job.summary_json)) {
    (*out.mutable_labels())[k] = v;
  }
  return out;
}

v1::Sweep SweepToProto(const storage::SweepRecord& sweep,
                       const std::vector<std::pair<storage::JobState, int64_t>>& counts) {
  v1::Sweep out;
  out.set_id(sweep.id);
  out.set_name(sweep.name);
  SetTime(sweep.created_at, out.mutable_created_at());
  out.set_num_jobs(sweep.num_jobs);
  for (const auto& [state, n] : counts) {
    (*out.mutable_state_counts())[storage::JobStateName(state)] = n;
  }
  return out;
}

v1::ComponentDeclaration ComponentToProto(const engine::ComponentSpec& spec) {
  v1::ComponentDeclaration out;
  out.set_kind(engine::ComponentKindName(spec.kind));
  out.set_name(spec.name);
  out.set_doc(spec.doc);
  for (const engine::ParamSpec& p : spec.params) {
    v1::ParamDeclaration* d = out.add_params();
    d->set_name(p.name);
    d->set_type(engine::ParamTypeName(p.type));
    *d->mutable_default_value() = proto::ToProto(p.default_value);
    if (p.min.has_value()) d->set_min(*p.min);
    if (p.max.has_value()) d->set_max(*p.max);
    d->set_min_exclusive(p.min_exclusive);
    d->set_max_exclusive(p.max_exclusive);
    for (const std::string& c : p.choices) d->add_choices(c);
    d->set_doc(p.doc);
  }
  return out;
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

absl::StatusOr<std::vector<v1::ComponentDeclaration>> ListComponentDeclarations(
    const std::string& kind) {
  const std::pair<const char*, engine::ComponentKind> kinds[] = {
      {"dataset", engine::ComponentKind::kDataset},
      {"model", engine::ComponentKind::kModel},
      {"optimizer", engine::ComponentKind::kOptimizer}};
  std::vector<v1::ComponentDeclaration> out;
  bool matched = false;
  for (const auto& [name, k] : kinds) {
    if (!kind.empty() && kind != name) continue;
    matched = true;
    for (const engine::ComponentSpec* spec : engine::ListComponents(k)) {
      out.push_back(ComponentToProto(*spec));
    }
  }
  if (!matched) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: unknown kind '", kind, "'; known: dataset, model, optimizer"));
  }
  return out;
}

}  // namespace optbench::server

#include "server/coordinator_service.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "proto/convert.h"
#include "server/kept_model_stream.h"
#include "server/query.h"
#include "server/source_resolution.h"
#include "server/wire.h"
#include "sweep/sweep_file.h"

namespace optbench::server {
namespace {

constexpr char kVersion[] = "0.1.0";

absl::StatusOr<v1::Sweep> LoadSweep(Scheduler& scheduler, const std::string& sweep_id) {
  auto sweep = scheduler.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  auto counts = scheduler.CountJobs(sweep_id);
  if (!counts.ok()) return counts.status();
  return SweepToProto(*sweep, *counts);
}

// Tags (each checked; `field` names the request field in errors), each kept once, in order.
absl::Status AddTags(const google::protobuf::RepeatedPtrField<std::string>& tags,
                     absl::string_view field, std::vector<std::string>* out) {
  for (int i = 0; i < tags.size(); ++i) {
    if (absl::Status s = sweep::CheckSweepTag(tags[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", s.message()));
    }
    if (std::find(out->begin(), out->end(), tags[i]) == out->end()) out->push_back(tags[i]);
  }
  if (static_cast<int>(out->size()) > sweep::kMaxSweepTags) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", out->size(), " tags; a sweep has at most ", sweep::kMaxSweepTags));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExpandedSubmission> ExpandSubmission(const v1::SubmitSweepRequest& request,
                                                    const spec::Catalog& catalog,
                                                    const SubmitLimits& limits,
                                                    storage::StoreReader* store) {
  ExpandedSubmission out;
  std::vector<spec::JobSpec> specs;
  std::vector<std::map<std::string, std::string>> labels;
  if (!request.sweep_text().empty()) {
    if (request.jobs_size() > 0) {
      return absl::InvalidArgumentError("jobs: give either sweep_text or jobs, not both");
    }
    if (static_cast<int64_t>(request.sweep_text().size()) > limits.max_sweep_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("sweep_text: ", request.sweep_text().size(),
                                                       " bytes is over the limit of ",
                                                       limits.max_sweep_bytes));
    }
    sweep::ParseOptions options;
    options.max_jobs = limits.max_jobs_per_sweep;
    const std::string source = request.source_name().empty() ? "sweep" : request.source_name();
    auto parsed = sweep::ParseSweep(request.sweep_text(), source, catalog, options);
    if (!parsed.ok()) return parsed.status();
    out.name = parsed->name;
    out.annotations.tags = std::move(parsed->tags);
    out.annotations.note = std::move(parsed->note);
    for (sweep::ExpandedJob& job : parsed->jobs) {
      specs.push_back(std::move(job.spec));
      labels.push_back(std::move(job.labels));
    }
  } else {
    if (request.jobs_size() == 0) {
      return absl::InvalidArgumentError("sweep_text: empty, and no jobs given");
    }
    if (request.jobs_size() > limits.max_jobs_per_sweep) {
      return absl::ResourceExhaustedError(absl::StrCat("jobs: ", request.jobs_size(),
                                                       " jobs is over the limit of ",
                                                       limits.max_jobs_per_sweep, " per sweep"));
    }
    for (int i = 0; i < request.jobs_size(); ++i) {
      auto spec = proto::FromProto(request.jobs(i));
      if (spec.ok()) spec = catalog.Validate(*spec);
      if (!spec.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("jobs[", i, "].", spec.status().message()));
      }
      specs.push_back(*std::move(spec));
    }
    labels = sweep::LabelJobs(catalog, specs);
  }
  const bool has_sources = std::any_of(specs.begin(), specs.end(), [&](const spec::JobSpec& s) {
    return !(*catalog.FindTask(s.task))->source_slots.empty();
  });
  if (store != nullptr && has_sources) {
    absl::StatusOr<ResolvedSpecs> resolved =
        ResolveSources(specs, catalog, *store, limits.max_jobs_per_sweep);
    if (!resolved.ok()) return resolved.status();
    specs = std::move(resolved->specs);
    // Labelled again: the sources' jobs and labels can tell the resolved jobs apart.
    labels = sweep::LabelJobs(catalog, specs, resolved->source_labels);
  }
  if (absl::Status s = AddTags(request.tags(), "tags", &out.annotations.tags); !s.ok()) return s;
  if (request.has_note()) {
    if (absl::Status s = sweep::CheckSweepNote(request.note()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("note: ", s.message()));
    }
    out.annotations.note = request.note();
  }
  if (!request.name().empty()) out.name = request.name();
  if (out.name.empty()) out.name = "sweep";
  if (request.max_attempts() < 0 || request.max_attempts() > 100) {
    return absl::InvalidArgumentError(absl::StrCat("max_attempts: ", request.max_attempts(),
                                                   " is out of range; allowed [0, 100]"));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    v1::JobSpec wire = proto::ToProto(specs[i]);
    const int64_t total_steps = (*catalog.FindTask(specs[i].task))->total_steps(specs[i]);
    storage::NewJob job;
    job.spec = wire.SerializeAsString();
    job.summary_json = proto::LabelsToJson(labels[i]);
    job.total_steps = total_steps;
    job.max_attempts = request.max_attempts();  // 0: the scheduler's default.
    out.new_jobs.push_back(std::move(job));
    v1::Job shown;
    shown.set_index(static_cast<int64_t>(i));
    *shown.mutable_spec() = std::move(wire);
    shown.set_state(v1::JOB_STATE_QUEUED);
    shown.set_total_steps(total_steps);
    for (const auto& [k, v] : labels[i]) (*shown.mutable_labels())[k] = v;
    out.jobs.push_back(std::move(shown));
  }
  return out;
}

CoordinatorService::CoordinatorService(Scheduler* scheduler, const spec::Catalog* catalog,
                                       SubmitLimits limits, const Authenticator* auth)
    : scheduler_(scheduler), catalog_(catalog), auth_(auth), limits_(limits) {}

grpc::Status CoordinatorService::Authorize(const grpc::ServerContext* context, Role role) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  return ToGrpcStatus(auth_->Check(*context, role));
}

grpc::Status CoordinatorService::SubmitSweep(grpc::ServerContext* context,
                                             const v1::SubmitSweepRequest* request,
                                             v1::SubmitSweepResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kSubmit); !a.ok()) return a;
  auto expanded = ExpandSubmission(*request, *catalog_, limits_, scheduler_);
  if (!expanded.ok()) return ToGrpcStatus(expanded.status());
  if (request->dry_run()) {
    for (v1::Job& job : expanded->jobs) *response->add_jobs() = std::move(job);
    return grpc::Status::OK;
  }
  auto sweep = scheduler_->CreateSweep(expanded->name, request->sweep_text(),
                                       std::move(expanded->new_jobs), expanded->annotations);
  if (!sweep.ok()) return ToGrpcStatus(sweep.status());
  auto loaded = LoadSweep(*scheduler_, sweep->id);
  if (!loaded.ok()) return ToGrpcStatus(loaded.status());
  *response->mutable_sweep() = *std::move(loaded);
  auto jobs = AllJobsOfSweep(*scheduler_, sweep->id);
  if (!jobs.ok()) return ToGrpcStatus(jobs.status());
  for (const storage::JobRecord& job : *jobs) *response->add_jobs() = JobToProto(job);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetSweep(grpc::ServerContext* context,
                                          const v1::GetSweepRequest* request, v1::Sweep* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  auto sweep = LoadSweep(*scheduler_, request->sweep_id());
  if (!sweep.ok()) return ToGrpcStatus(sweep.status());
  *response = *std::move(sweep);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListSweeps(grpc::ServerContext* context,
                                            const v1::ListSweepsRequest* request,
                                            v1::ListSweepsResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  if (request->limit() < 0 || request->limit() > 1000) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("limit: ", request->limit(), " is out of range; allowed [0, 1000]")));
  }
  storage::SweepFilter filter;
  filter.limit = request->limit() == 0 ? 50 : request->limit();
  for (int i = 0; i < request->tags_size(); ++i) {
    if (absl::Status s = sweep::CheckSweepTag(request->tags(i)); !s.ok()) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("tags[", i, "]: ", s.message())));
    }
    filter.tags.push_back(request->tags(i));
  }
  filter.name_contains = request->name_contains();
  if (request->has_state() != v1::JOB_STATE_UNSPECIFIED) {
    filter.has_state = StateFromProto(request->has_state());
    if (!filter.has_state.has_value()) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("has_state: unknown job state ", static_cast<int>(request->has_state()))));
    }
  }
  switch (request->progress()) {
    case v1::SWEEP_PROGRESS_UNSPECIFIED:
      break;
    case v1::SWEEP_PROGRESS_ACTIVE:
      filter.progress = storage::SweepFilter::Progress::kActive;
      break;
    case v1::SWEEP_PROGRESS_DONE:
      filter.progress = storage::SweepFilter::Progress::kDone;
      break;
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("progress: unknown value ", static_cast<int>(request->progress()),
                       "; allowed SWEEP_PROGRESS_UNSPECIFIED, _ACTIVE, _DONE")));
  }
  filter.page_token = request->page_token();
  auto page = scheduler_->ListSweeps(filter);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const storage::SweepRecord& s : page->sweeps) {
    auto counts = scheduler_->CountJobs(s.id);
    if (!counts.ok()) return ToGrpcStatus(counts.status());
    *response->add_sweeps() = SweepToProto(s, *counts);
  }
  response->set_next_page_token(page->next_page_token);
  response->set_total_size(page->total);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::UpdateSweep(grpc::ServerContext* context,
                                             const v1::UpdateSweepRequest* request,
                                             v1::Sweep* response) {
  if (grpc::Status a = Authorize(context, Role::kSubmit); !a.ok()) return a;
  if (request->sweep_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("sweep_id: required (the sweep to change)"));
  }
  std::vector<std::string> add;
  std::vector<std::string> remove;
  if (absl::Status s = AddTags(request->add_tags(), "add_tags", &add); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = AddTags(request->remove_tags(), "remove_tags", &remove); !s.ok()) {
    return ToGrpcStatus(s);
  }
  std::optional<std::string> note;
  if (request->has_note()) {
    if (absl::Status s = sweep::CheckSweepNote(request->note()); !s.ok()) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("note: ", s.message())));
    }
    note = request->note();
  }
  // Checked before writing: a sweep may not end up with more tags than it could be given.
  auto before = scheduler_->GetSweep(request->sweep_id());
  if (!before.ok()) return ToGrpcStatus(before.status());
  std::set<std::string> after(before->tags.begin(), before->tags.end());
  for (const std::string& tag : remove) after.erase(tag);
  after.insert(add.begin(), add.end());
  if (static_cast<int>(after.size()) > sweep::kMaxSweepTags) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "add_tags: the sweep would have ", after.size(), " tags; at most ", sweep::kMaxSweepTags)));
  }
  auto updated = scheduler_->UpdateSweep(request->sweep_id(), add, remove, note);
  if (!updated.ok()) return ToGrpcStatus(updated.status());
  auto loaded = LoadSweep(*scheduler_, updated->id);
  if (!loaded.ok()) return ToGrpcStatus(loaded.status());
  *response = *std::move(loaded);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DeleteSweep(grpc::ServerContext* context,
                                             const v1::DeleteSweepRequest* request,
                                             v1::DeleteSweepResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kSubmit); !a.ok()) return a;
  if (request->sweep_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("sweep_id: required (the sweep to delete)"));
  }
  auto deleted = scheduler_->DeleteSweep(request->sweep_id());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  response->set_deleted_jobs(deleted->jobs);
  response->set_deleted_metric_rows(deleted->metric_rows);
  response->set_deleted_checkpoints(deleted->checkpoints);
  response->set_deleted_kept_models(deleted->kept_models);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* context,
                                        const v1::GetJobRequest* request, v1::Job* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  auto job = scheduler_->GetJob(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = JobToProto(*job);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::DownloadKeptModel(grpc::ServerContext* context,
                                                   const v1::DownloadKeptModelRequest* request,
                                                   grpc::ServerWriter<v1::KeptModelChunk>* writer) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  if (request->job_id().empty()) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("job_id: required (the job whose model to read)"));
  }
  absl::StatusOr<storage::JobRecord> job = scheduler_->GetJob(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  if (absl::Status s = CheckHasKeptModel(*job); !s.ok()) return ToGrpcStatus(s);
  return StreamKeptModel(*scheduler_, job->id, absl::StrCat("job ", job->id), context, writer);
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* context,
                                          const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  storage::JobFilter filter;
  filter.sweep_id = request->sweep_id();
  if (request->state() != v1::JOB_STATE_UNSPECIFIED) {
    filter.state = StateFromProto(request->state());
    if (!filter.state.has_value()) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("state: unknown job state ", static_cast<int>(request->state()))));
    }
  }
  filter.page_size = request->page_size() == 0 ? 100 : request->page_size();
  filter.page_token = request->page_token();
  if (!filter.sweep_id.empty()) {
    if (auto s = scheduler_->GetSweep(filter.sweep_id); !s.ok()) return ToGrpcStatus(s.status());
  }
  auto page = scheduler_->ListJobs(filter);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const storage::JobRecord& job : page->jobs) *response->add_jobs() = JobToProto(job);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Cancel(grpc::ServerContext* context,
                                        const v1::CancelRequest* request, v1::CancelResponse*) {
  if (grpc::Status a = Authorize(context, Role::kSubmit); !a.ok()) return a;
  switch (request->target_case()) {
    case v1::CancelRequest::kJobId:
      return ToGrpcStatus(scheduler_->CancelJob(request->job_id()));
    case v1::CancelRequest::kSweepId:
      return ToGrpcStatus(scheduler_->CancelSweep(request->sweep_id()));
    default:
      return ToGrpcStatus(absl::InvalidArgumentError("target: set job_id or sweep_id"));
  }
}

grpc::Status CoordinatorService::Watch(grpc::ServerContext* context,
                                       const v1::WatchRequest* request,
                                       grpc::ServerWriter<v1::WatchEvent>* writer) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  const bool is_job = request->target_case() == v1::WatchRequest::kJobId;
  if (!is_job && request->target_case() != v1::WatchRequest::kSweepId) {
    return ToGrpcStatus(absl::InvalidArgumentError("target: set job_id or sweep_id"));
  }
  std::string last_sent;
  uint64_t version = scheduler_->version();
  while (!context->IsCancelled() && !shutting_down_) {
    absl::StatusOr<std::vector<storage::JobRecord>> jobs;
    if (is_job) {
      auto job = scheduler_->GetJob(request->job_id());
      if (!job.ok()) return ToGrpcStatus(job.status());
      jobs = std::vector<storage::JobRecord>{*std::move(job)};
    } else {
      if (auto s = scheduler_->GetSweep(request->sweep_id()); !s.ok()) {
        return ToGrpcStatus(s.status());
      }
      jobs = AllJobsOfSweep(*scheduler_, request->sweep_id());
    }
    if (!jobs.ok()) return ToGrpcStatus(jobs.status());
    v1::WatchEvent event;
    bool all_done = true;
    for (const storage::JobRecord& job : *jobs) {
      all_done = all_done && storage::IsTerminal(job.state);
      *event.add_jobs() = JobToProto(job);
    }
    std::string bytes = event.SerializeAsString();
    if (bytes != last_sent) {
      if (!writer->Write(event)) return grpc::Status::OK;  // Client went away.
      last_sent = std::move(bytes);
    }
    if (all_done) return grpc::Status::OK;
    // Wake on the next state change; the timeout bounds the reaction to a client cancel.
    version = scheduler_->AwaitChange(version, absl::Milliseconds(500));
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch ended");
}

grpc::Status CoordinatorService::QueryMetrics(grpc::ServerContext* context,
                                              const v1::QueryMetricsRequest* request,
                                              v1::QueryMetricsResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  auto result = server::QueryMetrics(*scheduler_, *catalog_, *request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListComponents(grpc::ServerContext* context,
                                                const v1::ListComponentsRequest* request,
                                                v1::ListComponentsResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  auto declarations = ListComponentDeclarations(*catalog_, request->kind());
  if (!declarations.ok()) return ToGrpcStatus(declarations.status());
  *response = *std::move(declarations);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetStatus(grpc::ServerContext* context,
                                           const v1::GetStatusRequest*,
                                           v1::GetStatusResponse* response) {
  if (grpc::Status a = Authorize(context, Role::kRead); !a.ok()) return a;
  auto counts = scheduler_->CountJobs("");
  if (!counts.ok()) return ToGrpcStatus(counts.status());
  for (const auto& [state, n] : *counts) {
    (*response->mutable_state_counts())[storage::JobStateName(state)] = n;
  }
  auto workers = scheduler_->ListWorkers();
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  const absl::Time now = scheduler_->clock()->Now();
  for (const storage::WorkerRecord& w : *workers) {
    v1::WorkerInfo* info = response->add_workers();
    info->set_id(w.id);
    info->set_name(w.name);
    info->set_slots(w.slots);
    info->set_seconds_since_seen(absl::ToInt64Seconds(now - w.last_seen));
    info->set_lost(scheduler_->IsLost(w));
  }
  storage::SweepFilter recent;
  recent.limit = 10;
  auto sweeps = scheduler_->ListSweeps(recent);
  if (!sweeps.ok()) return ToGrpcStatus(sweeps.status());
  response->set_total_sweeps(sweeps->total);
  for (const storage::SweepRecord& s : sweeps->sweeps) {
    auto c = scheduler_->CountJobs(s.id);
    if (!c.ok()) return ToGrpcStatus(c.status());
    *response->add_recent_sweeps() = SweepToProto(s, *c);
  }
  response->set_version(kVersion);
  return grpc::Status::OK;
}

}  // namespace optbench::server

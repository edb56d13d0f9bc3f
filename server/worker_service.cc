#include "server/worker_service.h"

#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "proto/convert.h"
#include "server/kept_model_stream.h"
#include "server/source_resolution.h"
#include "server/wire.h"

namespace optbench::server {
namespace {

constexpr int64_t kMaxVectorLength = 10'000'000;
// A job's newest checkpoints kept: the older one is the fallback when the newest is corrupt.
constexpr int kCheckpointsKept = 2;
// The largest piece of a kept model taken on the Report stream: well inside the 64 MiB message
// limit, and a row SQLite stores without trouble (workers send 4 MiB pieces).
constexpr size_t kMaxKeptModelPieceBytes = 16 << 20;

// Rules for the metrics a worker declares for a run: unique names, a bounded count.
absl::Status CheckDeclarations(const std::vector<spec::MetricSpec>& metrics) {
  constexpr size_t kMaxMetrics = 1000;
  if (metrics.size() > kMaxMetrics) {
    return absl::InvalidArgumentError(absl::StrCat("dataset_info.metrics: ", metrics.size(),
                                                   " declarations; allowed at most ", kMaxMetrics));
  }
  std::set<std::string> names;
  for (const spec::MetricSpec& m : metrics) {
    if (!names.insert(m.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset_info.metrics: '", m.name, "' is declared twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLease(const std::string& job_id, const std::string& token) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id: empty");
  if (token.empty()) return absl::InvalidArgumentError("lease_token: empty");
  return absl::OkStatus();
}

}  // namespace

AttemptOutcome AttemptOutcomeFromWire(const v1::FailJobRequest& request) {
  // A hand-back wins over `permanent`: the worker is stopping, not judging the job.
  if (request.release()) return AttemptOutcome::kPreempted;
  return request.permanent() ? AttemptOutcome::kPermanent : AttemptOutcome::kRetry;
}

absl::StatusOr<std::vector<storage::MetricRow>> MetricRowsFromBatch(
    const std::string& job_id, const v1::MetricBatch& batch,
    const std::vector<spec::MetricSpec>& declared, int64_t num_classes) {
  if (batch.step() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("metrics.step: ", batch.step(), " is negative"));
  }
  std::vector<storage::MetricRow> rows;
  rows.reserve(batch.values_size());
  for (int i = 0; i < batch.values_size(); ++i) {
    const v1::MetricValue& v = batch.values(i);
    const std::string where = absl::StrCat("metrics.values[", i, "]");
    const spec::MetricSpec* metric = spec::FindMetric(declared, v.metric());
    if (metric == nullptr) {
      std::vector<std::string> names;
      for (const spec::MetricSpec& m : declared) names.push_back(m.name);
      return absl::InvalidArgumentError(absl::StrCat(where, ".metric: unknown metric '", v.metric(),
                                                     "'; job ", job_id, " declares ",
                                                     absl::StrJoin(names, ", ")));
    }
    if (v.split() != v1::SPLIT_TRAIN && v.split() != v1::SPLIT_TEST) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".split: must be train or test"));
    }
    if (v.values_size() > kMaxVectorLength) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".values: ", v.values_size(),
                                                     " values; allowed 1..", kMaxVectorLength));
    }
    const spec::Split split =
        v.split() == v1::SPLIT_TRAIN ? spec::Split::kTrain : spec::Split::kTest;
    if (absl::Status s = spec::CheckMetricValue(*metric, split, v.values_size(), num_classes);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
    storage::MetricRow row;
    row.job_id = job_id;
    row.step = batch.step();
    row.split = spec::SplitName(split);
    row.metric = v.metric();
    row.values.assign(v.values().begin(), v.values().end());
    row.per_item = metric->shape == spec::MetricShape::kPerItem;
    rows.push_back(std::move(row));
  }
  return rows;
}

WorkerService::WorkerService(Scheduler* scheduler, const spec::Catalog* catalog,
                             const Authenticator* auth)
    : scheduler_(scheduler), catalog_(catalog), auth_(auth) {}

grpc::Status WorkerService::Authorize(const grpc::ServerContext* context) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  return ToGrpcStatus(auth_->Check(*context, Role::kWorker));
}

grpc::Status WorkerService::RegisterWorker(grpc::ServerContext* context,
                                           const v1::RegisterWorkerRequest* request,
                                           v1::RegisterWorkerResponse* response) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (request->worker_id().empty() || request->worker_id().size() > 256) {
    return ToGrpcStatus(absl::InvalidArgumentError("worker_id: must be 1..256 characters"));
  }
  if (request->slots() < 1 || request->slots() > 4096) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("slots: ", request->slots(), " is out of range; allowed [1, 4096]")));
  }
  if (absl::Status s =
          scheduler_->RegisterWorker(request->worker_id(), request->name(), request->slots());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  response->set_lease_ms(absl::ToInt64Milliseconds(scheduler_->options().lease));
  response->set_heartbeat_ms(absl::ToInt64Milliseconds(scheduler_->options().heartbeat));
  return grpc::Status::OK;
}

grpc::Status WorkerService::AcquireJob(grpc::ServerContext* context,
                                       const v1::AcquireJobRequest* request,
                                       v1::AcquireJobResponse* response) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (request->worker_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("worker_id: empty"));
  }
  if (request->wait_ms() < 0) {
    return ToGrpcStatus(
        absl::InvalidArgumentError(absl::StrCat("wait_ms: ", request->wait_ms(), " is negative")));
  }
  // Bound the long poll by the client's own deadline so the answer is not lost.
  absl::Duration wait = absl::Milliseconds(request->wait_ms());
  const absl::Time deadline = absl::FromChrono(context->deadline());
  if (deadline != absl::InfiniteFuture()) {
    wait = std::min(wait, deadline - absl::Now() - absl::Milliseconds(200));
  }
  if (shutting_down_) wait = absl::ZeroDuration();
  auto abandoned = [this, context] { return shutting_down_.load() || context->IsCancelled(); };
  if (draining_) {
    // Nothing is leased; the worker, answered empty-handed, polls again (and finds the
    // coordinator's successor). Waiting keeps the polls as slow as usual.
    const absl::Time until = absl::Now() + wait;
    scheduler_->Seen(request->worker_id());
    while (absl::Now() < until && !abandoned()) {
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(100)));
    }
    return grpc::Status::OK;
  }
  auto job =
      scheduler_->Acquire(request->worker_id(), std::max(wait, absl::ZeroDuration()), abandoned);
  if (!job.ok()) return ToGrpcStatus(job.status());
  if (!job->has_value()) return grpc::Status::OK;
  if (context->IsCancelled()) {
    // Nobody will read the answer: hand the job straight back without spending an attempt.
    (void)scheduler_->Fail((*job)->id, (*job)->lease_token, "acquirer went away",
                           AttemptOutcome::kPreempted);
    return grpc::Status(grpc::StatusCode::CANCELLED, "acquire cancelled");
  }
  *response->mutable_job() = JobToProto(**job);
  response->set_lease_token((*job)->lease_token);
  response->set_lease_ms(absl::ToInt64Milliseconds(scheduler_->options().lease));
  return grpc::Status::OK;
}

grpc::Status WorkerService::Report(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ReportResponse, v1::ReportRequest>* stream) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  // The metrics of the job this stream reports on, and its class count, once known: from its
  // DatasetInfo, or from the store when the stream starts after that was acknowledged.
  struct Declared {
    std::string job_id;
    std::vector<spec::MetricSpec> metrics;
    int64_t num_classes = 0;
  };
  std::optional<Declared> declared;
  v1::ReportRequest request;
  while (stream->Read(&request)) {
    if (absl::Status s = CheckLease(request.job_id(), request.lease_token()); !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::StatusOr<bool> cancel;
    switch (request.payload_case()) {
      case v1::ReportRequest::kHeartbeat:
        cancel = scheduler_->Heartbeat(request.job_id(), request.lease_token(),
                                       request.heartbeat().progress_step());
        break;
      case v1::ReportRequest::kDatasetInfo: {
        const v1::DatasetInfo& info = request.dataset_info();
        if (info.num_classes() < 1 || info.train_class_counts_size() != info.num_classes() ||
            (info.test_class_counts_size() != 0 &&
             info.test_class_counts_size() != info.num_classes())) {
          return ToGrpcStatus(absl::InvalidArgumentError(
              absl::StrCat("dataset_info: num_classes ", info.num_classes(), " does not match ",
                           info.train_class_counts_size(), " train and ",
                           info.test_class_counts_size(), " test class counts")));
        }
        absl::StatusOr<std::vector<spec::MetricSpec>> metrics =
            proto::MetricsFromProto(info.metrics());
        if (!metrics.ok()) {
          return ToGrpcStatus(absl::InvalidArgumentError(
              absl::StrCat("dataset_info.", metrics.status().message())));
        }
        if (absl::Status s = CheckDeclarations(*metrics); !s.ok()) return ToGrpcStatus(s);
        v1::MetricDeclarations stored;
        *stored.mutable_metrics() = info.metrics();
        absl::Status s = scheduler_->SetDatasetInfo(
            request.job_id(), request.lease_token(), info.num_classes(),
            {info.train_class_counts().begin(), info.train_class_counts().end()},
            {info.test_class_counts().begin(), info.test_class_counts().end()},
            info.metrics().empty() ? std::string() : stored.SerializeAsString());
        if (!s.ok()) return ToGrpcStatus(s);
        declared.reset();  // Read back below, declared or the catalog's.
        cancel = scheduler_->Heartbeat(request.job_id(), request.lease_token(), 0);
        break;
      }
      case v1::ReportRequest::kMetrics: {
        // What no declaration can name is refused before the job is looked up.
        for (int i = 0; i < request.metrics().values_size(); ++i) {
          const std::string& name = request.metrics().values(i).metric();
          if (!spec::IsValidMetricName(name)) {
            return ToGrpcStatus(absl::InvalidArgumentError(
                absl::StrCat("metrics.values[", i, "].metric: '", name,
                             "' is not a metric name (1..64 characters of [a-z0-9_.])")));
          }
        }
        if (!declared.has_value() || declared->job_id != request.job_id()) {
          absl::StatusOr<storage::JobRecord> job = scheduler_->GetJob(request.job_id());
          if (!job.ok()) return ToGrpcStatus(job.status());
          absl::StatusOr<std::vector<spec::MetricSpec>> metrics = JobMetrics(*job, *catalog_);
          if (!metrics.ok()) return ToGrpcStatus(metrics.status());
          declared = Declared{request.job_id(), *std::move(metrics), job->num_classes};
        }
        auto rows = MetricRowsFromBatch(request.job_id(), request.metrics(), declared->metrics,
                                        declared->num_classes);
        if (!rows.ok()) return ToGrpcStatus(rows.status());
        cancel = scheduler_->ReportMetrics(request.job_id(), request.lease_token(),
                                           request.metrics().step(), *rows);
        break;
      }
      case v1::ReportRequest::kCheckpoint: {
        const v1::Checkpoint& checkpoint = request.checkpoint();
        if (checkpoint.step() < 1 || checkpoint.data().empty()) {
          return ToGrpcStatus(absl::InvalidArgumentError(
              absl::StrCat("checkpoint: step ", checkpoint.step(), " with ",
                           checkpoint.data().size(), " bytes; want step >= 1 and data")));
        }
        absl::Status s =
            scheduler_->SaveCheckpoint(request.job_id(), request.lease_token(), checkpoint.step(),
                                       checkpoint.data(), kCheckpointsKept);
        if (!s.ok()) return ToGrpcStatus(s);
        cancel = scheduler_->Heartbeat(request.job_id(), request.lease_token(), checkpoint.step());
        break;
      }
      case v1::ReportRequest::kKeptModelChunk: {
        v1::KeptModelChunk* piece = request.mutable_kept_model_chunk();
        if (piece->data().size() > kMaxKeptModelPieceBytes) {
          return ToGrpcStatus(absl::InvalidArgumentError(
              absl::StrCat("kept_model_chunk.data: ", piece->data().size(),
                           " bytes; allowed at most ", kMaxKeptModelPieceBytes, " a piece")));
        }
        storage::KeptModelChunk chunk;
        chunk.total_bytes = piece->total_bytes();
        chunk.offset = piece->offset();
        chunk.checksum = piece->checksum();
        chunk.data = std::move(*piece->mutable_data());
        absl::StatusOr<storage::JobRecord> job =
            scheduler_->SaveKeptModelChunk(request.job_id(), request.lease_token(), chunk);
        if (!job.ok()) return ToGrpcStatus(job.status());
        cancel = job->cancel_requested;
        break;
      }
      default:
        return ToGrpcStatus(absl::InvalidArgumentError("payload: empty report"));
    }
    if (!cancel.ok()) return ToGrpcStatus(cancel.status());
    v1::ReportResponse ack;
    ack.set_acked_seq(request.seq());
    ack.set_cancel_requested(*cancel);
    if (!stream->Write(ack)) break;
  }
  return grpc::Status::OK;
}

absl::Status CheckFinalMetrics(Scheduler& scheduler, const std::string& job_id, int64_t step) {
  storage::MetricQuery query;
  query.job_ids = {job_id};
  query.min_step = step;
  query.max_step = step;
  auto rows = scheduler.ReadMetrics(query);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("steps_done: job ", job_id, " has no metrics at its final step ", step,
                     "; a job succeeds only once the evaluation of its last step is stored"));
  }
  return absl::OkStatus();
}

grpc::Status WorkerService::CompleteJob(grpc::ServerContext* context,
                                        const v1::CompleteJobRequest* request,
                                        v1::CompleteJobResponse*) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (absl::Status s = CheckLease(request->job_id(), request->lease_token()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  storage::JobState state;
  switch (request->outcome()) {
    case v1::OUTCOME_SUCCEEDED:
      state = storage::JobState::kSucceeded;
      break;
    case v1::OUTCOME_DIVERGED:
      state = storage::JobState::kDiverged;
      break;
    case v1::OUTCOME_CANCELLED:
      state = storage::JobState::kCancelled;
      break;
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          "outcome: must be OUTCOME_SUCCEEDED, OUTCOME_DIVERGED or OUTCOME_CANCELLED"));
  }
  if (request->steps_done() > 0) {
    auto hb =
        scheduler_->Heartbeat(request->job_id(), request->lease_token(), request->steps_done());
    if (!hb.ok()) return ToGrpcStatus(hb.status());
  }
  if (state == storage::JobState::kSucceeded) {
    // Every task evaluates at the last step it ran (a convex_relu solve that converges early
    // stops before total_steps and reports there): a job without those metrics did not finish.
    if (absl::Status s = CheckFinalMetrics(*scheduler_, request->job_id(), request->steps_done());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  return ToGrpcStatus(
      scheduler_->Complete(request->job_id(), request->lease_token(), state, request->message()));
}

grpc::Status WorkerService::FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                                    v1::FailJobResponse*) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (absl::Status s = CheckLease(request->job_id(), request->lease_token()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto state = scheduler_->Fail(request->job_id(), request->lease_token(),
                                request->error().substr(0, 4096), AttemptOutcomeFromWire(*request));
  return ToGrpcStatus(state.status());
}

grpc::Status WorkerService::LoadCheckpoint(grpc::ServerContext* context,
                                           const v1::LoadCheckpointRequest* request,
                                           v1::LoadCheckpointResponse* response) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (absl::Status s = CheckLease(request->job_id(), request->lease_token()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (request->before_step() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("before_step: ", request->before_step(), " is negative")));
  }
  auto found =
      scheduler_->LoadCheckpoint(request->job_id(), request->lease_token(),
                                 request->before_step() == 0 ? INT64_MAX : request->before_step());
  if (!found.ok()) return ToGrpcStatus(found.status());
  if (found->has_value()) {
    response->mutable_checkpoint()->set_step((*found)->step);
    *response->mutable_checkpoint()->mutable_data() = std::move((*found)->data);
  }
  return grpc::Status::OK;
}

grpc::Status WorkerService::LoadSourceModel(grpc::ServerContext* context,
                                            const v1::LoadSourceModelRequest* request,
                                            grpc::ServerWriter<v1::KeptModelChunk>* writer) {
  if (grpc::Status a = Authorize(context); !a.ok()) return a;
  if (absl::Status s = CheckLease(request->job_id(), request->lease_token()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<storage::JobRecord> job =
      scheduler_->LeasedJob(request->job_id(), request->lease_token());
  if (!job.ok()) return ToGrpcStatus(job.status());
  absl::StatusOr<std::string> source = SourceJobOf(*job);
  if (!source.ok()) return ToGrpcStatus(source.status());
  return StreamKeptModel(*scheduler_, *source, "source", context, writer);
}

}  // namespace optbench::server

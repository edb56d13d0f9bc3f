#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "grpcpp/create_channel.h"
#include "proto/convert.h"
#include "worker/engine/byte_io.h"
#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/run_job.h"
#include "worker/kept_model_pieces.h"
#include "worker/reporter.h"

namespace optbench::worker {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;
// The coordinator's largest piece of a kept model (server/worker_service.cc).
constexpr int64_t kMaxModelPieceBytes = 16 << 20;

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "worker";
  return buf;
}

v1::Split SplitToProto(engine::Split split) {
  return split == engine::Split::kTrain ? v1::SPLIT_TRAIN : v1::SPLIT_TEST;
}

// Streams the engine's output through the Reporter; checkpoints and the kept model go on the
// same stream (so the coordinator stores them only after every metric batch before them);
// checkpoints come back by LoadCheckpoint, source models by LoadSourceModel.
class ReportingSink : public engine::RunSink {
 public:
  using Loader = std::function<absl::StatusOr<std::optional<v1::Checkpoint>>(int64_t before)>;
  using SourceLoader = std::function<absl::StatusOr<std::string>()>;

  ReportingSink(Reporter* reporter, std::string job_id, LogFields log_fields,
                absl::Duration checkpoint_interval, std::function<bool()> preempted, Loader loader,
                int64_t model_piece_bytes, SourceLoader source_loader)
      : reporter_(reporter),
        job_id_(std::move(job_id)),
        log_fields_(std::move(log_fields)),
        checkpoint_interval_(checkpoint_interval),
        preempted_(std::move(preempted)),
        loader_(std::move(loader)),
        model_piece_bytes_(model_piece_bytes),
        source_loader_(std::move(source_loader)),
        last_checkpoint_(absl::Now()) {}

  // In pieces, in order; the Reporter's window bounds how many are in flight. The coordinator
  // keeps the model once the last piece is in and checked; RunLeasedJob completes the job only
  // after every piece is acknowledged.
  absl::Status OnKeptModel(std::string bytes) override {
    const uint64_t checksum = engine::Fnv1a64(bytes);
    for (const int64_t offset :
         PieceOffsets(static_cast<int64_t>(bytes.size()), model_piece_bytes_)) {
      v1::ReportRequest r;
      *r.mutable_kept_model_chunk() = PieceOf(bytes, checksum, offset, model_piece_bytes_);
      OPTBENCH_RETURN_IF_ERROR(reporter_->Send(std::move(r)));
    }
    LogEvent(LogLevel::kInfo, "worker", log_fields_, "job %s: kept model of %d bytes sent", job_id_,
             bytes.size());
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> LoadSourceModel() override { return source_loader_(); }

  // The worker's policy when the job's own setting leaves it one (RunSink): by training time.
  bool CheckpointDue(int64_t step, bool stopping) override {
    if (stopping) return preempted_();
    return checkpoint_interval_ > absl::ZeroDuration() &&
           absl::Now() - last_checkpoint_ >= checkpoint_interval_;
  }

  absl::Status OnCheckpoint(int64_t step, std::string bytes) override {
    last_checkpoint_ = absl::Now();
    if (bytes.size() > kMaxCheckpointBytes) {
      // Too big for one message: training goes on; a retry would start over.
      if (!warned_size_) {
        LogEvent(LogLevel::kWarning, "worker", log_fields_,
                 "job %s: a checkpoint is %d MiB, over the %d MiB limit; "
                 "not checkpointing",
                 job_id_, bytes.size() >> 20, kMaxCheckpointBytes >> 20);
        warned_size_ = true;
      }
      return absl::OkStatus();
    }
    // The coordinator takes a checkpoint only of steps the job has reported: the progress goes
    // first on the same (ordered) stream.
    reporter_->SetProgress(step);
    v1::ReportRequest progress;
    progress.mutable_heartbeat()->set_progress_step(step);
    OPTBENCH_RETURN_IF_ERROR(reporter_->Send(std::move(progress)));
    v1::ReportRequest r;
    r.mutable_checkpoint()->set_step(step);
    *r.mutable_checkpoint()->mutable_data() = std::move(bytes);
    return reporter_->Send(std::move(r));
  }

  absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t before_step) override {
    OPTBENCH_ASSIGN_OR_RETURN(
        std::optional<v1::Checkpoint> found,
        loader_(before_step == std::numeric_limits<int64_t>::max() ? 0 : before_step));
    if (!found.has_value()) return std::optional<StoredCheckpoint>();
    return StoredCheckpoint{found->step(), std::move(*found->mutable_data())};
  }

  void OnCheckpointRejected(int64_t step, const absl::Status& why) override {
    LogEvent(LogLevel::kWarning, "worker", log_fields_,
             "job %s: discarding the checkpoint at step %d: %s", job_id_, step, why.ToString());
  }

  void OnResumed(int64_t step) override {
    LogEvent(LogLevel::kInfo, "worker", log_fields_,
             "job %s: resuming from the checkpoint at step %d", job_id_, step);
    reporter_->SetProgress(step);
  }

  void OnRunInfo(const engine::RunInfo& info) override {
    v1::ReportRequest r;
    v1::DatasetInfo* d = r.mutable_dataset_info();
    d->set_num_classes(info.num_classes);
    d->set_num_features(info.num_features);
    d->mutable_train_class_counts()->Add(info.train_class_counts.begin(),
                                         info.train_class_counts.end());
    d->mutable_test_class_counts()->Add(info.test_class_counts.begin(),
                                        info.test_class_counts.end());
    for (const spec::MetricSpec& m : info.metrics) *d->add_metrics() = proto::ToProto(m);
    // An error here surfaces at the first evaluation, which returns status().
    (void)reporter_->Send(std::move(r));
  }

  absl::Status OnEvaluation(const engine::MetricBatch& metrics) override {
    v1::ReportRequest r;
    v1::MetricBatch* batch = r.mutable_metrics();
    batch->set_step(metrics.step);
    for (const engine::MetricValue& m : metrics.values) {
      v1::MetricValue* v = batch->add_values();
      v->set_metric(m.metric);
      v->set_split(SplitToProto(m.split));
      v->mutable_values()->Add(m.values.begin(), m.values.end());
    }
    reporter_->SetProgress(metrics.step);
    return reporter_->Send(std::move(r));
  }

  void OnStep(int64_t step) override { reporter_->SetProgress(step); }

 private:
  // Under the channel's message limit, with room for the rest of the request.
  static constexpr size_t kMaxCheckpointBytes = kMaxMessageBytes - (1 << 20);

  Reporter* const reporter_;
  const std::string job_id_;
  const LogFields log_fields_;  // The job event fields: job, attempt, worker.
  const absl::Duration checkpoint_interval_;
  const std::function<bool()> preempted_;
  const Loader loader_;
  const int64_t model_piece_bytes_;
  const SourceLoader source_loader_;
  absl::Time last_checkpoint_;
  bool warned_size_ = false;
};

}  // namespace

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {
  if (options_.name.empty()) options_.name = HostName();
  if (options_.worker_id.empty()) {
    std::random_device rd;
    options_.worker_id =
        absl::StrFormat("%s-%d-%04x", options_.name, static_cast<int>(getpid()), rd() & 0xffff);
  }
}

Worker::~Worker() {
  Stop();
  Wait();
}

absl::Status Worker::Start(absl::Duration connect_timeout) {
  if (options_.slots < 1 || options_.slots > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("slots: ", options_.slots, " is out of range; allowed [1, 1024]"));
  }
  if (options_.coordinator.empty()) {
    return absl::InvalidArgumentError("coordinator: empty address (want HOST:PORT)");
  }
  if (options_.model_piece_bytes < 1 || options_.model_piece_bytes > kMaxModelPieceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_piece_bytes: ", options_.model_piece_bytes,
                     " is out of range; allowed [1, ", kMaxModelPieceBytes, "]"));
  }
  if (absl::Status s = engine::SetGemmThreads(options_.threads_per_slot); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("threads_per_slot: ", s.message()));
  }
  if (options_.threads_per_slot > 1 && !engine::GemmThreadsKeepResults()) {
    Log(LogLevel::kWarning, "worker",
        "%d GEMM threads change results in their last bits with this BLAS (%s): a job's "
        "metrics will differ from a one-thread run's",
        options_.threads_per_slot, engine::GemmBackendDescription().c_str());
  }
  if (options_.threads_per_slot > 1 && options_.slots > 1) {
    Log(LogLevel::kWarning, "worker",
        "%d slots with %d GEMM threads each: OpenBLAS runs one multi-threaded product at a time, "
        "so the slots' products will wait for each other (use one slot for big jobs)",
        options_.slots, options_.threads_per_slot);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Keepalive pings find a silently dead connection in ~30 s instead of the kernel's ~15 min.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // After a coordinator outage the channel retries its connection at most a second apart (gRPC's
  // default backoff grows to 120 s): the worker is back within a second of the coordinator,
  // well inside the grace of one lease a restarted coordinator gives running jobs.
  // (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the connect timeout, and at
  // 250 ms every attempt was cut off before the restarted coordinator's handshake finished.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
  channel_ = grpc::CreateCustomChannel(options_.coordinator, creds, args);
  stub_ = v1::WorkerService::NewStub(channel_);

  v1::RegisterWorkerRequest request;
  request.set_worker_id(options_.worker_id);
  request.set_name(options_.name);
  request.set_slots(options_.slots);
  const absl::Time give_up = absl::Now() + connect_timeout;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.set_wait_for_ready(true);
    Authorize(&context);
    v1::RegisterWorkerResponse response;
    grpc::Status status = stub_->RegisterWorker(&context, request, &response);
    if (status.ok()) {
      heartbeat_ = absl::Milliseconds(std::max<int64_t>(100, response.heartbeat_ms()));
      break;
    }
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return FromGrpcStatus(status);
    }
    if (absl::Now() + backoff > give_up || stopping_) {
      return absl::UnavailableError(absl::StrCat("coordinator ", options_.coordinator,
                                                 " did not answer: ", status.error_message()));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
  Log(LogLevel::kInfo, "worker", "%s registered with %s, %d slot(s), %d GEMM thread(s) each by %s",
      options_.worker_id, options_.coordinator, options_.slots, options_.threads_per_slot,
      engine::GemmBackendDescription());
  for (int i = 0; i < options_.slots; ++i) slots_.emplace_back([this, i] { SlotLoop(i); });
  return absl::OkStatus();
}

void Worker::Authorize(grpc::ClientContext* context) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
}

void Worker::Stop() {
  stopping_ = true;
  absl::MutexLock lock(&mu_);
  for (grpc::ClientContext* c : polls_) c->TryCancel();
}

void Worker::Wait() {
  for (std::thread& t : slots_) {
    if (t.joinable()) t.join();
  }
}

void Worker::SlotLoop(int slot) {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stopping_) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.acquire_wait + absl::Seconds(5)));
    Authorize(&context);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      polls_.push_back(&context);
    }
    v1::AcquireJobRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_wait_ms(absl::ToInt64Milliseconds(options_.acquire_wait));
    v1::AcquireJobResponse response;
    grpc::Status status = stub_->AcquireJob(&context, request, &response);
    {
      absl::MutexLock lock(&mu_);
      polls_.erase(std::find(polls_.begin(), polls_.end(), &context));
    }
    if (!status.ok()) {
      if (stopping_) break;
      Log(LogLevel::kWarning, "worker", "slot %d: acquire failed (%s); retrying", slot,
          status.error_message());
      absl::SleepFor(backoff);
      ReconnectNow();
      backoff = std::min(backoff * 2, absl::Seconds(1));
      continue;
    }
    backoff = absl::Milliseconds(100);
    if (!response.has_job()) continue;
    RunLeasedJob(response.job(), response.lease_token());
  }
}

void Worker::ReconnectNow() {
  // Callers pace their own retries (<= 1 s apart); without this the channel would also wait out
  // its own backoff timer before dialing again.
  grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
}

void Worker::RunLeasedJob(const v1::Job& job, const std::string& token) {
  const LogFields fields = JobFields(job.id(), job.attempt(), options_.worker_id);
  LogEvent(LogLevel::kInfo, "worker", fields, "job %s: attempt %d starts", job.id(), job.attempt());
  auto finish_rpc = [&](auto call) {
    // Completion must reach the coordinator even across a restart: each try waits up to 10 s
    // for the channel to be ready (wait_for_ready) instead of failing fast, then retries while
    // unavailable, for a few minutes in all.
    absl::Duration backoff = absl::Milliseconds(100);
    for (int i = 0; i < 20; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      context.set_wait_for_ready(true);
      Authorize(&context);
      grpc::Status s = call(&context);
      // DEADLINE_EXCEEDED: still not ready after 10 s (a request that did arrive and only
      // answered late is retried too; its retry then meets a finished job).
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
          s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        return s;
      }
      absl::SleepFor(backoff);
      ReconnectNow();
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator unreachable");
  };
  auto fail = [&](const std::string& error, bool release, bool permanent = false) {
    v1::FailJobRequest r;
    r.set_job_id(job.id());
    r.set_lease_token(token);
    r.set_error(error);
    r.set_release(release);
    r.set_permanent(permanent);
    v1::FailJobResponse resp;
    grpc::Status s =
        finish_rpc([&](grpc::ClientContext* c) { return stub_->FailJob(c, r, &resp); });
    if (!s.ok()) {
      LogEvent(LogLevel::kWarning, "worker", fields, "job %s: fail report lost: %s", job.id(),
               s.error_message());
    }
  };

  auto spec = proto::FromProto(job.spec());
  if (spec.ok()) spec = engine::Catalog().Validate(*spec);
  if (!spec.ok()) {
    fail(absl::StrCat("invalid job spec: ", spec.status().message()), false, /*permanent=*/true);
    return;
  }

  if (options_.max_memory_bytes > 0) {
    auto estimate = engine::EstimatePeakMemoryBytes(*spec);
    if (estimate.ok() && *estimate > options_.max_memory_bytes) {
      // Retrying elsewhere could fit, but a worker cannot know; the message says what to change.
      const std::string& driver = engine::FindTask(spec->task).memory_driver;
      fail(absl::StrCat("job needs about ", *estimate >> 20, " MiB, over this worker's limit of ",
                        options_.max_memory_bytes >> 20,
                        " MiB (--max_memory_mb); run it on a larger worker or shrink it",
                        driver.empty() ? "" : absl::StrCat(" (", driver, ")")),
           false, /*permanent=*/true);
      return;
    }
  }

  Reporter::Options ropts;
  ropts.heartbeat = heartbeat_;
  ropts.window = options_.report_window;
  ropts.token = options_.token;
  ropts.before_reconnect = [this] { ReconnectNow(); };
  ropts.log_fields = fields;
  Reporter reporter(stub_.get(), job.id(), token, ropts);
  reporter.Start();
  auto load_checkpoint = [&](int64_t before) -> absl::StatusOr<std::optional<v1::Checkpoint>> {
    v1::LoadCheckpointRequest r;
    r.set_job_id(job.id());
    r.set_lease_token(token);
    r.set_before_step(before);
    v1::LoadCheckpointResponse resp;
    grpc::Status s = finish_rpc([&](grpc::ClientContext* c) {
      // Up to 63 MiB: give a slow link time (finish_rpc's deadline is for small calls).
      c->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
      return stub_->LoadCheckpoint(c, r, &resp);
    });
    // A coordinator from before checkpoints: start from step 0.
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return std::optional<v1::Checkpoint>();
    if (!s.ok()) return FromGrpcStatus(s);
    if (!resp.has_checkpoint()) return std::optional<v1::Checkpoint>();
    return std::optional<v1::Checkpoint>(std::move(*resp.mutable_checkpoint()));
  };
  auto load_source = [&]() -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> model = absl::UnavailableError("not loaded");
    v1::LoadSourceModelRequest r;
    r.set_job_id(job.id());
    r.set_lease_token(token);
    // A download cut short by a coordinator restart starts over (finish_rpc retries it).
    grpc::Status s = finish_rpc([&](grpc::ClientContext* c) {
      // A model can be hundreds of MB: give a slow link time.
      c->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
      std::unique_ptr<grpc::ClientReader<v1::KeptModelChunk>> reader = stub_->LoadSourceModel(c, r);
      ModelAssembler assembler;
      absl::Status added;
      v1::KeptModelChunk piece;
      while (added.ok() && reader->Read(&piece)) added = assembler.Add(piece);
      if (!added.ok()) c->TryCancel();
      grpc::Status finished = reader->Finish();
      if (!added.ok()) {
        model = added;
      } else if (finished.ok()) {
        model = std::move(assembler).Finish();
      }
      return finished.ok() || !added.ok() ? grpc::Status::OK : finished;
    });
    if (!s.ok()) return FromGrpcStatus(s);
    return model;
  };
  ReportingSink sink(
      &reporter, job.id(), fields, options_.checkpoint_interval,
      [&] { return stopping_.load() && !reporter.cancel_requested() && reporter.status().ok(); },
      load_checkpoint, options_.model_piece_bytes, load_source);
  auto should_stop = [&]() {
    return stopping_.load() || reporter.cancel_requested() || !reporter.status().ok();
  };
  absl::StatusOr<engine::RunResult> result = engine::RunJob(*spec, &sink, should_stop);
  absl::Status reported = reporter.Finish(absl::Minutes(2));

  if (!reported.ok()) {
    // Lease lost (the job moved on) or the coordinator refused the data: nothing to complete.
    LogEvent(LogLevel::kWarning, "worker", fields, "job %s: abandoned: %s", job.id(),
             reported.ToString());
    if (reported.code() != absl::StatusCode::kFailedPrecondition) {
      // A refused report (InvalidArgument) would be refused again on every retry.
      fail(absl::StrCat("reporting failed: ", reported.message()), false,
           reported.code() == absl::StatusCode::kInvalidArgument);
    }
    return;
  }
  if (!result.ok()) {
    LogEvent(LogLevel::kWarning, "worker", fields, "job %s: failed: %s", job.id(),
             result.status().ToString());
    // A spec that cannot be built (bad data file, bad shape) fails the same way every time.
    fail(std::string(result.status().message()), false,
         result.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  if (result->outcome == engine::RunOutcome::kCancelled && !reporter.cancel_requested()) {
    // Stopped by our own shutdown: hand the job back without spending an attempt.
    fail("worker shutting down", true);
    LogEvent(LogLevel::kInfo, "worker", fields, "job %s: handed back at step %d", job.id(),
             result->steps_done);
    return;
  }
  v1::CompleteJobRequest r;
  r.set_job_id(job.id());
  r.set_lease_token(token);
  r.set_steps_done(result->steps_done);
  r.set_message(result->message);
  switch (result->outcome) {
    case engine::RunOutcome::kCompleted:
      r.set_outcome(v1::OUTCOME_SUCCEEDED);
      break;
    case engine::RunOutcome::kDiverged:
      r.set_outcome(v1::OUTCOME_DIVERGED);
      break;
    case engine::RunOutcome::kCancelled:
      r.set_outcome(v1::OUTCOME_CANCELLED);
      break;
  }
  v1::CompleteJobResponse resp;
  grpc::Status s =
      finish_rpc([&](grpc::ClientContext* c) { return stub_->CompleteJob(c, r, &resp); });
  if (!s.ok()) {
    LogEvent(LogLevel::kWarning, "worker", fields, "job %s: completion refused: %s", job.id(),
             s.error_message());
    return;
  }
  jobs_finished_++;
  LogEvent(LogLevel::kInfo, "worker", fields, "job %s: %s after %d steps", job.id(),
           v1::Outcome_Name(r.outcome()), result->steps_done);
}

}  // namespace optbench::worker

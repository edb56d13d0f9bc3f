#include "worker/reporter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace optbench::worker {

Reporter::Reporter(v1::WorkerService::Stub* stub, std::string job_id, std::string lease_token,
                   Options options)
    : stub_(stub), job_id_(std::move(job_id)), token_(std::move(lease_token)), options_(options) {}

Reporter::~Reporter() { (void)Finish(absl::ZeroDuration()); }

void Reporter::Start() {
  {
    absl::MutexLock lock(&write_mu_);
    OpenStream();
  }
  reader_ = std::thread([this] { ReaderLoop(); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

void Reporter::OpenStream() {
  // The old stream goes before its context: gRPC requires the context to outlive the stream.
  stream_.reset();
  context_ = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) context_->AddMetadata("authorization", "Bearer " + options_.token);
  stream_ = stub_->Report(context_.get());
}

bool Reporter::WriteLocked(const v1::ReportRequest& request) {
  // A failed write means the stream broke; the reader sees the same and reconnects, resending
  // every unacknowledged message, so the failure needs no handling here.
  return stream_ != nullptr && stream_->Write(request);
}

absl::Status Reporter::status() const {
  absl::MutexLock lock(&mu_);
  return fatal_;
}

void Reporter::SetFatal(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (fatal_.ok()) fatal_ = std::move(status);
}

absl::Status Reporter::Send(v1::ReportRequest request) {
  {
    // Wait for room without holding write_mu_: the reader needs it to reconnect, and the acks
    // that make room may only come after a reconnect. Only the training thread calls Send, so
    // the room cannot be taken by someone else in between.
    const int64_t bytes = static_cast<int64_t>(request.ByteSizeLong());
    absl::MutexLock lock(&mu_);
    auto room = [this, bytes]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !fatal_.ok() ||
             (static_cast<int>(unacked_.size()) < options_.window &&
              (unacked_.empty() || unacked_bytes_ + bytes <= options_.max_unacked_bytes));
    };
    mu_.Await(absl::Condition(&room));
    if (!fatal_.ok()) return fatal_;
  }
  // Sequence numbers are assigned and written under write_mu_, so the stream carries them in
  // increasing order and an ack for seq s covers every message before it.
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    request.set_job_id(job_id_);
    request.set_lease_token(token_);
    request.set_seq(next_seq_++);
    unacked_bytes_ += static_cast<int64_t>(request.ByteSizeLong());
    unacked_.push_back(request);
  }
  WriteLocked(request);
  return absl::OkStatus();
}

void Reporter::ReaderLoop() {
  absl::Time broken_since = absl::InfiniteFuture();
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>* stream;
    {
      absl::MutexLock lock(&write_mu_);
      stream = stream_.get();
    }
    v1::ReportResponse ack;
    while (stream->Read(&ack)) {
      broken_since = absl::InfiniteFuture();
      backoff = absl::Milliseconds(100);
      if (ack.cancel_requested()) cancel_.store(true);
      absl::MutexLock lock(&mu_);
      while (!unacked_.empty() && unacked_.front().seq() <= ack.acked_seq()) {
        unacked_bytes_ -= static_cast<int64_t>(unacked_.front().ByteSizeLong());
        unacked_.pop_front();
      }
    }
    grpc::Status status = stream->Finish();
    // Finish() may have run meanwhile: everything acknowledged and closing, or given up.
    auto finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || (closing_ && unacked_.empty());
    };
    {
      absl::MutexLock lock(&mu_);
      if (finished()) break;
    }
    const grpc::StatusCode code = status.error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::OK &&
        code != grpc::StatusCode::CANCELLED && code != grpc::StatusCode::DEADLINE_EXCEEDED &&
        code != grpc::StatusCode::INTERNAL) {
      // The coordinator refused the report (stale lease, bad data): not retryable.
      SetFatal(FromGrpcStatus(status));
      break;
    }
    const absl::Time now = absl::Now();
    if (broken_since == absl::InfiniteFuture()) broken_since = now;
    if (now - broken_since > options_.reconnect_for) {
      SetFatal(absl::UnavailableError(
          absl::StrCat("report stream for job ", job_id_, " lost: ", status.error_message())));
      break;
    }
    LogEvent(LogLevel::kWarning, "worker", options_.log_fields,
             "report stream for job %s broke (%s); reconnecting", job_id_, status.error_message());
    absl::SleepFor(backoff);
    if (options_.before_reconnect) options_.before_reconnect();
    // At most a second apart: back well inside the restarted coordinator's grace of one lease.
    backoff = std::min(backoff * 2, absl::Seconds(1));
    absl::MutexLock write_lock(&write_mu_);
    std::deque<v1::ReportRequest> resend;
    bool closing;
    {
      // Checked again under write_mu_: Finish() closes the stream under it, so either it sees
      // the new stream or this sees that it ran.
      absl::MutexLock lock(&mu_);
      if (finished()) break;
      resend = unacked_;
      closing = closing_;
    }
    OpenStream();
    for (const v1::ReportRequest& r : resend) {
      if (!WriteLocked(r)) break;
    }
    // Finish() already closed the old stream for writing; close the new one the same way.
    if (closing) stream_->WritesDone();
  }
  absl::MutexLock lock(&mu_);
  done_ = true;
}

void Reporter::HeartbeatLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return closing_ || done_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.heartbeat)) return;
      if (!fatal_.ok()) return;
    }
    absl::MutexLock write_lock(&write_mu_);
    v1::ReportRequest hb;
    hb.set_job_id(job_id_);
    hb.set_lease_token(token_);
    hb.mutable_heartbeat()->set_progress_step(progress_.load());
    {
      absl::MutexLock lock(&mu_);
      hb.set_seq(next_seq_++);
    }
    WriteLocked(hb);
  }
}

absl::Status Reporter::Finish(absl::Duration timeout) {
  if (!reader_.joinable()) return status();
  {
    absl::MutexLock lock(&mu_);
    auto flushed = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return unacked_.empty() || !fatal_.ok() || done_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&flushed), timeout) && fatal_.ok()) {
      fatal_ = absl::DeadlineExceededError(
          absl::StrCat("job ", job_id_, ": ", unacked_.size(), " reports not acknowledged"));
    }
    closing_ = true;
  }
  heartbeat_.join();
  {
    absl::MutexLock write_lock(&write_mu_);
    bool failed;
    {
      absl::MutexLock lock(&mu_);
      failed = !fatal_.ok();
      done_ = done_ || failed;
    }
    if (failed) {
      context_->TryCancel();
    } else if (stream_ != nullptr) {
      stream_->WritesDone();
    }
  }
  reader_.join();
  return status();
}

}  // namespace optbench::worker

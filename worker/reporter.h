// Reporter: the worker's side of one job's Report stream. Sends dataset info and metric batches
// in order, heartbeats on a timer, tracks acknowledgements, and survives a coordinator restart by
// reopening the stream and resending everything not yet acknowledged (writes are idempotent).
#ifndef OPTBENCH_WORKER_REPORTER_H_
#define OPTBENCH_WORKER_REPORTER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "optbench/v1/worker.grpc.pb.h"

namespace optbench::worker {

// Thread-safe: Send/SetProgress are called from the training thread while internal threads read
// acks and heartbeat. Does not own `stub`.
class Reporter {
 public:
  struct Options {
    absl::Duration heartbeat = absl::Seconds(5);
    // At most this many unacknowledged messages; Send blocks beyond it (back-pressure: a slow
    // coordinator slows training down instead of growing memory).
    int window = 8;
    // And at most this many bytes of them (checkpoints are large): Send blocks until the new
    // message fits, except that one message alone is always let through.
    int64_t max_unacked_bytes = 128 << 20;
    // Give up reconnecting after this long. Long: a restarted coordinator gives running jobs one
    // lease of grace, so a worker still trying when it comes back keeps its job.
    absl::Duration reconnect_for = absl::Minutes(10);
    std::string token;  // Bearer token sent with the stream; empty = none.
    // Called before each reconnection attempt (the worker resets its channel's connection
    // backoff, so the attempt dials at once instead of waiting out gRPC's own timer).
    std::function<void()> before_reconnect;
    LogFields log_fields;  // On the reporter's log lines (the job's: job, attempt, worker).
  };

  Reporter(v1::WorkerService::Stub* stub, std::string job_id, std::string lease_token,
           Options options);
  ~Reporter();

  // Opens the stream and starts the ack reader and heartbeat threads.
  void Start();

  // Queues `request` (seq, job id and token are filled in) and writes it. Blocks while the window
  // is full. Returns the reporter's fatal error if the job can no longer be reported (lease lost:
  // FailedPrecondition; a refused report: InvalidArgument; coordinator gone: Unavailable).
  absl::Status Send(v1::ReportRequest request);
  void SetProgress(int64_t step) { progress_.store(step); }
  bool cancel_requested() const { return cancel_.load(); }
  // OK while healthy.
  absl::Status status() const;

  // Waits until everything sent is acknowledged (or `timeout`), then closes the stream and stops
  // the threads. Returns status().
  absl::Status Finish(absl::Duration timeout);

 private:
  void OpenStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  bool WriteLocked(const v1::ReportRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void ReaderLoop();
  void HeartbeatLoop();
  void SetFatal(absl::Status status);

  v1::WorkerService::Stub* const stub_;
  const std::string job_id_;
  const std::string token_;
  const Options options_;

  // Serializes writes and stream replacement (gRPC allows one writer at a time).
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(write_mu_);
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>> stream_
      ABSL_GUARDED_BY(write_mu_);

  mutable absl::Mutex mu_;
  std::deque<v1::ReportRequest> unacked_ ABSL_GUARDED_BY(mu_);
  int64_t unacked_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // Serialized sizes of unacked_.
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<int64_t> progress_{0};
  std::atomic<bool> cancel_{false};
  std::thread reader_;
  std::thread heartbeat_;
};

}  // namespace optbench::worker

#endif  // OPTBENCH_WORKER_REPORTER_H_

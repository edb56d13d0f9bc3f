// Worker: the worker daemon's core. Pulls leased jobs from a coordinator over gRPC, runs each in
// the engine on one of its slots, streams per-class metrics back, and completes or fails the job.
#ifndef OPTBENCH_WORKER_WORKER_H_
#define OPTBENCH_WORKER_WORKER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "optbench/v1/worker.grpc.pb.h"

namespace optbench::worker {

struct WorkerOptions {
  std::string coordinator;  // host:port
  int slots = 1;            // Jobs run at once (one thread each).
  // Threads each job's matrix products use (engine/gemm_backend.h). Results do not depend on it.
  int threads_per_slot = 1;
  std::string worker_id;                            // Empty = "<hostname>-<pid>-<random>".
  std::string name;                                 // Empty = hostname.
  absl::Duration acquire_wait = absl::Seconds(10);  // Long-poll length.
  int report_window = 8;  // Unacknowledged metric batches per job before training waits.
  // Null = insecure (plaintext) channel.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Bearer token with the worker role, sent on every call; empty = none.
  std::string token;
  // Jobs whose estimated peak memory exceeds this are refused with a clear error before they
  // start (instead of the worker being killed half way). 0 = no limit.
  int64_t max_memory_bytes = 0;
  // Checkpoint policy for jobs whose trainer.checkpoint_every is 0: a checkpoint after every
  // this much training time (so short jobs never pay for one); zero = never. A job with
  // checkpoint_every = K checkpoints every K steps. Either way a preempted job (Stop) saves one
  // before handing the job back.
  absl::Duration checkpoint_interval = absl::Minutes(5);
  // A kept model (trainer.keep_model) is uploaded in pieces of this many bytes, 1 B .. 16 MiB
  // (the coordinator's limit): models outgrow one gRPC message.
  int64_t model_piece_bytes = 4 << 20;
};

// Thread-safe. Start() launches the slot threads; Stop() ends them.
class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();

  // Registers with the coordinator (retrying while it is unreachable, up to `connect_timeout`)
  // and starts the slots. Unavailable if the coordinator never answered; InvalidArgument for bad
  // options.
  absl::Status Start(absl::Duration connect_timeout = absl::Seconds(30));

  // Graceful stop: running jobs stop at the next step and are handed back to the queue (their
  // attempt is not counted), idle slots stop polling. Returns at once; Wait() joins.
  void Stop();
  void Wait();

  const std::string& worker_id() const { return options_.worker_id; }
  int64_t jobs_finished() const { return jobs_finished_.load(); }

 private:
  void SlotLoop(int slot);
  // Applies the token (if any) to a call.
  void Authorize(grpc::ClientContext* context) const;
  // Dials the coordinator again now rather than after gRPC's connection backoff.
  void ReconnectNow();
  void RunLeasedJob(const v1::Job& job, const std::string& token);

  WorkerOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  absl::Duration heartbeat_ = absl::Seconds(5);
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> jobs_finished_{0};
  std::vector<std::thread> slots_;

  absl::Mutex mu_;
  // Contexts of AcquireJob calls in flight, so Stop() can cut long polls short.
  std::vector<grpc::ClientContext*> polls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optbench::worker

#endif  // OPTBENCH_WORKER_WORKER_H_

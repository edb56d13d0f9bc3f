#include "storage/store.h"

#include <tuple>
#include <utility>

namespace optbench::storage {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kDiverged:
      return "diverged";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kDiverged || state == JobState::kCancelled;
}

namespace {

// The lifecycle fields of a JobRecord or a JobUpdate (they share the names), as references.
template <typename Job>
auto LifecycleFields(Job& job) {
  return std::tie(job.state, job.attempt, job.worker_id, job.lease_token, job.lease_expires_at,
                  job.progress_step, job.cancel_requested, job.error, job.started_at,
                  job.finished_at);
}

}  // namespace

JobUpdate JobUpdate::Of(const JobRecord& job) {
  JobUpdate update;
  LifecycleFields(update) = LifecycleFields(job);
  return update;
}

void JobUpdate::ApplyTo(JobRecord* job) const { LifecycleFields(*job) = LifecycleFields(*this); }

bool operator==(const JobUpdate& a, const JobUpdate& b) {
  return LifecycleFields(a) == LifecycleFields(b);
}

absl::StatusOr<std::vector<SweepRecord>> StoreReader::ListSweeps(int64_t limit) {
  SweepFilter filter;
  filter.limit = limit;
  absl::StatusOr<SweepPage> page = ListSweeps(filter);
  if (!page.ok()) return page.status();
  return std::move(page->sweeps);
}

absl::StatusOr<SweepRecord> Store::CreateSweep(const std::string& name, const std::string& source,
                                               const std::vector<NewJob>& jobs, absl::Time now) {
  return CreateSweep(name, source, SweepAnnotations(), jobs, now);
}

}  // namespace optbench::storage

#include "worker/engine/trainer_spec.h"

#include "absl/strings/str_cat.h"
#include "worker/engine/schedule.h"

namespace optbench::engine {
namespace {

constexpr double kMaxSteps = 1e9;

absl::Status AtMostSteps(const char* setting, int64_t value, int64_t steps) {
  if (value > steps) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.", setting, ": ", value,
                                                   " is out of range; allowed [0, ", steps, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

const spec::Binding<TrainerSpec>& TrainerSettings() {
  using O = TrainerSpec;
  static const auto* binding = new spec::Binding<O>({
      spec::Bind(&O::steps, "steps", spec::Closed(1, kMaxSteps), "optimizer steps"),
      spec::Bind(&O::batch_size, "batch_size", spec::Closed(0, 1e8),
                 "examples per mini-batch (seeded epochs); 0 = full batch"),
      spec::Bind(&O::chunk_rows, "chunk_rows", spec::Closed(1, 1e7),
                 "output rows per forward/backward chunk (bounds memory; never changes results "
                 "beyond rounding)"),
      spec::Bind(&O::eval_every, "eval_every", spec::Closed(1, kMaxSteps),
                 "evaluate every K steps (and at step 0 and the last step)"),
      spec::Bind(&O::eval_log_spaced, "eval_log_spaced",
                 "also evaluate at steps 1..5, 10, 20, 30, 40, 50, 100"),
      spec::Bind(&O::schedule, "schedule", ScheduleNames(),
                 "learning-rate schedule: constant, cosine (warmup, cosine to min_lr_ratio lr), "
                 "linear (warmup, linear to 0)"),
      spec::Bind(&O::warmup_steps, "warmup_steps", spec::Closed(0, kMaxSteps),
                 "linear warmup steps, at most steps"),
      spec::UsedWhen(spec::Bind(&O::min_lr_ratio, "min_lr_ratio", spec::Closed(0, 1),
                                "cosine floor as a fraction of lr"),
                     "schedule", "cosine"),
      spec::Bind(&O::checkpoint_every, "checkpoint_every", spec::Closed(0, kMaxSteps),
                 "checkpoint every K steps, at most steps; 0 = the worker's policy (every "
                 "--checkpoint_minutes of training)"),
  });
  return *binding;
}

absl::Status CheckTrainerSpec(const TrainerSpec& spec) {
  if (absl::Status s = AtMostSteps("warmup_steps", spec.warmup_steps, spec.steps); !s.ok()) {
    return s;
  }
  return AtMostSteps("checkpoint_every", spec.checkpoint_every, spec.steps);
}

}  // namespace optbench::engine

#include "worker/engine/trainer_spec.h"

#include "absl/strings/str_cat.h"
#include "worker/engine/schedule.h"

namespace optbench::engine {
namespace {

constexpr double kMaxSteps = 1e9;
constexpr double kMaxEpsilon = 1e6;
constexpr double kMaxAttackSteps = 1e5;

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
      spec::Bind(&O::adversarial, "adversarial", {kNoAdversarial, "fgsm", "pgd"},
                 "adversarial training: each step trains on the FGSM or PGD attack of its batch "
                 "(l_inf ball of adversarial_epsilon) instead of the clean batch; none = off"),
      spec::Bind(&O::adversarial_epsilon, "adversarial_epsilon", spec::Closed(0, kMaxEpsilon),
                 "l_inf radius of the training attack; > 0 with adversarial fgsm or pgd"),
      spec::UsedWhen(
          spec::Bind(&O::adversarial_steps, "adversarial_steps", spec::Closed(1, kMaxAttackSteps),
                     "PGD steps of the training attack"),
          "adversarial", "pgd"),
      spec::UsedWhen(spec::Bind(&O::adversarial_step_size, "adversarial_step_size",
                                spec::Closed(0, kMaxEpsilon),
                                "PGD step of the training attack; 0 = 2.5 adversarial_epsilon / "
                                "adversarial_steps"),
                     "adversarial", "pgd"),
      spec::Bind(&O::attack_epsilon, "attack_epsilon", spec::Closed(0, kMaxEpsilon),
                 "robustness evaluation: every evaluation also reports per-class accuracy under "
                 "FGSM and PGD at this l_inf radius (accuracy_fgsm, accuracy_pgd); 0 = off"),
      spec::Bind(&O::attack_pgd_steps, "attack_pgd_steps", spec::Closed(1, kMaxAttackSteps),
                 "PGD steps of the evaluation attack (random start, step 2.5 attack_epsilon / "
                 "steps); only with attack_epsilon > 0"),
      spec::Bind(&O::keep_model, "keep_model",
                 "keep the final model: a job that completes stores its parameters with the "
                 "coordinator (the source of later jobs, e.g. quantize); diverged and cancelled "
                 "jobs keep none"),
  });
  return *binding;
}

absl::Status CheckTrainerSpec(const TrainerSpec& spec) {
  if (absl::Status s = AtMostSteps("warmup_steps", spec.warmup_steps, spec.steps); !s.ok()) {
    return s;
  }
  if (absl::Status s = AtMostSteps("checkpoint_every", spec.checkpoint_every, spec.steps);
      !s.ok()) {
    return s;
  }
  const bool adversarial = spec.adversarial != kNoAdversarial;
  if (adversarial && spec.adversarial_epsilon <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.adversarial_epsilon: ", spec::FormatDouble(spec.adversarial_epsilon),
                     " is out of range; allowed > 0 with trainer.adversarial ", spec.adversarial));
  }
  if (!adversarial && spec.adversarial_epsilon != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.adversarial_epsilon: ", spec::FormatDouble(spec.adversarial_epsilon),
        " is set but trainer.adversarial is ", kNoAdversarial, "; set adversarial to fgsm or pgd"));
  }
  if (spec.attack_epsilon == 0 && spec.attack_pgd_steps != TrainerSpec().attack_pgd_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.attack_pgd_steps: ", spec.attack_pgd_steps,
                     " is set but trainer.attack_epsilon is 0 (robustness evaluation off)"));
  }
  return absl::OkStatus();
}

bool TrainerAttacks(const TrainerSpec& spec) {
  return spec.adversarial != kNoAdversarial || spec.attack_epsilon > 0;
}

}  // namespace optbench::engine

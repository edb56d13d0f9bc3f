// Learning-rate schedules: the step size of optimizer step t as a function of the base rate and
// the run length. Eigen-free.
#ifndef OPTBENCH_WORKER_ENGINE_SCHEDULE_H_
#define OPTBENCH_WORKER_ENGINE_SCHEDULE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "worker/engine/trainer_spec.h"

namespace optbench::engine {

// The names TrainerSpec::schedule accepts: "constant", "cosine", "linear".
const std::vector<std::string>& ScheduleNames();

// Step size of optimizer step t (1..T, T = trainer.steps) for base rate `base_lr` under
// trainer.schedule. With s = t - 1 (steps already taken), W = trainer.warmup_steps and
// r = trainer.min_lr_ratio:
//   warmup (every schedule, s < W):  base_lr (s + 1) / W  (linear, reaching base_lr at t = W);
//   then, with p = (s - W) / (T - W) in [0, 1):
//     constant: base_lr;
//     cosine:   base_lr (r + (1 - r) (1 + cos(pi p)) / 2)  (to the floor r base_lr at p = 1);
//     linear:   base_lr (1 - p)                            (to 0 at p = 1).
// This is optax's warmup_cosine_decay_schedule (kvfrans/matrix-whitening, ALGORITHMS.md 2.2)
// except that warmup starts at base_lr / W rather than 0, so no step is wasted; linear with W = 0
// is torch.optim.lr_scheduler.LinearLR(1, 0, T) (SignRound, ALGORITHMS.md 5.3). The result is
// > 0 for every t in 1..T when base_lr > 0 (short of underflow), even for T = 1e9.
// Preconditions (checked): trainer passed validation (TrainerSettings, CheckTrainerSpec);
// 1 <= t <= trainer.steps.
double ScheduledLearningRate(const TrainerSpec& trainer, double base_lr, int64_t t);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_SCHEDULE_H_

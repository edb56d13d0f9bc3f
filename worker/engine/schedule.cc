#include "worker/engine/schedule.h"

#include <cmath>

#include "common/check.h"

namespace optbench::engine {

const std::vector<std::string>& ScheduleNames() {
  static const std::vector<std::string>* names =
      new std::vector<std::string>{"constant", "cosine", "linear"};
  return *names;
}

double ScheduledLearningRate(const TrainerSpec& trainer, double base_lr, int64_t t) {
  OPTBENCH_CHECK(t >= 1 && t <= trainer.steps);
  OPTBENCH_CHECK(trainer.warmup_steps >= 0 && trainer.warmup_steps <= trainer.steps);
  const int64_t s = t - 1;
  const int64_t warmup = trainer.warmup_steps;
  if (s < warmup) {
    return base_lr * static_cast<double>(s + 1) / static_cast<double>(warmup);
  }
  // q = 1 - p = (T - s) / (T - W) is in (0, 1] and exact enough to stay positive: the cosine
  // factor (1 + cos(pi p)) / 2 is evaluated as sin^2(pi q / 2), which does not cancel to 0 at the
  // last step of a long run as 1 + cos(pi p) does once cos(pi p) rounds to -1.
  const double q =
      static_cast<double>(trainer.steps - s) / static_cast<double>(trainer.steps - warmup);
  if (trainer.schedule == "cosine") {
    const double r = trainer.min_lr_ratio;
    const double half_cosine = std::sin(M_PI * q / 2);
    return base_lr * (r + (1.0 - r) * half_cosine * half_cosine);
  }
  if (trainer.schedule == "linear") return base_lr * q;
  OPTBENCH_CHECK(trainer.schedule == "constant");
  return base_lr;
}

}  // namespace optbench::engine

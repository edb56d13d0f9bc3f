// The "convex_relu" task (paper 4; ALGORITHMS.md 4): train a one-hidden-layer ReLU network on a
// binary data set through its convex twin over sampled activation patterns, solved exactly by
// the augmented-Lagrangian + FISTA solver, or, with an `optimizer`, the quadratic-penalty form
// minimized by one of the service's optimizers and scored by its suboptimality gap to that
// form's exact optimum. At every evaluation the recovered ReLU network is evaluated per class,
// clean and under FGSM and PGD attack at the task's epsilon.
#ifndef OPTBENCH_WORKER_ENGINE_TASK_CONVEX_RELU_H_
#define OPTBENCH_WORKER_ENGINE_TASK_CONVEX_RELU_H_

#include <cstdint>
#include <string>
#include <vector>

#include "spec/options.h"
#include "worker/engine/convex/convex_relu.h"
#include "worker/engine/task/task.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {

// The `convex:` settings of a convex_relu job.
struct ConvexReluSettings {
  int64_t patterns = 500;     // P: gates sampled (duplicates removed).
  uint64_t pattern_seed = 0;  // Seed of the gates (the job seed drives attacks only).
  std::string loss = "robust_hinge";
  double epsilon = 0.03;     // l_inf radius: robust training (robust_hinge) and evaluation.
  double beta = 1e-3;        // Group-lasso weight.
  bool bias = true;          // Append the constant-1 feature.
  int64_t max_iters = 5000;  // Solver: FISTA iterations over all rounds.
  double tolerance = 1e-6;   // Solver: gradient mapping and constraint violation.
  double smoothing = 1e-3;   // Solver: Huber width of the hinge losses.
  int64_t steps = 1000;      // With an optimizer: its steps.
  double penalty = 100;      // With an optimizer: rho of the penalty form.
  int64_t eval_every = 100;  // Evaluate every K iterations or steps (and the first and last).
  int64_t attack_pgd_steps = 20;
};

const spec::Binding<ConvexReluSettings>& ConvexReluSettingsBinding();

inline namespace OPTBENCH_ENGINE_PRECISION {

const TaskDef& ConvexReluTaskDefinition();

// The problem a convex_relu job solves on `train` (features x, labels 0/1 -> y = -1/+1, the
// bias column when settings.bias, sampled patterns): exposed for tests and benchmarks.
ConvexReluProblem MakeConvexReluProblem(const ConvexReluSettings& settings, const Matrix& features,
                                        const std::vector<int32_t>& labels);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TASK_CONVEX_RELU_H_

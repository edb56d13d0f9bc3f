// Adversarial examples in the l_inf ball (paper 4's baselines and evaluation, ALGORITHMS.md
// 4.6): FGSM (Goodfellow et al. 2015) and PGD with a random start (Madry et al. 2018), driven by
// the training objective's gradient through Model::InputGradient; and the per-class robust
// accuracy of a split under both.
//
//   AttackOptions pgd;
//   pgd.method = AttackMethod::kPgd;
//   pgd.epsilon = 0.1;
//   Attacker attacker(pgd, model, objective);  // Model and objective not owned.
//   Rng rng(seed, RngStream::kAttack);
//   attacker.Perturb(x, labels.data(), &rng, x_adv);
#ifndef OPTBENCH_WORKER_ENGINE_ATTACK_H_
#define OPTBENCH_WORKER_ENGINE_ATTACK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/model/model.h"
#include "worker/engine/objective/objective.h"
#include "worker/engine/random.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {

enum class AttackMethod {
  // x_adv = x + epsilon sign(grad_x loss(x)): one step to a corner of the ball.
  kFgsm,
  // x^0 = x + Uniform(-epsilon, epsilon) per feature; K times
  // x^{k+1} = Proj_{||. - x||_inf <= epsilon}(x^k + a sign(grad_x loss(x^k))); x_adv = x^K.
  kPgd,
};

// "fgsm", "pgd".
const char* AttackMethodName(AttackMethod method);

struct AttackOptions {
  AttackMethod method = AttackMethod::kPgd;
  double epsilon = 0;    // l_inf radius, > 0.
  int64_t steps = 10;    // PGD: K >= 1 (FGSM: unused).
  double step_size = 0;  // PGD: a >= 0; 0 = 2.5 epsilon / K (Madry et al.; FGSM: unused).
  // Clip every attacked feature to [clip_min, clip_max] after each step (and after PGD's random
  // start), as for pixels in [0, 1]. Off by default: the engine's data sets are not all scaled to
  // a box (standardized features, Gaussian mixtures), and clipping to a box the data does not
  // live in would move clean points; the threat model is then the plain l_inf ball.
  bool clip = false;
  double clip_min = 0;
  double clip_max = 1;
};

// An evaluation attack (ALGORITHMS.md 4.6): `method` in the ball of `epsilon`; PGD with
// `pgd_steps` steps of 2.5 epsilon / K from a random start. No clipping.
AttackOptions EvaluationAttackOptions(AttackMethod method, double epsilon, int64_t pgd_steps);

// PGD's step: step_size, or 2.5 epsilon / steps when it is 0.
double PgdStepSize(const AttackOptions& options);

// InvalidArgument naming `prefix` + the field and its value ("trainer.adversarial_epsilon: -0.1
// is out of range; allowed > 0"): epsilon not finite or <= 0; PGD steps < 1; step_size not
// finite or < 0; with clip, clip_min > clip_max.
absl::Status CheckAttackOptions(const AttackOptions& options, const std::string& prefix = "");

// What an attack's random starts serve: the trainer's adversarial batches or its evaluation.
enum class AttackUse : int64_t { kTraining = 0, kEvaluation = 1 };

// The generator of the random starts drawn at optimizer step `step` (0..steps) of a run seeded
// `seed`, for `use`: a fresh Rng(RngStream::kAttack) per step and use, so that a run resumed
// from a checkpoint draws exactly what an uninterrupted one would, and the evaluation's attacks
// never shift the training's draws.
Rng AttackRng(uint64_t seed, int64_t step, AttackUse use);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Perturbs chunks of examples against a model at its current parameters. The loss is what
// `objective` differentiates (its Evaluate with grad_scale 1: for cross-entropy, the per-example
// softmax cross-entropy of the logits, as the trainer trains on); examples are attacked
// independently (a model's rows do not interact), so attacking a chunk attacks each example.
// Holds pointers to the model and objective (not owned; they must outlive it) and work buffers
// that grow to the largest chunk seen. Deterministic: the same parameters, inputs and Rng state
// give bit-identical perturbations. Not thread-safe.
class Attacker {
 public:
  // Preconditions (checked): CheckAttackOptions(options) is OK; the objective has one output row
  // per example; the model implements InputGradient (it declares kInputGradientCapability,
  // model_def.h) — Perturb aborts otherwise.
  Attacker(const AttackOptions& options, Model* model, Objective* objective);

  const AttackOptions& options() const { return options_; }

  // x_adv (r x num_inputs) = the attack on x (r x num_inputs) with `labels` (r, in [0,
  // num_outputs)): within epsilon of x in every feature (with clip, also within the box, which
  // wins for a clean feature outside it).
  // PGD draws r·num_inputs Uniform() values from `rng`, row by row (FGSM draws none; rng may
  // then be null). Runs the model's Forward and InputGradient: invalidates a pending Backward and
  // HeadInput; parameter gradients are untouched. x_adv must not alias x.
  void Perturb(const ConstMatrixRef& x, const int32_t* labels, Rng* rng, MatrixRef x_adv);

 private:
  // grad_ (top r rows) = the sign of the loss's gradient with respect to `point`.
  void SignGradient(const ConstMatrixRef& point, const int32_t* labels);
  // Projects `point` onto the ball around x (and the clip box).
  void Project(const ConstMatrixRef& x, MatrixRef point) const;

  AttackOptions options_;
  Model* model_;
  Objective* objective_;
  Matrix logits_, grad_;
};

// Per class k (num_classes entries each): the examples of class k in the split, and how many of
// them the model classifies correctly (argmax, lowest index on ties, as ClassStats::correct)
// clean, under FGSM and under PGD.
struct RobustnessCounts {
  std::vector<int64_t> count;
  std::vector<int64_t> clean;
  std::vector<int64_t> fgsm;
  std::vector<int64_t> pgd;
};

// Attacks every example of `split` (features n x num_inputs, labels in [0, num_classes)) with
// `fgsm` and `pgd` (their methods must be kFgsm and kPgd, their other preconditions those of
// Attacker) in chunks of at most chunk_rows examples, and counts the correct predictions.
// PGD's random starts come from `rng`, chunk after chunk. Runs forward passes: invalidates a
// pending Backward and HeadInput; parameter gradients are untouched. Precondition: chunk_rows >= 1.
RobustnessCounts EvaluateRobustness(const AttackOptions& fgsm, const AttackOptions& pgd,
                                    Model* model, Objective* objective, const DataSplit& split,
                                    int64_t num_classes, int64_t chunk_rows, Rng* rng);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_ATTACK_H_

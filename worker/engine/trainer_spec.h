// TrainerSpec: the settings of the training loop (the `trainer:` block of a sweep file), declared
// once here: each setting's type, default, range and doc, and how validated settings are read.
// Eigen-free.
#ifndef OPTBENCH_WORKER_ENGINE_TRAINER_SPEC_H_
#define OPTBENCH_WORKER_ENGINE_TRAINER_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "spec/options.h"

namespace optbench::engine {

struct TrainerSpec {
  int64_t steps = 100;        // Optimizer steps, >= 1.
  int64_t batch_size = 0;     // 0 = full batch (exact gradient over the whole train split).
  int64_t chunk_rows = 4096;  // Output rows per forward/backward chunk (bounds memory), >= 1.
  int64_t eval_every = 10;    // Evaluate every K steps (and at step 0 and the last step), >= 1.
  // Also evaluate at steps 1..5, 10, 20, 30, 40, 50, 100 (the paper-1 early schedule).
  bool eval_log_spaced = false;
  // Learning-rate schedule (schedule.h): "constant", "cosine" (linear warmup, then cosine decay to
  // min_lr_ratio * lr) or "linear" (linear warmup, then linear decay to 0).
  std::string schedule = "constant";
  int64_t warmup_steps = 0;   // Linear warmup steps, 0..steps.
  double min_lr_ratio = 0.0;  // Cosine floor as a fraction of lr, [0, 1]; only for "cosine".
  // Checkpoint every K steps, 0..steps; 0 = the worker's time-based policy (RunSink).
  int64_t checkpoint_every = 0;
  // Adversarial training (paper 4's baselines, ALGORITHMS.md 4.6; attack.h): "none", "fgsm" or
  // "pgd". Each step trains on the attacked batch (or train split) in place of the clean one.
  std::string adversarial = "none";
  double adversarial_epsilon = 0;    // l_inf radius; > 0 unless adversarial is "none".
  int64_t adversarial_steps = 10;    // PGD steps K, >= 1.
  double adversarial_step_size = 0;  // PGD step a, >= 0; 0 = 2.5 epsilon / K.
  // Robustness evaluation: > 0 = every evaluation also reports, per class and split, accuracy
  // under FGSM and PGD at this l_inf radius; 0 = off.
  double attack_epsilon = 0;
  int64_t attack_pgd_steps = 20;  // PGD steps of the evaluation attack (step 2.5 epsilon / K).
  // Keep the final model: a run that completes (neither diverged nor cancelled) hands its
  // parameters to RunSink::OnKeptModel (kept_model.h), and the coordinator stores them with the
  // job, for jobs that start from it (the quantize task's source). Off: models can be large.
  bool keep_model = false;
};

// The `adversarial` setting that turns adversarial training off.
inline constexpr char kNoAdversarial[] = "none";

// The declared settings and their reader.
const spec::Binding<TrainerSpec>& TrainerSettings();

// Rules across settings (InvalidArgument "trainer.<setting>: ..."): warmup_steps and
// checkpoint_every at most steps; adversarial_epsilon > 0 exactly when adversarial is not
// "none"; attack_pgd_steps left at its default when attack_epsilon is 0 (nothing would read it).
// Whether the model can be attacked is the train task's rule (it needs the model).
absl::Status CheckTrainerSpec(const TrainerSpec& spec);

// True when the settings attack the model (adversarial training or robustness evaluation):
// the model must implement Model::InputGradient.
bool TrainerAttacks(const TrainerSpec& spec);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TRAINER_SPEC_H_

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
};

// The declared settings and their reader.
const spec::Binding<TrainerSpec>& TrainerSettings();

// Rules across settings (InvalidArgument "trainer.<setting>: ..."): warmup_steps and
// checkpoint_every at most steps.
absl::Status CheckTrainerSpec(const TrainerSpec& spec);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TRAINER_SPEC_H_

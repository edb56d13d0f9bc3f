// JobSpec: the engine's description of one training job (dataset x model x optimizer x trainer
// settings x seed). Plain data; the worker translates the wire format into it.
#ifndef OPTBENCH_WORKER_ENGINE_JOB_SPEC_H_
#define OPTBENCH_WORKER_ENGINE_JOB_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>

#include "worker/engine/params.h"

namespace optbench::engine {

struct ComponentChoice {
  std::string name;
  ParamMap params;
};

// Trainer settings. Validated by ValidateJobSpec (ranges in catalog.cc).
struct TrainerSpec {
  int64_t steps = 100;        // Optimizer steps, >= 1.
  int64_t batch_size = 0;     // 0 = full batch (exact gradient over the whole train split).
  int64_t chunk_rows = 4096;  // Rows per forward/backward chunk (bounds memory), >= 1.
  int64_t eval_every = 10;    // Evaluate every K steps (and at step 0 and the last step), >= 1.
  // Also evaluate at steps 1..5, 10, 20, 30, 40, 50, 100 (the paper-1 early schedule).
  bool eval_log_spaced = false;
  // Learning-rate schedule (schedule.h): "constant", "cosine" (linear warmup, then cosine decay to
  // min_lr_ratio * lr) or "linear" (linear warmup, then linear decay to 0). "" = "constant".
  std::string schedule = "constant";
  int64_t warmup_steps = 0;   // Linear warmup steps, 0..steps.
  double min_lr_ratio = 0.0;  // Cosine floor as a fraction of lr, [0, 1]; only for "cosine".
  // Checkpoint every K steps, 0..steps; 0 = the worker's time-based policy (the engine only
  // carries it: the MetricSink decides, run_job.h).
  int64_t checkpoint_every = 0;
};

struct JobSpec {
  ComponentChoice dataset;
  ComponentChoice model;
  ComponentChoice optimizer;
  // Parameter groups (paper 2, ALGORITHMS.md 2.2): when set, `optimizer` trains only the hidden
  // matrices and this one everything else (embeddings, output head, biases), each with its own
  // "lr" (the trainer's schedule scales both). "paper2_adam" is paper 2's fixed auxiliary Adam.
  std::optional<ComponentChoice> aux_optimizer;
  TrainerSpec trainer;
  uint64_t seed = 0;
};

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_JOB_SPEC_H_

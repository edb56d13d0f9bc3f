// The "train" task: train a model with an optimizer on a data set for N steps, minimizing an
// objective, with per-class statistics at every evaluation (the engine's original job kind; the
// default task). Components: dataset, model, optimizer, aux_optimizer (paper 2's parameter
// groups), objective; settings: TrainerSpec (the `trainer:` block).
#ifndef OPTBENCH_WORKER_ENGINE_TASK_TRAIN_H_
#define OPTBENCH_WORKER_ENGINE_TASK_TRAIN_H_

#include <cstdint>
#include <optional>

#include "spec/job_spec.h"
#include "worker/engine/task/task.h"
#include "worker/engine/trainer_spec.h"

namespace optbench::engine {

// A train job in typed form. Round-trips with spec::JobSpec: From(*Validate(ToSpec())) gives the
// same job with defaults filled in.
struct TrainJob {
  spec::ComponentChoice dataset;
  spec::ComponentChoice model;
  spec::ComponentChoice optimizer;
  // Parameter groups (paper 2, ALGORITHMS.md 2.2): when set, `optimizer` trains only the hidden
  // matrices and this one everything else (embeddings, output head, biases), each with its own
  // "lr" (the trainer's schedule scales both). "paper2_adam" is paper 2's fixed auxiliary Adam.
  std::optional<spec::ComponentChoice> aux_optimizer;
  spec::ComponentChoice objective;  // Empty name = the default (cross_entropy).
  TrainerSpec trainer;
  uint64_t seed = 0;

  // The generic spec of this job: every trainer setting written out.
  spec::JobSpec ToSpec() const;
  // Precondition: `validated` is a validated spec of the train task.
  static TrainJob From(const spec::JobSpec& validated);
};

inline namespace OPTBENCH_ENGINE_PRECISION {

const TaskDef& TrainTaskDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TASK_TRAIN_H_

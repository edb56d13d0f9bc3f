// The "quantize" task (paper 5, SignRound; ALGORITHMS.md 5): post-training weight quantization
// of a model that another job trained and kept (trainer.keep_model). Blocks (Model::Blocks) are
// quantized one at a time, in order: each block's dense weights get a learnable rounding offset
// V and clipping scales alpha, beta (worker/engine/quant/quantizer.h), trained to reproduce the
// full-precision block's outputs on calibration samples from the train split (block-wise MSE,
// inputs from the already-quantized blocks by default) by
//   - sign_sgd: signed gradient descent with linear decay and keep-best (the paper's method),
//   - rtn: no training (round to nearest, V = 0, alpha = beta = 1),
//   - optimizer: the job's `optimizer` component (any of the catalog), same decay and keep-best:
// which optimizer finds the best rounding in T steps. Reports per step the block's
// reconstruction MSE; at the end, per block the MSE against RTN's and the share of integers
// changed, and per class and split the quantized and the full-precision model's loss and
// accuracy and their agreement. The job keeps its quantized model in the export format
// (quant/quantized_export.h).
//
// Progress: unit u (the u-th quantized block) covers steps u·S + 1 .. (u + 1)·S, S = iters (1
// for rtn); total steps = units · S. A checkpoint after each unit holds the rounding of every
// finished unit, so a resumed job redoes at most one unit, identically (each unit draws its
// batches from its own generator).
#ifndef OPTBENCH_WORKER_ENGINE_TASK_QUANTIZE_H_
#define OPTBENCH_WORKER_ENGINE_TASK_QUANTIZE_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spec/job_spec.h"
#include "spec/options.h"
#include "worker/engine/task/task.h"

namespace optbench::engine {

// The `quantize:` settings of a quantize job.
struct QuantizeSettings {
  std::string source;        // The source job (a filter before submission resolves it).
  uint64_t source_seed = 0;  // The source job's seed (rebuilds its model, frozen tensors too).
  int64_t bits = 4;          // 2, 3, 4 or 8.
  int64_t group_size = 32;   // Inputs per group of a row; -1 = the whole row.
  bool symmetric = false;
  std::string method = "sign_sgd";  // sign_sgd, rtn or optimizer.
  int64_t iters = 200;              // T: steps per block.
  double lr = 0;                    // sign_sgd's step size; 0 = 1/T.
  bool keep_best = true;
  int64_t samples = 128;  // Calibration examples from the train split.
  int64_t batch_size = 8;
  bool quantized_input = true;  // Block inputs from the quantized blocks before it.
  bool quantize_head = false;   // Also the output layer (auto-round leaves it, as by default).
  int64_t eval_every = 10;      // Report the MSE every K steps of a block (and its first, last).
};

inline constexpr char kQuantizeSignSgd[] = "sign_sgd";
inline constexpr char kQuantizeRtn[] = "rtn";
inline constexpr char kQuantizeOptimizer[] = "optimizer";

const spec::Binding<QuantizeSettings>& QuantizeSettingsBinding();

// The full-precision model's twin of an objective metric a quantize job reports for the
// quantized model ("loss" -> "fp_loss"): the one place the prefix is written.
inline std::string FullPrecisionMetricName(absl::string_view name) {
  return absl::StrCat("fp_", name);
}

inline namespace OPTBENCH_ENGINE_PRECISION {

const TaskDef& QuantizeTaskDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TASK_QUANTIZE_H_

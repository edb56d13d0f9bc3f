// Central finite-difference gradient checks against the float64 engine: one checker for every
// model and objective test, each test keeping its own step and tolerances (ggml-style per-op
// checks).
//
// For a model trained on mean softmax cross-entropy (the usual case):
//
//   constexpr GradientTolerance kMlpTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};
//   MlpModel model(options, /*seed=*/3);
//   const GradientCheckResult r = CheckModelGradient(&model, x, labels, kMlpTolerance);
//   EXPECT_EQ(r.entries_checked, expected_number_of_parameters);
//
// For any scalar function of some tensors, given its analytic gradient at the current values:
//
//   Matrix w = ..., dw = ...;  // dw = df/dw at w.
//   CheckGradient({{"w", &w, &dw}}, [&] { return f(w); }, kTolerance);
//
// and for the gradient with respect to an input (d loss / d logits), CheckInputGradient; for a
// model's gradient with respect to its input x (Model::InputGradient), CheckModelInputGradient.
//
// Every entry that is off is reported as a non-fatal gtest failure (ADD_FAILURE) naming the
// tensor and the index, e.g. "block0.attn.q.weight[17] (row 2, col 1): analytic 0.123 vs numeric
// 0.125"; the returned GradientCheckResult lets a test assert more (how many entries were checked,
// that the gradient was not vacuously small). Not thread-safe: the tensors are perturbed in place
// (and restored bit-exactly) while the objective runs.
#ifndef OPTBENCH_TESTS_TESTING_GRADIENT_CHECK_H_
#define OPTBENCH_TESTS_TESTING_GRADIENT_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "worker/engine/model/model.h"
#include "worker/engine/tensor.h"

namespace optbench::testing {

// Differences of order h^2 are meaningless in float32; link optbench_engine_f64.
static_assert(sizeof(engine::Real) == 8, "gradient checks run against the float64 engine");

// How an entry is checked. With numeric = (f(w + h e_i) - f(w - h e_i)) / 2h, entry i passes when
//   |analytic_i - numeric| <= abs_tol + rel_tol * |numeric|.
// The error of a correct gradient is about h^2 |f'''| / 6 (truncation) plus eps |f| / h
// (rounding, eps = 2.2e-16): h = 1e-5 or 1e-6 balances the two in float64 for f of order 1.
struct GradientTolerance {
  double step;     // h; > 0.
  double abs_tol;  // >= 0.
  double rel_tol;  // >= 0.
};

// Which entries of each tensor are probed. By default (max_per_tensor = 0) all of them. With
// max_per_tensor = k > 0, a tensor of at most k entries is probed entirely and a larger one at k
// distinct entries drawn uniformly by engine::Rng(seed), one generator for the whole call advanced
// tensor after tensor in order: the same call probes the same entries on every run.
struct EntrySubset {
  int64_t max_per_tensor = 0;
  uint64_t seed = 0;
};

// A tensor to perturb and the analytic gradient to compare with. Neither is owned; both must
// outlive the check. The analytic gradient has value's shape and is read once, before anything
// is perturbed, so the objective may overwrite it.
struct GradientSlot {
  std::string name;  // Names the tensor in failure messages.
  engine::Matrix* value = nullptr;
  const engine::Matrix* analytic = nullptr;
};

// What one tensor's check found, over the entries probed.
struct SlotCheck {
  std::string name;
  int64_t entries_checked = 0;
  int64_t failures = 0;        // Entries outside the tolerance.
  double max_abs_error = 0;    // max |analytic - numeric|.
  double max_rel_error = 0;    // max |analytic - numeric| / max(|analytic|, |numeric|).
  double max_abs_numeric = 0;  // max |numeric|: a check of a vanishing gradient proves little.
};

// The whole check: one SlotCheck per slot, in order, and their totals (maxima over all slots).
struct GradientCheckResult {
  std::vector<SlotCheck> slots;
  int64_t entries_checked = 0;
  int64_t failures = 0;
  double max_abs_error = 0;
  double max_rel_error = 0;
  double max_abs_numeric = 0;

  bool ok() const { return failures == 0; }
};

// Compares each slot's analytic gradient with central differences of `objective` (which returns
// the scalar function at the current values of the slots' tensors) on the entries `subset`
// selects. Adds one non-fatal gtest failure per slot with entries off, listing the first ten (the
// count says how many more), and one per slot whose analytic gradient's shape differs from its
// value's (that slot is not probed and counts as one failure). Every value is restored bit-exactly
// before the next entry is probed and before returning. Cost: 2 objective calls per entry probed.
// Preconditions (aborts otherwise): value and analytic are non-null; tolerance.step > 0.
GradientCheckResult CheckGradient(absl::Span<const GradientSlot> slots,
                                  absl::FunctionRef<double()> objective,
                                  const GradientTolerance& tolerance,
                                  const EntrySubset& subset = {});

// The same for the gradient of `objective` with respect to one input matrix (e.g. d loss / d
// logits for a loss function): `input` is perturbed, `analytic` (input's shape) compared.
GradientCheckResult CheckInputGradient(const std::string& name, engine::Matrix* input,
                                       const engine::Matrix& analytic,
                                       absl::FunctionRef<double()> objective,
                                       const GradientTolerance& tolerance,
                                       const EntrySubset& subset = {});

// The slots of a model's (or an optimizer test's) parameters: id, value and gradient.
std::vector<GradientSlot> GradientSlotsOf(absl::Span<const engine::ParamSlot> params);

// Mean softmax cross-entropy of `model` on the examples `x` (rows, model->num_inputs() columns)
// with `labels` (one per row, in [0, model->num_outputs())): the objective model tests check.
double MeanCrossEntropy(engine::Model* model, const engine::Matrix& x,
                        absl::Span<const int32_t> labels);

// Zeroes the model's gradients and sets them to d MeanCrossEntropy / d parameters, by one
// Forward and Backward over all of x.
void MeanCrossEntropyGradient(engine::Model* model, const engine::Matrix& x,
                              absl::Span<const int32_t> labels);

// MeanCrossEntropyGradient, then CheckGradient of every tensor of model->Params() against
// MeanCrossEntropy. On return the model's gradients still hold the analytic gradient that was
// checked (the objective only runs Forward). Precondition: labels.size() == x.rows() (aborts).
GradientCheckResult CheckModelGradient(engine::Model* model, const engine::Matrix& x,
                                       absl::Span<const int32_t> labels,
                                       const GradientTolerance& tolerance,
                                       const EntrySubset& subset = {});

// The gradient of MeanCrossEntropy with respect to x by Model::InputGradient (after one
// Forward) against central differences in every entry of x. Also checks that InputGradient
// leaves the parameters' gradients at zero and the Forward pending: a Backward after it gives
// MeanCrossEntropyGradient's gradients exactly. A model without an input gradient is one
// failure. Precondition: labels.size() == x.rows() (aborts).
GradientCheckResult CheckModelInputGradient(engine::Model* model, const engine::Matrix& x,
                                            absl::Span<const int32_t> labels,
                                            const GradientTolerance& tolerance);

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_TESTING_GRADIENT_CHECK_H_

#include "tests/testing/gradient_check.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <set>
#include <sstream>

#include "common/check.h"
#include "gtest/gtest.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/random.h"

namespace optbench::testing {
namespace {

using engine::Matrix;

// A failing slot's message lists this many entries; more would bury the first ones.
constexpr int64_t kListedFailures = 10;

// The flat (row-major) indices of a tensor of `size` entries to probe, ascending.
std::vector<Eigen::Index> EntriesToProbe(Eigen::Index size, const EntrySubset& subset,
                                         engine::Rng* rng) {
  if (subset.max_per_tensor <= 0 || size <= subset.max_per_tensor) {
    std::vector<Eigen::Index> all(static_cast<size_t>(size));
    std::iota(all.begin(), all.end(), Eigen::Index{0});
    return all;
  }
  std::set<Eigen::Index> drawn;
  while (static_cast<int64_t>(drawn.size()) < subset.max_per_tensor) {
    drawn.insert(static_cast<Eigen::Index>(rng->UniformInt(static_cast<uint64_t>(size))));
  }
  return {drawn.begin(), drawn.end()};
}

SlotCheck CheckSlot(const GradientSlot& slot, const Matrix& analytic,
                    absl::FunctionRef<double()> objective, const GradientTolerance& tolerance,
                    const std::vector<Eigen::Index>& entries) {
  SlotCheck check;
  check.name = slot.name;
  std::ostringstream listed;
  listed.precision(12);
  for (const Eigen::Index i : entries) {
    double& entry = slot.value->data()[i];
    const double saved = entry;
    entry = saved + tolerance.step;
    const double plus = objective();
    entry = saved - tolerance.step;
    const double minus = objective();
    entry = saved;
    const double numeric = (plus - minus) / (2 * tolerance.step);
    const double a = analytic.data()[i];
    const double error = std::fabs(a - numeric);
    const double allowed = tolerance.abs_tol + tolerance.rel_tol * std::fabs(numeric);
    const double scale = std::max(std::fabs(a), std::fabs(numeric));
    ++check.entries_checked;
    check.max_abs_error = std::max(check.max_abs_error, error);
    if (scale > 0) check.max_rel_error = std::max(check.max_rel_error, error / scale);
    check.max_abs_numeric = std::max(check.max_abs_numeric, std::fabs(numeric));
    if (error <= allowed) continue;  // Written so that a NaN on either side fails.
    if (check.failures++ < kListedFailures) {
      const Eigen::Index cols = slot.value->cols();
      listed << "\n  " << slot.name << "[" << i << "] (row " << i / cols << ", col " << i % cols
             << "): analytic " << a << " vs numeric " << numeric << ", |difference| "
             << std::setprecision(3) << error << " > " << allowed << std::setprecision(12);
    }
  }
  if (check.failures > 0) {
    std::ostringstream header;
    header.precision(3);
    header << "gradient check: " << check.failures << " of " << check.entries_checked
           << " entries of " << slot.name << " (" << slot.value->rows() << " x "
           << slot.value->cols() << ") differ from central differences (h " << tolerance.step
           << ", allowed |analytic - numeric| <= " << tolerance.abs_tol << " + "
           << tolerance.rel_tol << " |numeric|):";
    if (check.failures > kListedFailures) {
      listed << "\n  ... and " << check.failures - kListedFailures << " more";
    }
    ADD_FAILURE() << header.str() << listed.str();
  }
  return check;
}

}  // namespace

GradientCheckResult CheckGradient(absl::Span<const GradientSlot> slots,
                                  absl::FunctionRef<double()> objective,
                                  const GradientTolerance& tolerance, const EntrySubset& subset) {
  OPTBENCH_CHECK(tolerance.step > 0);
  // Snapshots first: the objective may write gradient buffers (e.g. run Backward).
  std::vector<Matrix> analytic;
  analytic.reserve(slots.size());
  for (const GradientSlot& slot : slots) {
    OPTBENCH_CHECK(slot.value != nullptr && slot.analytic != nullptr);
    analytic.push_back(*slot.analytic);
  }
  engine::Rng rng(subset.seed);
  GradientCheckResult result;
  for (size_t s = 0; s < slots.size(); ++s) {
    const GradientSlot& slot = slots[s];
    SlotCheck check;
    if (analytic[s].rows() != slot.value->rows() || analytic[s].cols() != slot.value->cols()) {
      ADD_FAILURE() << "gradient check: the analytic gradient of " << slot.name << " is "
                    << analytic[s].rows() << " x " << analytic[s].cols() << ", its value "
                    << slot.value->rows() << " x " << slot.value->cols();
      check.name = slot.name;
      check.failures = 1;
    } else {
      check = CheckSlot(slot, analytic[s], objective, tolerance,
                        EntriesToProbe(slot.value->size(), subset, &rng));
    }
    result.entries_checked += check.entries_checked;
    result.failures += check.failures;
    result.max_abs_error = std::max(result.max_abs_error, check.max_abs_error);
    result.max_rel_error = std::max(result.max_rel_error, check.max_rel_error);
    result.max_abs_numeric = std::max(result.max_abs_numeric, check.max_abs_numeric);
    result.slots.push_back(std::move(check));
  }
  return result;
}

GradientCheckResult CheckInputGradient(const std::string& name, Matrix* input,
                                       const Matrix& analytic,
                                       absl::FunctionRef<double()> objective,
                                       const GradientTolerance& tolerance,
                                       const EntrySubset& subset) {
  return CheckGradient({GradientSlot{name, input, &analytic}}, objective, tolerance, subset);
}

std::vector<GradientSlot> GradientSlotsOf(absl::Span<const engine::ParamSlot> params) {
  std::vector<GradientSlot> slots;
  for (const engine::ParamSlot& p : params) slots.push_back({p.id, p.value, p.grad});
  return slots;
}

double MeanCrossEntropy(engine::Model* model, const Matrix& x, absl::Span<const int32_t> labels) {
  OPTBENCH_CHECK(static_cast<Eigen::Index>(labels.size()) == x.rows());
  Matrix logits(x.rows(), model->num_outputs());
  model->Forward(x, logits);
  return engine::SoftmaxCrossEntropy(logits, labels.data(), 0.0, nullptr) /
         static_cast<double>(x.rows());
}

void MeanCrossEntropyGradient(engine::Model* model, const Matrix& x,
                              absl::Span<const int32_t> labels) {
  OPTBENCH_CHECK(static_cast<Eigen::Index>(labels.size()) == x.rows());
  model->ZeroGrad();
  Matrix logits(x.rows(), model->num_outputs());
  model->Forward(x, logits);
  engine::SoftmaxCrossEntropy(logits, labels.data(), 1.0 / static_cast<double>(x.rows()), nullptr);
  model->Backward(logits);
}

GradientCheckResult CheckModelGradient(engine::Model* model, const Matrix& x,
                                       absl::Span<const int32_t> labels,
                                       const GradientTolerance& tolerance,
                                       const EntrySubset& subset) {
  MeanCrossEntropyGradient(model, x, labels);
  return CheckGradient(
      GradientSlotsOf(model->Params()), [&] { return MeanCrossEntropy(model, x, labels); },
      tolerance, subset);
}

GradientCheckResult CheckModelInputGradient(engine::Model* model, const Matrix& x,
                                            absl::Span<const int32_t> labels,
                                            const GradientTolerance& tolerance) {
  OPTBENCH_CHECK(static_cast<Eigen::Index>(labels.size()) == x.rows());
  const double n = static_cast<double>(x.rows());
  model->ZeroGrad();
  Matrix logits(x.rows(), model->num_outputs());
  model->Forward(x, logits);
  engine::SoftmaxCrossEntropy(logits, labels.data(), 1.0 / n, nullptr);
  Matrix dx(x.rows(), x.cols());
  if (!model->InputGradient(logits, dx)) {
    ADD_FAILURE() << "the model has no input gradient";
    GradientCheckResult failed;
    failed.failures = 1;
    return failed;
  }
  for (const engine::ParamSlot& p : model->Params()) {
    EXPECT_TRUE(p.grad->isZero(0)) << p.id << ": InputGradient wrote a parameter gradient";
  }
  // The Forward is still pending: Backward gives the parameter gradient of the loss.
  model->Backward(logits);
  std::vector<Matrix> after_input_gradient;
  for (const engine::ParamSlot& p : model->Params()) after_input_gradient.push_back(*p.grad);
  MeanCrossEntropyGradient(model, x, labels);
  const std::vector<engine::ParamSlot> params = model->Params();
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_EQ(after_input_gradient[k], *params[k].grad)
        << params[k].id << ": Backward after InputGradient differs";
  }
  Matrix probe = x;
  return CheckInputGradient(
      "x", &probe, dx, [&] { return MeanCrossEntropy(model, probe, labels); }, tolerance);
}

}  // namespace optbench::testing

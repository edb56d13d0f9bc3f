#include "worker/engine/attack.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "spec/params.h"

namespace optbench::engine {

const char* AttackMethodName(AttackMethod method) {
  return method == AttackMethod::kFgsm ? "fgsm" : "pgd";
}

AttackOptions EvaluationAttackOptions(AttackMethod method, double epsilon, int64_t pgd_steps) {
  AttackOptions o;
  o.method = method;
  o.epsilon = epsilon;
  o.steps = pgd_steps;
  return o;
}

double PgdStepSize(const AttackOptions& options) {
  if (options.step_size > 0) return options.step_size;
  return 2.5 * options.epsilon / static_cast<double>(options.steps);
}

absl::Status CheckAttackOptions(const AttackOptions& options, const std::string& prefix) {
  auto bad = [&](const char* field, const std::string& value, const char* allowed) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, field, ": ", value, " is out of range; allowed ", allowed));
  };
  if (!std::isfinite(options.epsilon) || options.epsilon <= 0) {
    return bad("epsilon", spec::FormatDouble(options.epsilon), "> 0");
  }
  if (options.method == AttackMethod::kPgd) {
    if (options.steps < 1) return bad("steps", absl::StrCat(options.steps), ">= 1");
    if (!std::isfinite(options.step_size) || options.step_size < 0) {
      return bad("step_size", spec::FormatDouble(options.step_size),
                 ">= 0 (0 = 2.5 epsilon / steps)");
    }
  }
  if (options.clip && !(options.clip_min <= options.clip_max)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "clip_min: ", spec::FormatDouble(options.clip_min),
                     " exceeds clip_max ", spec::FormatDouble(options.clip_max)));
  }
  return absl::OkStatus();
}

Rng AttackRng(uint64_t seed, int64_t step, AttackUse use) {
  // Rng mixes its seed through SplitMix64, so consecutive values give unrelated streams; the
  // odd multiplier keeps (seed, step, use) triples of different jobs apart.
  const uint64_t key =
      seed * 0x9e3779b97f4a7c15ULL + 2 * static_cast<uint64_t>(step) + static_cast<uint64_t>(use);
  return Rng(key, RngStream::kAttack);
}

inline namespace OPTBENCH_ENGINE_PRECISION {

Attacker::Attacker(const AttackOptions& options, Model* model, Objective* objective)
    : options_(options), model_(model), objective_(objective) {
  OPTBENCH_CHECK(CheckAttackOptions(options).ok());
  OPTBENCH_CHECK(objective->outputs_per_example() == 1);
}

void Attacker::SignGradient(const ConstMatrixRef& point, const int32_t* labels) {
  const Eigen::Index r = point.rows();
  if (logits_.rows() < r) {
    logits_.resize(r, model_->num_outputs());
    grad_.resize(r, model_->num_inputs());
  }
  auto logits = logits_.topRows(r);
  auto grad = grad_.topRows(r);
  model_->Forward(point, logits);
  // Only the sign is used, so the scale of the loss (sum or mean) does not matter.
  objective_->Evaluate(point, labels, logits, Real{1}, nullptr, nullptr);
  OPTBENCH_CHECK(model_->InputGradient(logits, grad));
  // sign(0) = 0: a feature the loss does not depend on is left where it is.
  grad = grad.cwiseSign();
}

void Attacker::Project(const ConstMatrixRef& x, MatrixRef point) const {
  const Real eps = static_cast<Real>(options_.epsilon);
  // min/max against the ball's faces rather than x + clamp(point - x): the result is then one
  // of point, x - eps and x + eps, never a rounded sum drifting outside.
  point = point.cwiseMax((x.array() - eps).matrix()).cwiseMin((x.array() + eps).matrix());
  if (options_.clip) {
    point = point.cwiseMax(static_cast<Real>(options_.clip_min))
                .cwiseMin(static_cast<Real>(options_.clip_max));
  }
}

void Attacker::Perturb(const ConstMatrixRef& x, const int32_t* labels, Rng* rng, MatrixRef x_adv) {
  OPTBENCH_CHECK(x.cols() == model_->num_inputs() && x_adv.rows() == x.rows() &&
                 x_adv.cols() == x.cols());
  const Eigen::Index r = x.rows();
  const Real eps = static_cast<Real>(options_.epsilon);
  if (options_.method == AttackMethod::kFgsm) {
    SignGradient(x, labels);
    x_adv = x + eps * grad_.topRows(r);
    Project(x, x_adv);
    return;
  }
  OPTBENCH_CHECK(rng != nullptr);
  // The random start (Madry et al.): without it PGD from a point where the gradient vanishes
  // (a zero-initialized model) never moves.
  for (Eigen::Index i = 0; i < r; ++i) {
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      x_adv(i, j) = x(i, j) + static_cast<Real>((2 * rng->Uniform() - 1) * options_.epsilon);
    }
  }
  Project(x, x_adv);
  const Real step = static_cast<Real>(PgdStepSize(options_));
  for (int64_t k = 0; k < options_.steps; ++k) {
    SignGradient(x_adv, labels);
    x_adv += step * grad_.topRows(r);
    Project(x, x_adv);
  }
}

RobustnessCounts EvaluateRobustness(const AttackOptions& fgsm, const AttackOptions& pgd,
                                    Model* model, Objective* objective, const DataSplit& split,
                                    int64_t num_classes, int64_t chunk_rows, Rng* rng) {
  OPTBENCH_CHECK(fgsm.method == AttackMethod::kFgsm && pgd.method == AttackMethod::kPgd &&
                 chunk_rows >= 1);
  Attacker fgsm_attacker(fgsm, model, objective);
  Attacker pgd_attacker(pgd, model, objective);
  // Correctness is the objective's own count (ClassStats::correct), so that the clean count is
  // exactly the `correct` an evaluation pass reports.
  ClassStats clean, under_fgsm, under_pgd;
  clean.Reset(num_classes);
  under_fgsm.Reset(num_classes);
  under_pgd.Reset(num_classes);
  const int64_t n = split.size();
  const int64_t chunk = std::max<int64_t>(1, std::min(chunk_rows, n));
  Matrix logits(chunk, model->num_outputs());
  Matrix adversarial(chunk, model->num_inputs());
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t rows = std::min(chunk, n - start);
    const auto x = split.features.middleRows(start, rows);
    const int32_t* labels = split.labels.data() + start;
    auto out = logits.topRows(rows);
    auto adv = adversarial.topRows(rows);
    model->Forward(x, out);
    objective->Evaluate(x, labels, out, Real{0}, &clean, nullptr);
    fgsm_attacker.Perturb(x, labels, nullptr, adv);
    model->Forward(adv, out);
    objective->Evaluate(adv, labels, out, Real{0}, &under_fgsm, nullptr);
    pgd_attacker.Perturb(x, labels, rng, adv);
    model->Forward(adv, out);
    objective->Evaluate(adv, labels, out, Real{0}, &under_pgd, nullptr);
  }
  RobustnessCounts counts;
  counts.count = std::move(clean.count);
  counts.clean = std::move(clean.correct);
  counts.fgsm = std::move(under_fgsm.correct);
  counts.pgd = std::move(under_pgd.correct);
  return counts;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#include "worker/engine/task/convex_relu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spec/catalog.h"
#include "worker/engine/attack.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/observer/robustness.h"

namespace optbench::engine {
namespace {

// The task's component slots.
constexpr char kDataset[] = "dataset";
constexpr char kOptimizer[] = "optimizer";

constexpr double kMaxIterations = 1e9;

// The losses by their settings name.
const std::vector<std::pair<std::string, ConvexLoss>>& Losses() {
  static const auto* losses = new std::vector<std::pair<std::string, ConvexLoss>>{
      {ConvexLossName(ConvexLoss::kSquared), ConvexLoss::kSquared},
      {ConvexLossName(ConvexLoss::kLogistic), ConvexLoss::kLogistic},
      {ConvexLossName(ConvexLoss::kHinge), ConvexLoss::kHinge},
      {ConvexLossName(ConvexLoss::kRobustHinge), ConvexLoss::kRobustHinge},
  };
  return *losses;
}

ConvexLoss LossOf(const ConvexReluSettings& s) {
  for (const auto& [name, loss] : Losses()) {
    if (name == s.loss) return loss;
  }
  return ConvexLoss::kSquared;  // Unreachable for validated settings.
}

std::vector<std::string> LossNames() {
  std::vector<std::string> names;
  for (const auto& entry : Losses()) names.push_back(entry.first);
  return names;
}

}  // namespace

const spec::Binding<ConvexReluSettings>& ConvexReluSettingsBinding() {
  using O = ConvexReluSettings;
  static const auto* binding = new spec::Binding<O>({
      spec::Bind(&O::patterns, "patterns", spec::Closed(1, 100000),
                 "P: activation patterns sampled from Gaussian gates (duplicates removed; memory "
                 "and time grow as n P)"),
      spec::Bind(&O::pattern_seed, "pattern_seed", spec::Closed(0, 9.0e15),
                 "seed of the gates (the job seed drives the attacks' random starts only)"),
      spec::Bind(&O::loss, "loss_function", LossNames(),
                 "squared, logistic, hinge (labels -1/+1) or robust_hinge (the l_inf-robust hinge "
                 "of ALGORITHMS.md 4.4 at epsilon)"),
      spec::Bind(&O::epsilon, "epsilon", spec::Closed(0, 10),
                 "l_inf radius: robust_hinge trains against it; every loss is evaluated under "
                 "FGSM and PGD at it (0 = no attacks)"),
      spec::Bind(&O::beta, "beta", spec::Closed(1e-12, 1e6),
                 "group-lasso weight (the network's weight decay beta/2 (|u|^2 + alpha^2))"),
      spec::Bind(&O::bias, "bias",
                 "append a constant-1 feature (the neurons' bias; never attacked)"),
      spec::Bind(&O::max_iters, "max_iters", spec::Closed(1, kMaxIterations),
                 "exact solver: FISTA iterations over all augmented-Lagrangian rounds"),
      spec::Bind(&O::tolerance, "tolerance", spec::Closed(1e-14, 1),
                 "exact solver: stop when the gradient mapping and the constraint violation are "
                 "within it"),
      spec::Bind(&O::smoothing, "smoothing", spec::Closed(1e-12, 1),
                 "exact solver, hinge losses: Huber width of the hinge and of the robust l1 norm "
                 "(objective within smoothing/2 of the hinge's)"),
      spec::Bind(&O::steps, "steps", spec::Closed(1, kMaxIterations),
                 "with an optimizer: its steps on the penalty form"),
      spec::Bind(&O::penalty, "penalty", spec::Closed(1e-6, 1e12),
                 "with an optimizer: rho of the penalty form (rho/2n) sum ||(-C)_+||^2 of the cone "
                 "constraints"),
      spec::Bind(&O::eval_every, "eval_every", spec::Closed(1, kMaxIterations),
                 "evaluate every K iterations or steps (and at the first and the last)"),
      spec::Bind(&O::attack_pgd_steps, "attack_pgd_steps", spec::Closed(1, 10000),
                 "PGD steps of the evaluation attack (step 2.5 epsilon / K, random start)"),
  });
  return *binding;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

ConvexReluSettings SettingsOf(const spec::JobSpec& spec) {
  return ConvexReluSettingsBinding().Read(spec.settings);
}

bool HasOptimizer(const spec::JobSpec& spec) { return spec.find_component(kOptimizer) != nullptr; }

absl::Status NotBinary(const std::string& dataset, int64_t classes) {
  return absl::InvalidArgumentError(
      absl::StrCat("dataset: convex_relu trains a binary classifier; data set '", dataset, "' has ",
                   classes, " classes (labels must be 0 and 1)"));
}

absl::Status CheckConvexReluJob(const spec::JobSpec& spec, const spec::Catalog& catalog) {
  const ConvexReluSettings s = SettingsOf(spec);
  const spec::ComponentChoice& dataset = spec.component(kDataset);
  OPTBENCH_ASSIGN_OR_RETURN(const spec::ComponentSpec* data,
                            catalog.Find(spec::ComponentKind::kDataset, dataset.name));
  if (data->traits) {
    const spec::DataTraits traits = data->traits(dataset.params);
    if (traits.num_classes.has_value() && *traits.num_classes != 2) {
      return NotBinary(dataset.name, *traits.num_classes);
    }
  }
  if (HasOptimizer(spec) && !IsSmooth(LossOf(s))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "convex.loss_function: '", s.loss,
        "' is not smooth; an optimizer job minimizes the penalty form of the squared or the "
        "logistic loss (the hinge losses are solved by the exact solver only)"));
  }
  return absl::OkStatus();
}

// The scalar metrics of the program, reported for the train split.
constexpr char kObjective[] = "convex_objective";
constexpr char kConvexLoss[] = "convex_loss";
constexpr char kViolation[] = "constraint_violation";
constexpr char kActiveGroups[] = "active_groups";
constexpr char kPatterns[] = "patterns";
constexpr char kRecoveryError[] = "recovery_error";
constexpr char kPenalized[] = "penalized_objective";
constexpr char kOptimum[] = "optimum";
constexpr char kSuboptimality[] = "suboptimality";

std::vector<spec::MetricSpec> SolverMetrics() {
  using spec::MetricSplits;
  using spec::ScalarMetric;
  return {
      ScalarMetric(kObjective, MetricSplits::kTrain,
                   "convex program: mean loss + beta sum ||v_i|| + ||w_i|| (unsmoothed)"),
      ScalarMetric(kConvexLoss, MetricSplits::kTrain, "convex program: the mean loss term"),
      ScalarMetric(kViolation, MetricSplits::kTrain,
                   "convex program: sum over groups of ||(-C_i)_+||_2, the cone constraints' "
                   "violation (0 = every pattern holds)"),
      ScalarMetric(kActiveGroups, MetricSplits::kTrain,
                   "convex program: nonzero v_i and w_i, the recovered network's neurons"),
      ScalarMetric(kPatterns, MetricSplits::kTrain, "distinct activation patterns sampled"),
      ScalarMetric(kRecoveryError, MetricSplits::kTrain,
                   "max over the train set of |f(x) - yhat|, recovered network against the "
                   "convex model (0 when the constraints hold)"),
  };
}

std::vector<spec::MetricSpec> OptimizerMetrics() {
  using spec::MetricSplits;
  using spec::ScalarMetric;
  return {
      ScalarMetric(kPenalized, MetricSplits::kTrain,
                   "optimizer jobs: the penalty form's objective F_rho (what the optimizer "
                   "minimizes)"),
      ScalarMetric(kOptimum, MetricSplits::kTrain,
                   "optimizer jobs: F_rho's exact minimum on the same data and patterns"),
      ScalarMetric(kSuboptimality, MetricSplits::kTrain,
                   "optimizer jobs: penalized_objective - optimum, the gap to the global optimum"),
  };
}

// The recovered network's per-class metrics: the objective's, and the robust accuracies
// (reported when epsilon > 0).
std::vector<spec::MetricSpec> RecoveredNetworkMetrics() {
  std::vector<spec::MetricSpec> out = CrossEntropyDefinition().spec.metrics;
  for (spec::MetricSpec& m : RobustnessObserver::Metrics()) out.push_back(std::move(m));
  return out;
}

// The evaluation attacks at the task's epsilon, as a train job's attack_epsilon sets them: FGSM,
// and PGD with attack_pgd_steps steps of 2.5 epsilon / K from a random start.
AttackOptions EvaluationAttack(const ConvexReluSettings& s, AttackMethod method) {
  return EvaluationAttackOptions(method, s.epsilon, s.attack_pgd_steps);
}

ConvexReluProblem BuildProblem(const ConvexReluSettings& s, const MatrixD& x, VectorD y) {
  ConvexReluProblem p;
  p.x = x;
  p.y = std::move(y);
  p.loss = LossOf(s);
  p.beta = s.beta;
  p.epsilon = s.epsilon;
  p.attackable = s.bias ? x.cols() - 1 : x.cols();
  p.d = SamplePatterns(p.x, s.patterns, s.pattern_seed);
  return p;
}

MatrixD WithBias(const Matrix& features, bool bias) {
  MatrixD x(features.rows(), features.cols() + (bias ? 1 : 0));
  x.leftCols(features.cols()) = features.cast<double>();
  if (bias) x.col(features.cols()).setOnes();
  return x;
}

VectorD SignedLabels(const std::vector<int32_t>& labels) {
  VectorD y(static_cast<int64_t>(labels.size()));
  for (size_t k = 0; k < labels.size(); ++k) y(static_cast<int64_t>(k)) = labels[k] == 1 ? 1 : -1;
  return y;
}

// The recovered network as the engine's MLP (2 logits: 0 and f(x)), so that it is evaluated,
// attacked and reported exactly as a train job's network is.
std::unique_ptr<MlpModel> AsMlp(const ReluNetwork& net, int64_t features, bool bias) {
  MlpOptions o;
  o.num_inputs = features;
  o.hidden = {std::max<int64_t>(1, net.neurons())};
  o.num_classes = 2;
  o.bias = true;
  auto model = std::make_unique<MlpModel>(o, 0);
  std::vector<ParamSlot> slots = model->Params();
  for (ParamSlot& slot : slots) slot.value->setZero();
  // Slots: layer0.weight, layer0.bias, layer1.weight, layer1.bias.
  for (int64_t j = 0; j < net.neurons(); ++j) {
    for (int64_t t = 0; t < features; ++t) {
      (*slots[0].value)(j, t) = static_cast<Real>(net.weights(j, t));
    }
    (*slots[1].value)(j, 0) = bias ? static_cast<Real>(net.weights(j, features)) : 0;
    (*slots[2].value)(1, j) = static_cast<Real>(net.alpha(j));
  }
  return model;
}

// Per-class statistics of `model` over `split` through the cross-entropy objective.
// Rows per forward pass of the recovered network (evaluation and attacks).
constexpr int64_t kChunk = 4096;

void SplitStats(MlpModel* model, Objective* objective, const DataSplit& split, ClassStats* stats) {
  stats->Reset(2);
  Matrix logits;
  for (int64_t start = 0; start < split.size(); start += kChunk) {
    const int64_t rows = std::min(kChunk, split.size() - start);
    logits.resize(rows, 2);
    const auto x = split.features.middleRows(start, rows);
    model->Forward(x, logits);
    objective->Evaluate(x, split.labels.data() + start, logits, 1, stats, nullptr);
  }
}

struct OptimizerScore {
  double penalized = 0;
  double optimum = 0;
};

class ConvexReporter {
 public:
  // `seed`: the job's, for the attacks' random starts.
  ConvexReporter(const ConvexReluSettings& settings, const ConvexReluProblem* problem,
                 const Dataset* data, RunSink* sink, uint64_t seed)
      : settings_(settings),
        problem_(problem),
        data_(data),
        sink_(sink),
        objective_(FindObjective(CrossEntropyDefinition().spec.name)
                       .build(spec::ParamMap{}, data->num_features())) {
    if (settings.epsilon > 0) {
      // Attacked as a train job's network is: through the cross-entropy of its logits [0, f],
      // whose input gradient has the sign of the margin's (-y grad f).
      robustness_.emplace(EvaluationAttack(settings, AttackMethod::kFgsm),
                          EvaluationAttack(settings, AttackMethod::kPgd), objective_.get(), kChunk,
                          seed);
    }
  }

  absl::Status Report(int64_t step, const MatrixD& u, const OptimizerScore* score) {
    MetricBatch batch;
    batch.step = step;
    const ConvexValue value = Evaluate(*problem_, u);
    const ReluNetwork net = RecoverNetwork(u);
    const double recovery =
        (net.Predict(problem_->x) - Predict(*problem_, u)).cwiseAbs().maxCoeff();
    batch.Add(kObjective, Split::kTrain, {value.objective()});
    batch.Add(kConvexLoss, Split::kTrain, {value.loss});
    batch.Add(kViolation, Split::kTrain, {value.violation});
    batch.Add(kActiveGroups, Split::kTrain, {static_cast<double>(value.active_groups)});
    batch.Add(kPatterns, Split::kTrain, {static_cast<double>(problem_->patterns())});
    batch.Add(kRecoveryError, Split::kTrain, {recovery});
    if (score != nullptr) {
      batch.Add(kPenalized, Split::kTrain, {score->penalized});
      batch.Add(kOptimum, Split::kTrain, {score->optimum});
      batch.Add(kSuboptimality, Split::kTrain, {score->penalized - score->optimum});
    }
    std::unique_ptr<MlpModel> model = AsMlp(net, data_->num_features(), settings_.bias);
    ClassStats stats;
    SplitStats(model.get(), objective_.get(), data_->train(), &stats);
    objective_->Report(stats, Split::kTrain, &batch);
    if (data_->has_test()) {
      SplitStats(model.get(), objective_.get(), data_->test(), &stats);
      objective_->Report(stats, Split::kTest, &batch);
    }
    if (robustness_) {
      EvaluationContext ctx;
      ctx.step = step;
      ctx.data = data_;
      ctx.model = model.get();
      robustness_->Evaluate(ctx, &batch);
    }
    reported_ = step;
    return sink_->OnEvaluation(batch);
  }

  int64_t reported() const { return reported_; }

 private:
  ConvexReluSettings settings_;
  const ConvexReluProblem* problem_;
  const Dataset* data_;
  RunSink* sink_;
  std::unique_ptr<Objective> objective_;
  std::optional<RobustnessObserver> robustness_;
  int64_t reported_ = -1;
};

RunInfo MakeRunInfo(const Dataset& data, bool optimizer) {
  RunInfo info;
  info.num_classes = data.num_classes();
  info.num_features = data.num_features();
  info.train_class_counts = data.train().class_counts;
  if (data.has_test()) info.test_class_counts = data.test().class_counts;
  info.metrics = SolverMetrics();
  if (optimizer) {
    for (spec::MetricSpec& m : OptimizerMetrics()) info.metrics.push_back(std::move(m));
  }
  for (spec::MetricSpec& m : RecoveredNetworkMetrics()) info.metrics.push_back(std::move(m));
  return info;
}

bool Due(int64_t step, int64_t every, int64_t last) { return step % every == 0 || step == last; }

// The exact solver: evaluations every eval_every FISTA iterations and at the end.
absl::StatusOr<RunResult> RunSolver(const ConvexReluSettings& s, const ConvexReluProblem& problem,
                                    ConvexReporter* reporter, RunSink* sink,
                                    const std::function<bool()>& should_stop) {
  OPTBENCH_RETURN_IF_ERROR(
      reporter->Report(0, MatrixD::Zero(2 * problem.patterns(), problem.dim()), nullptr));
  AugmentedLagrangianOptions options;
  options.max_iters = s.max_iters;
  options.tolerance = s.tolerance;
  options.mu = s.smoothing;
  absl::Status failed;
  bool cancelled = false;
  const SolveResult solved = SolveConstrained(problem, options, [&](int64_t it, const MatrixD& u) {
    sink->OnStep(it);
    if (it % s.eval_every == 0) {
      failed = reporter->Report(it, u, nullptr);
      if (!failed.ok()) return false;
    }
    if (should_stop && should_stop()) {
      cancelled = true;
      return false;
    }
    return true;
  });
  OPTBENCH_RETURN_IF_ERROR(failed);
  RunResult result;
  result.steps_done = solved.iterations;
  if (cancelled) {
    result.outcome = RunOutcome::kCancelled;
    return result;
  }
  if (reporter->reported() != solved.iterations) {
    OPTBENCH_RETURN_IF_ERROR(reporter->Report(solved.iterations, solved.u, nullptr));
  }
  result.message = solved.converged ? absl::StrCat("converged in ", solved.iterations,
                                                   " iterations (", solved.outer, " rounds)")
                                    : absl::StrCat("stopped at max_iters ", s.max_iters,
                                                   " before the "
                                                   "tolerance");
  return result;
}

// One of the service's optimizers on the penalty form, from U = 0, against its exact optimum.
absl::StatusOr<RunResult> RunOptimizer(const ConvexReluSettings& s,
                                       const spec::ComponentChoice& choice,
                                       const ConvexReluProblem& problem, ConvexReporter* reporter,
                                       RunSink* sink, const std::function<bool()>& should_stop) {
  const SolveResult exact = SolvePenalized(problem, s.penalty, s.max_iters, s.tolerance);
  const double optimum = PenalizedObjective(problem, s.penalty, exact.u);
  const int64_t np = problem.patterns();
  Matrix v = Matrix::Zero(np, problem.dim()), w = v, gv = v, gw = v;
  const std::vector<ParamSlot> slots = {{"v", &v, &gv, ParamRole::kHiddenMatrix},
                                        {"w", &w, &gw, ParamRole::kHiddenMatrix}};
  std::unique_ptr<Optimizer> optimizer = FindOptimizer(choice.name).build(choice.params);
  const double lr = spec::GetDouble(choice.params, "lr");
  MatrixD u(2 * np, problem.dim());
  MatrixD grad;
  RunResult result;
  for (int64_t step = 0; step <= s.steps; ++step) {
    u.topRows(np) = v.cast<double>();
    u.bottomRows(np) = w.cast<double>();
    const double penalized = PenalizedObjective(problem, s.penalty, u);
    if (!std::isfinite(penalized)) {
      result.outcome = RunOutcome::kDiverged;
      result.steps_done = step;
      result.message = absl::StrCat("penalized objective is ", penalized, " at step ", step);
      return result;
    }
    if (Due(step, s.eval_every, s.steps)) {
      const OptimizerScore score{penalized, optimum};
      OPTBENCH_RETURN_IF_ERROR(reporter->Report(step, u, &score));
    }
    if (step == s.steps) break;
    if (should_stop && should_stop()) {
      result.outcome = RunOutcome::kCancelled;
      result.steps_done = step;
      return result;
    }
    PenalizedSubgradient(problem, s.penalty, u, &grad);
    gv = grad.topRows(np).cast<Real>();
    gw = grad.bottomRows(np).cast<Real>();
    optimizer->Step(slots, lr);
    sink->OnStep(step + 1);
  }
  result.steps_done = s.steps;
  result.message =
      absl::StrCat("exact optimum of the penalty form ", optimum, " (", exact.iterations,
                   " FISTA iterations", exact.converged ? "" : ", not converged", ")");
  return result;
}

absl::StatusOr<RunResult> RunConvexRelu(const spec::JobSpec& spec, RunSink* sink,
                                        const std::function<bool()>& should_stop) {
  const ConvexReluSettings s = SettingsOf(spec);
  const spec::ComponentChoice& dataset = spec.component(kDataset);
  OPTBENCH_ASSIGN_OR_RETURN(const Dataset data, FindDataset(dataset.name).build(dataset.params));
  if (data.num_classes() != 2) return NotBinary(dataset.name, data.num_classes());
  const ConvexReluProblem problem =
      MakeConvexReluProblem(s, data.train().features, data.train().labels);
  sink->OnRunInfo(MakeRunInfo(data, HasOptimizer(spec)));
  ConvexReporter reporter(s, &problem, &data, sink, spec.seed);
  if (const spec::ComponentChoice* optimizer = spec.find_component(kOptimizer)) {
    return RunOptimizer(s, *optimizer, problem, &reporter, sink, should_stop);
  }
  return RunSolver(s, problem, &reporter, sink, should_stop);
}

absl::StatusOr<int64_t> ConvexReluPeakMemory(const spec::JobSpec& spec) {
  const ConvexReluSettings s = SettingsOf(spec);
  const spec::ComponentChoice& dataset = spec.component(kDataset);
  OPTBENCH_ASSIGN_OR_RETURN(const DataFootprint data,
                            FindDataset(dataset.name).footprint(dataset.params));
  // float64 throughout: X (and its copies), the gates' products (n x P requested), the pattern
  // matrix and the solver's n x 2P work matrices (X U^T, the multipliers, the penalty's
  // gradient), and about twelve 2P x d iterates and gradients.
  const long double n = static_cast<long double>(data.train_rows);
  const long double d = static_cast<long double>(data.num_features + 1);
  const long double p = static_cast<long double>(s.patterns);
  const long double reals = 3 * n * d + n * p + n * p + 3 * (2 * n * p) + 12 * (2 * p * d);
  const long double bytes = 8 * reals +
                            static_cast<long double>(data.train_rows + data.test_rows) *
                                (data.num_features * static_cast<long double>(sizeof(Real)) + 4) +
                            static_cast<long double>(data.raw_bytes);
  if (bytes >= static_cast<long double>(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  return static_cast<int64_t>(bytes);
}

spec::TaskSpec ConvexReluTaskSpec() {
  using spec::ComponentKind;
  spec::TaskSpec t;
  t.name = "convex_relu";
  t.doc =
      "train a one-hidden-layer ReLU network on a binary data set through its convex twin over "
      "sampled activation patterns (paper 4): the exact augmented-Lagrangian solver, or an "
      "optimizer on the penalty form scored by its gap to the optimum; per-class clean, FGSM "
      "and PGD accuracy of the recovered network";
  t.slots = {
      {kDataset, ComponentKind::kDataset, true, "", true,
       "binary data (labels 0 and 1; features scaled to [0, 1] make epsilon meaningful)"},
      {kOptimizer, ComponentKind::kOptimizer, false, "", true,
       "when given, minimizes the penalty form (smooth losses) instead of the exact solver"},
  };
  t.labelled_slot = kOptimizer;
  t.settings_key = "convex";
  t.settings = ConvexReluSettingsBinding().params();
  t.metrics = SolverMetrics();
  for (spec::MetricSpec& m : OptimizerMetrics()) t.metrics.push_back(std::move(m));
  for (spec::MetricSpec& m : RecoveredNetworkMetrics()) t.metrics.push_back(std::move(m));
  t.check = CheckConvexReluJob;
  t.total_steps = [](const spec::JobSpec& s) {
    const ConvexReluSettings settings = SettingsOf(s);
    return HasOptimizer(s) ? settings.steps : settings.max_iters;
  };
  return t;
}

}  // namespace

ConvexReluProblem MakeConvexReluProblem(const ConvexReluSettings& settings, const Matrix& features,
                                        const std::vector<int32_t>& labels) {
  return BuildProblem(settings, WithBias(features, settings.bias), SignedLabels(labels));
}

const TaskDef& ConvexReluTaskDefinition() {
  static const TaskDef* def = new TaskDef{
      ConvexReluTaskSpec(), RunConvexRelu, ConvexReluPeakMemory,
      "convex.patterns: the solver holds about 11 n P float64 values for n train rows and P "
      "patterns"};
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

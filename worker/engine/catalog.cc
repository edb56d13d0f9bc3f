#include "worker/engine/catalog.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace optbench::engine {
namespace {

// Builders that keep the table below one declaration per line.
ParamSpec Double(std::string name, double def, std::optional<double> min, std::optional<double> max,
                 std::string doc, bool min_exclusive = false, bool max_exclusive = false) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kDouble;
  p.default_value = def;
  p.min = min;
  p.max = max;
  p.min_exclusive = min_exclusive;
  p.max_exclusive = max_exclusive;
  p.doc = std::move(doc);
  return p;
}

ParamSpec Int(std::string name, int64_t def, std::optional<double> min, std::optional<double> max,
              std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kInt;
  p.default_value = def;
  p.min = min;
  p.max = max;
  p.doc = std::move(doc);
  return p;
}

ParamSpec Bool(std::string name, bool def, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kBool;
  p.default_value = def;
  p.doc = std::move(doc);
  return p;
}

ParamSpec String(std::string name, std::string def, std::vector<std::string> choices,
                 std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kString;
  p.default_value = std::move(def);
  p.choices = std::move(choices);
  p.doc = std::move(doc);
  return p;
}

// A learning rate: > 0 and finite.
ParamSpec Lr(double def) {
  return Double("lr", def, 0.0, 1e6, "step size (learning rate)", /*min_exclusive=*/true);
}
// Heavy-ball momentum in the PyTorch convention b_t = mu b_{t-1} + u_t (ALGORITHMS.md 0).
ParamSpec Momentum() {
  return Double("momentum", 0.0, 0.0, 1.0, "heavy-ball momentum mu, b = mu b + u (PyTorch style)",
                false, /*max_exclusive=*/true);
}
ParamSpec DataSeed() {
  return Int("data_seed", 0, 0, 9.0e15,
             "seed of the data generator (the job seed drives init and sampling only)");
}

std::vector<ComponentSpec> BuildCatalog() {
  using K = ComponentKind;
  std::vector<ComponentSpec> c;
  // ---- datasets -------------------------------------------------------------------------
  c.push_back({K::kDataset,
               "heavy_tail_uniform",
               "paper 1 D1: 2^i classes of 2^(m-i) samples at level i, inputs Uniform[0,1) "
               "independent of the label; n = m 2^m, d = (m+1) 2^m, c = 2^m - 1; test = train",
               {Int("m", 8, 2, 14, "number of frequency levels (m = 11 is the paper's size)"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "zipf_gaussian",
               "paper 1 D2: n_k = ceil(min_samples (classes/k)^alpha) samples of class k, "
               "x = e_y + noise N(0, I) in R^classes",
               {Int("classes", 100, 2, 100000, "number of classes"),
                Double("alpha", 1.0, 0.0, 10.0, "power-law exponent of class frequencies"),
                Int("min_samples", 10, 1, 1000000, "samples of the rarest class"),
                Double("noise", 0.1, 0.0, 1e3, "standard deviation of the Gaussian noise"),
                Double("test_fraction", 0.0, 0.0, 10.0,
                       "test split drawn from the same distribution, ceil(fraction n_k) per "
                       "class; 0 = no test split"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "csv",
               "a user's CSV file: a header row, numeric feature columns and an integer label "
               "column (0..classes-1) chosen by name",
               {String("train_path", "", {}, "path of the training CSV file (required)"),
                String("test_path", "", {}, "path of an optional test CSV file"),
                String("label_column", "label", {}, "name of the label column"),
                Int("num_classes", 0, 0, 10000000,
                    "number of classes; 0 = one more than the largest label seen")}});
  // ---- models ---------------------------------------------------------------------------
  c.push_back({K::kModel,
               "linear",
               "softmax regression: logits = x W^T + b, W is classes x features",
               {Bool("bias", true, "learn a bias vector b"),
                String("init", "zeros", {"zeros", "uniform"},
                       "initial weights: zeros, or Uniform(-1/sqrt(d), 1/sqrt(d)) (PyTorch "
                       "default)")}});
  // ---- optimizers -----------------------------------------------------------------------
  c.push_back({K::kOptimizer,
               "gd",
               "gradient descent with heavy-ball momentum: b = mu b + g, theta -= lr b",
               {Lr(0.1), Momentum()}});
  c.push_back({K::kOptimizer,
               "adam",
               "Adam (Kingma & Ba 2015): bias-corrected first and second moments",
               {Lr(1e-3),
                Double("beta1", 0.9, 0.0, 1.0, "first-moment decay (0 = no momentum)", false, true),
                Double("beta2", 0.999, 0.0, 1.0, "second-moment decay", false, true),
                Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v_hat)", true),
                Bool("bias_correction", true, "divide moments by 1 - beta^t")}});
  c.push_back({K::kOptimizer,
               "sign_descent",
               "paper 1 sign descent: u = sign(g) fed to heavy-ball momentum (not Signum)",
               {Lr(1e-3), Momentum()}});
  c.push_back({K::kOptimizer,
               "normalized_gd",
               "paper 1 normalized GD: u = g / ||g|| (norm over all parameters) fed to "
               "heavy-ball momentum",
               {Lr(0.1), Momentum()}});
  // ---- optimizers: elementwise (adamw, adagrad, rmsprop, signum, lion, adafactor, ...) ------
  // ---- optimizers: matrix-aware (muon, adamuon, shampoo, soap, splus, spa) -----------------
  // ---- models and datasets of the seed papers (mlp, cnn, fashion_mnist, ...) ---------------
  std::sort(c.begin(), c.end(), [](const ComponentSpec& a, const ComponentSpec& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return c;
}

const std::vector<ComponentSpec>& Catalog() {
  static const std::vector<ComponentSpec>* catalog = new std::vector<ComponentSpec>(BuildCatalog());
  return *catalog;
}

absl::Status CheckTrainerField(const char* field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.", field, ": ", value, " is out of range; allowed [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<const ComponentSpec*> ListComponents(ComponentKind kind) {
  std::vector<const ComponentSpec*> out;
  for (const ComponentSpec& spec : Catalog()) {
    if (spec.kind == kind) out.push_back(&spec);
  }
  return out;
}

absl::StatusOr<const ComponentSpec*> FindComponent(ComponentKind kind, const std::string& name) {
  std::vector<std::string> known;
  for (const ComponentSpec* spec : ListComponents(kind)) {
    if (spec->name == name) return spec;
    known.push_back(spec->name);
  }
  const char* kind_name = ComponentKindName(kind);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: missing; known ", kind_name,
                                                   "s: ", absl::StrJoin(known, ", ")));
  }
  return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: unknown ", kind_name, " '",
                                                 name, "'; known: ", absl::StrJoin(known, ", ")));
}

absl::StatusOr<JobSpec> ValidateJobSpec(const JobSpec& spec) {
  JobSpec out = spec;
  const std::pair<ComponentKind, ComponentChoice*> parts[] = {
      {ComponentKind::kDataset, &out.dataset},
      {ComponentKind::kModel, &out.model},
      {ComponentKind::kOptimizer, &out.optimizer}};
  for (const auto& [kind, choice] : parts) {
    auto component = FindComponent(kind, choice->name);
    if (!component.ok()) return component.status();
    auto params = ValidateParams(**component, choice->params);
    if (!params.ok()) return params.status();
    choice->params = *std::move(params);
  }
  constexpr int64_t kMaxSteps = 1'000'000'000;
  TrainerSpec& t = out.trainer;
  if (t.chunk_rows == 0) t.chunk_rows = TrainerSpec().chunk_rows;
  if (t.eval_every == 0) t.eval_every = TrainerSpec().eval_every;
  if (auto s = CheckTrainerField("steps", t.steps, 1, kMaxSteps); !s.ok()) return s;
  if (auto s = CheckTrainerField("batch_size", t.batch_size, 0, 100'000'000); !s.ok()) return s;
  if (auto s = CheckTrainerField("chunk_rows", t.chunk_rows, 1, 10'000'000); !s.ok()) return s;
  if (auto s = CheckTrainerField("eval_every", t.eval_every, 1, kMaxSteps); !s.ok()) return s;
  if (out.dataset.name == "csv" && GetString(out.dataset.params, "train_path").empty()) {
    return absl::InvalidArgumentError(
        "dataset.train_path: required for dataset 'csv' (path of the training CSV file)");
  }
  return out;
}

}  // namespace optbench::engine

// Reader for the committed reference trajectories in tests/fixtures/optimizers/ (format and
// problem in tests/fixtures/optimizers/fixture_problem.py) and a runner that replays one case
// through the engine's optimizer.
#ifndef OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_REFERENCE_FIXTURE_H_
#define OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_REFERENCE_FIXTURE_H_

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spec/params.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {

// One slot of the fixture problem: gradient = curvature * (d + 0.1 d^3), d = theta - target.
// Values are float64 as written; the engine's copies are rounded to Real.
struct FixtureSlot {
  std::string id;
  int64_t rows = 0, cols = 0;
  std::vector<double> target, curvature, init;
};

struct FixtureCase {
  std::string name;
  std::string optimizer;
  spec::ParamMap params;
  int64_t steps = 0;
  std::vector<FixtureSlot> slots;
  // expected[t - 1][slot index]: the slot after step t, row-major.
  std::vector<std::vector<std::vector<double>>> expected;
};

inline std::string FixturePath(const std::string& file) {
  return absl::StrCat(OPTBENCH_SOURCE_DIR, "/tests/fixtures/optimizers/", file);
}

// Parses a fixture file. InvalidArgument naming the line on any problem.
inline absl::StatusOr<std::vector<FixtureCase>> ReadFixtureFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<FixtureCase> cases;
  std::string line;
  int line_number = 0;
  FixtureCase* current = nullptr;
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", why));
  };
  auto read_values = [](std::istringstream& s) {
    std::vector<double> v;
    double x;
    while (s >> x) v.push_back(x);
    return v;
  };
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string kind;
    s >> kind;
    if (kind == "case") {
      cases.emplace_back();
      current = &cases.back();
      s >> current->name >> current->optimizer >> current->steps;
      current->expected.resize(static_cast<size_t>(current->steps));
      continue;
    }
    if (current == nullptr) return bad("record before the first case");
    if (kind == "end") {
      current = nullptr;
      continue;
    }
    if (kind == "param") {
      std::string name, value;
      s >> name >> value;
      auto spec = Catalog().Find(spec::ComponentKind::kOptimizer, current->optimizer);
      if (!spec.ok()) return bad(std::string(spec.status().message()));
      const auto it = std::find_if((*spec)->params.begin(), (*spec)->params.end(),
                                   [&](const spec::ParamSpec& p) { return p.name == name; });
      if (it == (*spec)->params.end()) return bad(absl::StrCat("unknown param ", name));
      if (it->type == spec::ParamType::kBool) {
        current->params[name] = value == "true";
      } else if (it->type == spec::ParamType::kInt) {
        current->params[name] = static_cast<int64_t>(std::stoll(value));
      } else {
        current->params[name] = std::stod(value);
      }
      continue;
    }
    std::string id;
    if (kind == "slot") {
      FixtureSlot slot;
      s >> slot.id >> slot.rows >> slot.cols;
      current->slots.push_back(slot);
      continue;
    }
    if (kind == "value") {
      int64_t t = 0;
      s >> t >> id;
      if (t < 1 || t > current->steps) return bad("step out of range");
      current->expected[static_cast<size_t>(t - 1)].push_back(read_values(s));
      continue;
    }
    s >> id;
    if (current->slots.empty() || current->slots.back().id != id) return bad("slot mismatch");
    FixtureSlot& slot = current->slots.back();
    std::vector<double>* field = kind == "target"      ? &slot.target
                                 : kind == "curvature" ? &slot.curvature
                                 : kind == "init"      ? &slot.init
                                                       : nullptr;
    if (field == nullptr) return bad(absl::StrCat("unknown record '", kind, "'"));
    *field = read_values(s);
    if (static_cast<int64_t>(field->size()) != slot.rows * slot.cols) return bad("wrong count");
  }
  return cases;
}

inline Matrix FixtureMatrix(const FixtureSlot& slot, const std::vector<double>& values) {
  Matrix m(slot.rows, slot.cols);
  for (int64_t i = 0; i < slot.rows * slot.cols; ++i) m.data()[i] = static_cast<Real>(values[i]);
  return m;
}

// Replays `c` through MakeOptimizer(c.optimizer, c.params), computing each gradient from the
// engine's own parameters, and returns the largest relative deviation from the reference over
// all steps and slots: max_t max_slot ||theta - theta_ref||_inf / ||theta_ref||_inf.
// `*where` names the worst step and slot.
inline absl::StatusOr<double> ReplayFixtureCase(const FixtureCase& c, std::string* where) {
  auto optimizer = MakeOptimizer(c.optimizer, c.params);
  if (!optimizer.ok()) return optimizer.status();
  const size_t n = c.slots.size();
  std::vector<Matrix> value(n), grad(n), target(n), curvature(n);
  for (size_t k = 0; k < n; ++k) {
    value[k] = FixtureMatrix(c.slots[k], c.slots[k].init);
    grad[k] = Matrix::Zero(c.slots[k].rows, c.slots[k].cols);
    target[k] = FixtureMatrix(c.slots[k], c.slots[k].target);
    curvature[k] = FixtureMatrix(c.slots[k], c.slots[k].curvature);
  }
  std::vector<ParamSlot> slots;
  for (size_t k = 0; k < n; ++k) slots.push_back({c.slots[k].id, &value[k], &grad[k]});
  const double lr = spec::GetDouble(c.params, "lr");
  double worst = 0;
  for (int64_t t = 1; t <= c.steps; ++t) {
    for (size_t k = 0; k < n; ++k) {
      const Matrix d = value[k] - target[k];
      grad[k].array() =
          curvature[k].array() * (d.array() + Real(0.1) * d.array() * d.array() * d.array());
    }
    (*optimizer)->Step(slots, lr);
    const auto& expected = c.expected[static_cast<size_t>(t - 1)];
    if (expected.size() != n) return absl::InvalidArgumentError("fixture misses a slot");
    for (size_t k = 0; k < n; ++k) {
      const Matrix ref = FixtureMatrix(c.slots[k], expected[k]);
      double scale = 0, diff = 0;
      for (Eigen::Index i = 0; i < ref.size(); ++i) {
        scale = std::max(scale, std::abs(expected[k][static_cast<size_t>(i)]));
        diff = std::max(diff, std::abs(static_cast<double>(value[k].data()[i]) -
                                       expected[k][static_cast<size_t>(i)]));
      }
      const double rel = diff / std::max(scale, 1e-300);
      if (!(rel <= worst)) {  // Also catches NaN.
        worst = std::isnan(rel) ? INFINITY : rel;
        *where = absl::StrCat("step ", t, " slot ", c.slots[k].id);
      }
    }
  }
  return worst;
}

}  // namespace optbench::engine

#endif  // OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_REFERENCE_FIXTURE_H_

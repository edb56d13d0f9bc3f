// Replays the matrix-aware optimizers (muon, adamuon, soap, shampoo, splus, spa) against the
// committed NumPy transcriptions of their references
// (tests/fixtures/optimizers/make_matrix_fixtures.py, <optimizer>_trajectories.txt). Compiled into
// the float64 and the float32 test binaries: float64 must match to 1e-5 relative; float32 to the
// bound measured for each case (kFloat32Bound).
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

struct FixtureSlot {
  std::string id;
  ParamRole role = ParamRole::kHiddenMatrix;
  Matrix init;
  std::vector<Matrix> grads, values;  // Index t - 1.
};

struct FixtureCase {
  std::string name, optimizer;
  int steps = 0;
  double lr = 0;
  spec::ParamMap params;
  std::vector<FixtureSlot> slots;
};

Matrix ReadMatrix(std::istringstream& in, Eigen::Index rows, Eigen::Index cols) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < cols; ++j) {
      double x = 0;
      in >> x;
      m(i, j) = static_cast<Real>(x);
    }
  }
  return m;
}

// Parses `file` (format: make_matrix_fixtures.py run_case). Fails the test on a malformed file.
std::vector<FixtureCase> ReadFixture(const std::string& file) {
  std::ifstream in(absl::StrCat(OPTBENCH_SOURCE_DIR, "/tests/fixtures/optimizers/", file));
  EXPECT_TRUE(in.good()) << file;
  std::vector<FixtureCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    if (kind.empty() || kind[0] == '#' || kind == "end") continue;
    if (kind == "case") {
      FixtureCase c;
      ls >> c.name >> c.optimizer >> c.steps >> c.lr;
      cases.push_back(std::move(c));
      continue;
    }
    FixtureCase& c = cases.back();
    if (kind == "param") {
      std::string key, type, value;
      ls >> key >> type >> value;
      if (type == "double") c.params[key] = std::stod(value);
      if (type == "int") c.params[key] = int64_t{std::stoll(value)};
      if (type == "bool") c.params[key] = value == "true";
      if (type == "string") c.params[key] = value;
    } else if (kind == "slot") {
      FixtureSlot s;
      std::string role;
      Eigen::Index rows = 0, cols = 0;
      ls >> s.id >> role >> rows >> cols;
      s.role = role == "vector" ? ParamRole::kVector : ParamRole::kHiddenMatrix;
      s.init = Matrix::Zero(rows, cols);
      s.grads.resize(c.steps);
      s.values.resize(c.steps);
      c.slots.push_back(std::move(s));
    } else {
      std::string id;
      int t = 0;
      if (kind != "init") ls >> t;
      ls >> id;
      for (FixtureSlot& s : c.slots) {
        if (s.id != id) continue;
        const Matrix m = ReadMatrix(ls, s.init.rows(), s.init.cols());
        if (kind == "init") s.init = m;
        if (kind == "grad") s.grads[t - 1] = m;
        if (kind == "value") s.values[t - 1] = m;
      }
    }
  }
  return cases;
}

// Replays `c` and returns the largest error over all steps and slots, each relative to the
// largest magnitude of the reference slot at that step: max |x - ref| / max |ref|.
double ReplayCase(const FixtureCase& c) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(c.optimizer, c.params);
  EXPECT_TRUE(opt.ok()) << c.name << ": " << opt.status();
  if (!opt.ok()) return INFINITY;
  std::vector<Matrix> values, grads;
  for (const FixtureSlot& s : c.slots) {
    values.push_back(s.init);
    grads.push_back(s.init);
  }
  std::vector<ParamSlot> slots;
  for (size_t k = 0; k < c.slots.size(); ++k) {
    slots.push_back({c.slots[k].id, &values[k], &grads[k], c.slots[k].role});
  }
  double worst = 0;
  for (int t = 1; t <= c.steps; ++t) {
    for (size_t k = 0; k < c.slots.size(); ++k) grads[k] = c.slots[k].grads[t - 1];
    (*opt)->Step(slots, c.lr);
    for (size_t k = 0; k < c.slots.size(); ++k) {
      const Matrix& ref = c.slots[k].values[t - 1];
      const double scale = ref.template cast<double>().cwiseAbs().maxCoeff();
      const double err = (values[k] - ref).template cast<double>().cwiseAbs().maxCoeff();
      worst = std::max(worst, err / scale);
      EXPECT_TRUE(values[k].allFinite()) << c.name << " step " << t << " " << c.slots[k].id;
    }
  }
  return worst;
}

// Relative bound per case in the float32 build (measured at most 1.1e-6 with Eigen's GEMM and
// with OpenBLAS's; the float64 build must reach 1e-5 and reaches 3e-9). soap_reference, with
// eps = 1e-8 on a problem whose gradient row is always zero, hits the roundoff trap of
// ALGORITHMS.md 0.10: the rotated zero row is float32 roundoff (1e-8) divided by sqrt(v) + 1e-8,
// an O(1) direction, so float32 and float64 differ by up to 0.18 relative there (measured); that
// case only bounds the damage. (soap_paper hit it too while eigenbases were solved in float32:
// 0.12; 3e-7 since they are solved in float64.) The eps = 1e-6 cases are the float32 check of
// SOAP.
double Float32Bound(const std::string& name) {
  if (name == "soap_reference") return 0.3;
  return 5e-6;
}

void CheckFile(const std::string& file, size_t expected_cases) {
  const std::vector<FixtureCase> cases = ReadFixture(file);
  ASSERT_EQ(cases.size(), expected_cases) << file;
  for (const FixtureCase& c : cases) {
    ASSERT_GE(c.steps, 20) << c.name;
    const double err = ReplayCase(c);
    const double bound = sizeof(Real) == 8 ? 1e-5 : Float32Bound(c.name);
    EXPECT_LE(err, bound) << c.name << " (" << sizeof(Real) * 8 << "-bit)";
    std::printf("[ measured ] %s %zu-bit max relative error %.3g\n", c.name.c_str(),
                sizeof(Real) * 8, err);
  }
}

TEST(MatrixFixtureTest, MuonMatchesReferenceTrajectories) { CheckFile("muon_trajectories.txt", 2); }

TEST(MatrixFixtureTest, AdaMuonMatchesReferenceTrajectories) {
  CheckFile("adamuon_trajectories.txt", 3);
}

TEST(MatrixFixtureTest, SoapMatchesReferenceTrajectories) { CheckFile("soap_trajectories.txt", 4); }

TEST(MatrixFixtureTest, SplusMatchesReferenceTrajectories) {
  CheckFile("splus_trajectories.txt", 2);
}

TEST(MatrixFixtureTest, SpaMatchesReferenceTrajectories) { CheckFile("spa_trajectories.txt", 1); }

TEST(MatrixFixtureTest, ShampooMatchesReferenceTrajectories) {
  CheckFile("shampoo_trajectories.txt", 3);
}

}  // namespace
}  // namespace optbench::engine

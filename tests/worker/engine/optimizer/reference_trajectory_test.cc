// Every optimizer against committed reference trajectories: PyTorch 1.13's own implementations
// (torch_trajectories.txt, make_torch_fixtures.py) and independent NumPy transcriptions of the
// papers (numpy_trajectories.txt, make_numpy_fixtures.py), in float64 and in float32. Compiled
// into both engine test binaries; the bound depends on the engine's precision.
#include <iostream>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/reference_fixture.h"

namespace optbench::engine {
namespace {

// Largest relative deviation ||theta - theta_ref||_inf / ||theta_ref||_inf allowed at any step.
// Measured over 25 steps: float64 <= 6e-16 (roundoff only: the same arithmetic, sometimes in
// another order), so 1e-14; float32 <= 5.2e-7 against PyTorch and <= 1.4e-6 against NumPy
// (adafactor with a large relative step), so 5e-6.
constexpr double kTolerance = sizeof(Real) == 8 ? 1e-14 : 5e-6;

void CheckFile(const std::string& file, const std::set<std::string>& must_cover) {
  absl::StatusOr<std::vector<FixtureCase>> cases = ReadFixtureFile(FixturePath(file));
  ASSERT_TRUE(cases.ok()) << cases.status();
  std::set<std::string> covered;
  for (const FixtureCase& c : *cases) {
    ASSERT_EQ(c.slots.size(), 2u) << c.name;
    std::string where;
    absl::StatusOr<double> error = ReplayFixtureCase(c, &where);
    ASSERT_TRUE(error.ok()) << c.name << ": " << error.status();
    EXPECT_LE(*error, kTolerance) << c.name << " worst at " << where;
    std::cout << "[ reference ] " << c.name << " (" << c.optimizer << "): max relative error "
              << *error << " at " << where << "\n";
    covered.insert(c.optimizer);
  }
  for (const std::string& name : must_cover) EXPECT_TRUE(covered.count(name)) << name;
}

TEST(ReferenceTrajectoryTest, MatchesPyTorch) {
  CheckFile("torch_trajectories.txt", {"gd", "sgd", "adam", "adamw", "adagrad", "rmsprop"});
}

TEST(ReferenceTrajectoryTest, MatchesNumPyTranscriptions) {
  CheckFile("numpy_trajectories.txt",
            {"sign_descent", "normalized_gd", "scaled_sign", "signum", "lion", "adafactor"});
}

TEST(ReferenceTrajectoryTest, ADeviationIsDetected) {
  // The comparison can fail: the same case with a perturbed learning rate misses the reference.
  absl::StatusOr<std::vector<FixtureCase>> cases =
      ReadFixtureFile(FixturePath("torch_trajectories.txt"));
  ASSERT_TRUE(cases.ok()) << cases.status();
  FixtureCase c = cases->front();
  c.params["lr"] = spec::GetDouble(c.params, "lr") * (1 + 1e-4);
  std::string where;
  absl::StatusOr<double> error = ReplayFixtureCase(c, &where);
  ASSERT_TRUE(error.ok());
  EXPECT_GT(*error, kTolerance);
}

}  // namespace
}  // namespace optbench::engine

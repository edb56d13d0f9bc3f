#include "worker/engine/optimizer/state_io.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

bool BitIdentical(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(Real) * static_cast<size_t>(a.size())) == 0;
}

OptimizerState SampleState() {
  OptimizerState state;
  state.step = 1234567890123;
  Matrix w(2, 3);
  w << 1.5, -0.0, std::numeric_limits<Real>::denorm_min(), std::numeric_limits<Real>::infinity(),
      std::numeric_limits<Real>::quiet_NaN(), -3e-30;
  state.tensors["layer.weight"]["exp_avg"] = w;
  state.tensors["layer.weight"]["row"] = Matrix::Constant(2, 1, 7.0);  // Not the slot's shape.
  state.tensors["bias"]["momentum_buffer"] = Column({1.0, 2.0, 3.0});
  state.tensors["empty"]["nothing"] = Matrix(0, 4);
  return state;
}

// FNV-1a 64, re-implemented to forge well-checksummed blobs.
uint64_t Fnv(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string Rechecksum(std::string bytes) {
  bytes.resize(bytes.size() - 8);
  uint64_t h = Fnv(bytes);
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return bytes;
}

TEST(StateIoTest, RoundTripIsBitExact) {
  const OptimizerState state = SampleState();
  const std::string bytes = SaveOptimizerState(state);
  absl::StatusOr<OptimizerState> loaded = LoadOptimizerState(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->step, state.step);
  ASSERT_EQ(loaded->tensors.size(), state.tensors.size());
  for (const auto& [id, tensors] : state.tensors) {
    ASSERT_EQ(loaded->tensors.at(id).size(), tensors.size()) << id;
    for (const auto& [name, m] : tensors) {
      EXPECT_TRUE(BitIdentical(loaded->tensors.at(id).at(name), m)) << id << "/" << name;
    }
  }
  EXPECT_EQ(SaveOptimizerState(*loaded), bytes);
}

TEST(StateIoTest, LayoutIsLittleEndianAndVersioned) {
  OptimizerState state;
  state.step = 0x0102;
  const std::string bytes = SaveOptimizerState(state);
  ASSERT_EQ(bytes.size(), 4u + 4 + 4 + 8 + 4 + 8);
  EXPECT_EQ(bytes.substr(0, 4), "OBOS");
  EXPECT_EQ(bytes[4], 1);  // Version 1, low byte first.
  EXPECT_EQ(bytes[8], static_cast<char>(sizeof(Real)));
  EXPECT_EQ(bytes[12], 0x02);
  EXPECT_EQ(bytes[13], 0x01);
}

TEST(StateIoTest, EveryTruncationIsDataLoss) {
  const std::string bytes = SaveOptimizerState(SampleState());
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::Status s = LoadOptimizerState(bytes.substr(0, n)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << n << ": " << s;
  }
}

TEST(StateIoTest, EveryFlippedByteIsRejected) {
  const std::string bytes = SaveOptimizerState(SampleState());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x10);
    absl::Status s = LoadOptimizerState(corrupt).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i << ": " << s;
  }
  EXPECT_THAT(LoadOptimizerState(bytes + "x").status().message(), HasSubstr("checksum"));
}

TEST(StateIoTest, ImpossibleSizesWithAValidChecksumAreDataLoss) {
  OptimizerState state;
  state.tensors["w"]["m"] = Matrix::Zero(1, 1);
  std::string bytes = SaveOptimizerState(state);
  // rows sits after magic, version, scalar, step, slot count, "w", tensor count and "m".
  const size_t rows_at = 4 + 4 + 4 + 8 + 4 + (4 + 1) + 4 + (4 + 1);
  for (int i = 0; i < 8; ++i) bytes[rows_at + i] = static_cast<char>(0xff);
  absl::Status s = LoadOptimizerState(Rechecksum(bytes)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr("exceeds"));
}

TEST(StateIoTest, OtherPrecisionOrVersionIsFailedPrecondition) {
  std::string bytes = SaveOptimizerState(SampleState());
  std::string other = bytes;
  other[8] = static_cast<char>(sizeof(Real) == 8 ? 4 : 8);
  absl::Status s = LoadOptimizerState(Rechecksum(other)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("engine"));
  other = bytes;
  other[4] = 2;
  s = LoadOptimizerState(Rechecksum(other)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("version 2"));
}

// Parameters that make each optimizer keep all the state it can (defaults for the others).
spec::ParamMap StatefulParams(const std::string& name) {
  static const std::map<std::string, spec::ParamMap>* params =
      new std::map<std::string, spec::ParamMap>{
          {"gd", {{"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 0.1}}},
          {"sgd", {{"momentum", 0.9}, {"weight_decay", 0.1}}},
          {"sign_descent", {{"momentum", 0.9}}},
          {"normalized_gd", {{"momentum", 0.9}}},
          {"scaled_sign", {{"momentum", 0.9}}},
          {"adam", {{"amsgrad", true}, {"weight_decay", 0.1}}},
          {"adamw", {{"amsgrad", true}}},
          {"adagrad", {{"initial_accumulator_value", 0.1}, {"lr_decay", 0.01}}},
          {"rmsprop", {{"centered", true}, {"momentum", 0.5}}},
          {"signum", {{"lookahead", 0.2}, {"weight_decay", 0.1}}},
          {"lion", {{"weight_decay", 0.1}}},
          {"adafactor", {{"beta1", 0.9}}},
      };
  auto it = params->find(name);
  return it == params->end() ? spec::ParamMap{} : it->second;
}

// A hidden matrix, an output head and a vector, with gradients of a fixed quartic of the values.
struct Problem {
  Problem()
      : hidden("hidden", Matrix::Zero(4, 6)),
        head("head", Matrix::Zero(3, 4)),
        bias("bias", Matrix::Zero(3, 1)) {
    for (TestParam* p : {&hidden, &head, &bias}) {
      for (Eigen::Index i = 0; i < p->value.size(); ++i) {
        p->value.data()[i] = static_cast<Real>(std::sin(1.0 + 3.0 * static_cast<double>(i)));
      }
    }
  }
  std::vector<ParamSlot> Slots() {
    std::vector<ParamSlot> slots = {hidden.slot(), head.slot(), bias.slot()};
    slots[0].role = ParamRole::kHiddenMatrix;
    slots[1].role = ParamRole::kOutputHead;
    slots[2].role = ParamRole::kVector;
    return slots;
  }
  void ComputeGradients() {
    for (TestParam* p : {&hidden, &head, &bias}) {
      const Matrix d = p->value.array() - Real(0.3);
      p->grad = d + Real(0.1) * d.cwiseProduct(d).cwiseProduct(d);
      p->grad.row(1).setZero();  // A zero-gradient row.
    }
  }
  TestParam hidden, head, bias;
};

TEST(StateIoTest, EveryOptimizerResumesBitIdentically) {
  constexpr int kBefore = 7, kAfter = 8;
  for (const spec::ComponentSpec* spec : Catalog().List(spec::ComponentKind::kOptimizer)) {
    const spec::ParamMap params = StatefulParams(spec->name);
    absl::StatusOr<std::unique_ptr<Optimizer>> straight = MakeOptimizer(spec->name, params);
    absl::StatusOr<std::unique_ptr<Optimizer>> first = MakeOptimizer(spec->name, params);
    absl::StatusOr<std::unique_ptr<Optimizer>> resumed = MakeOptimizer(spec->name, params);
    ASSERT_TRUE(straight.ok() && first.ok() && resumed.ok()) << spec->name;
    const double lr = 0.01;
    Problem a, b;
    for (int t = 0; t < kBefore + kAfter; ++t) {
      a.ComputeGradients();
      (*straight)->Step(a.Slots(), lr);
    }
    for (int t = 0; t < kBefore; ++t) {
      b.ComputeGradients();
      (*first)->Step(b.Slots(), lr);
    }
    absl::StatusOr<OptimizerState> saved =
        LoadOptimizerState(SaveOptimizerState((*first)->state()));
    ASSERT_TRUE(saved.ok()) << spec->name << ": " << saved.status();
    first->reset();  // The original instance is gone; only the bytes survive.
    *(*resumed)->mutable_state() = *std::move(saved);
    for (int t = 0; t < kAfter; ++t) {
      b.ComputeGradients();
      (*resumed)->Step(b.Slots(), lr);
    }
    EXPECT_TRUE(BitIdentical(a.hidden.value, b.hidden.value)) << spec->name;
    EXPECT_TRUE(BitIdentical(a.head.value, b.head.value)) << spec->name;
    EXPECT_TRUE(BitIdentical(a.bias.value, b.bias.value)) << spec->name;
    EXPECT_FALSE(a.hidden.value.isApprox(Problem().hidden.value)) << spec->name << " never moved";
  }
}

TEST(StateIoTest, ResumingWithoutTheStateDiverges) {
  // The check above can fail: a fresh optimizer (state lost) does not continue the trajectory.
  absl::StatusOr<std::unique_ptr<Optimizer>> straight = MakeOptimizer("adam", {});
  absl::StatusOr<std::unique_ptr<Optimizer>> fresh = MakeOptimizer("adam", {});
  ASSERT_TRUE(straight.ok() && fresh.ok());
  Problem a, b;
  for (int t = 0; t < 4; ++t) {
    a.ComputeGradients();
    (*straight)->Step(a.Slots(), 0.01);
    b.ComputeGradients();
    (*fresh)->Step(b.Slots(), 0.01);
  }
  fresh = MakeOptimizer("adam", {});
  ASSERT_TRUE(fresh.ok());
  a.ComputeGradients();
  (*straight)->Step(a.Slots(), 0.01);
  b.ComputeGradients();
  (*fresh)->Step(b.Slots(), 0.01);
  EXPECT_FALSE(BitIdentical(a.hidden.value, b.hidden.value));
}

}  // namespace
}  // namespace optbench::engine

#include "worker/engine/model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using testing::ModelBufferRealsPerRow;
using testing::ModelParameterCount;

using testing::ValidateTrainJob;

using ::optbench::testing::CheckModelGradient;
using ::optbench::testing::EntrySubset;
using ::optbench::testing::GradientCheckResult;
using ::optbench::testing::GradientTolerance;
using ::optbench::testing::MeanCrossEntropy;
using ::optbench::testing::MeanCrossEntropyGradient;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

// A small model: V = 13 tokens, contexts of T = 6, d = 8 with 2 heads, L = 2, MLP width 10.
TransformerOptions SmallOptions() {
  TransformerOptions o;
  o.context = 6;
  o.vocab = 13;
  o.d_model = 8;
  o.heads = 2;
  o.layers = 2;
  o.mlp_width = 10;
  o.init_std = 0.3;  // Large enough that every layer is far from linear.
  return o;
}

Matrix Tokens(int64_t rows, const TransformerOptions& o, uint64_t seed) {
  Rng rng(seed);
  Matrix x(rows, o.context);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x.data()[i] = static_cast<Real>(rng.UniformInt(static_cast<uint64_t>(o.vocab)));
  }
  return x;
}

std::vector<int32_t> Labels(int64_t rows, const TransformerOptions& o, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> y(static_cast<size_t>(rows));
  for (int32_t& v : y) v = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(o.vocab)));
  return y;
}

// LayerNorm gains 1 and biases 0 are special points (e.g. a zero bias gradient would still be
// checked at a symmetric point); move every trained tensor to a generic random point.
void Randomize(TransformerModel* model, uint64_t seed) {
  Rng rng(seed);
  for (const ParamSlot& s : model->AllTensors()) {
    const bool gain = s.id.find(".gain") != std::string::npos;
    for (Eigen::Index i = 0; i < s.value->size(); ++i) {
      s.value->data()[i] += static_cast<Real>((gain ? 0.2 : 0.1) * rng.Normal());
    }
  }
}

// Central differences of the mean loss against Backward, for up to 12 random coordinates of every
// trained tensor (all of a tensor with <= 12 entries). With h = 1e-5 in float64 the truncation
// error is ~h^2 |L'''| ~ 1e-10 and the rounding error ~1e-16 |L| / h ~ 1e-11 for L ~ 2.6, so
// |analytic - numeric| <= 1e-8 + 1e-6 |numeric| holds for a correct gradient with a wide margin,
// while any wrong term (a missing path, a transposed weight) is off by far more than 1e-8 at
// these O(0.1) weights: every checked tensor must have some coordinate with |gradient| > 1e-5.
constexpr GradientTolerance kTransformerTolerance{/*step=*/1e-5, /*abs_tol=*/1e-8,
                                                  /*rel_tol=*/1e-6};
constexpr EntrySubset kTransformerEntries{/*max_per_tensor=*/12, /*seed=*/13};

void CheckGradient(TransformerModel* model, int64_t rows) {
  const TransformerOptions& o = model->options();
  const GradientCheckResult r = CheckModelGradient(model, Tokens(rows, o, 11), Labels(rows, o, 12),
                                                   kTransformerTolerance, kTransformerEntries);
  const std::vector<ParamSlot> params = model->Params();
  ASSERT_EQ(r.slots.size(), params.size());
  for (size_t s = 0; s < params.size(); ++s) {
    const ParamSlot& slot = params[s];
    EXPECT_EQ(r.slots[s].entries_checked, std::min<int64_t>(slot.value->size(), 12)) << slot.id;
    if (slot.id.find("attn.k.bias") != std::string::npos) {
      // A key bias adds q . b_k to every score of a query's row, which softmax ignores: its
      // gradient is exactly 0 (checked above against the differences, which are ~1e-12).
      EXPECT_LT(slot.grad->cwiseAbs().maxCoeff(), 1e-12) << slot.id;
    } else {
      EXPECT_GT(r.slots[s].max_abs_numeric, 1e-5)
          << slot.id << ": gradient too small for the check to mean anything";
    }
  }
}

TEST(TransformerModelTest, GradientMatchesFiniteDifferencesEveryTensor) {
  TransformerModel model(SmallOptions(), 1);
  Randomize(&model, 2);
  // 5 embedding/LN_f/head tensors + 16 per block.
  ASSERT_EQ(model.Params().size(), 2u + 2 * 16 + 2 + 2);
  CheckGradient(&model, 5);
}

TEST(TransformerModelTest, GradientMatchesFiniteDifferencesAllPositionsSinusoidalOneHead) {
  TransformerOptions o = SmallOptions();
  o.last_position_only = false;
  o.sinusoidal = true;
  o.heads = 1;
  o.layers = 3;
  TransformerModel model(o, 3);
  Randomize(&model, 4);
  CheckGradient(&model, 4);
}

TEST(TransformerModelTest, LastLayerOnlyGradientMatchesFiniteDifferences) {
  TransformerOptions o = SmallOptions();
  o.last_layer_only = true;
  TransformerModel model(o, 5);
  Randomize(&model, 6);
  CheckGradient(&model, 5);
}

// ---- PyTorch reference (tests/fixtures/transformer/make_fixture.py) ----------------------------

std::map<std::string, Matrix> LoadFixture(const std::string& file) {
  std::ifstream in(absl::StrCat(OPTBENCH_SOURCE_DIR, "/tests/fixtures/transformer/", file));
  EXPECT_TRUE(in.good()) << file;
  std::map<std::string, Matrix> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream header(line);
    std::string name;
    Eigen::Index rows = 0, cols = 0;
    header >> name >> rows >> cols;
    Matrix m(rows, cols);
    std::getline(in, line);
    std::istringstream values(line);
    for (Eigen::Index i = 0; i < m.size(); ++i) values >> m.data()[i];
    EXPECT_FALSE(values.fail()) << name;
    out[name] = m;
  }
  return out;
}

void ExpectClose(const Matrix& actual, const Matrix& expected, const std::string& what) {
  ASSERT_EQ(actual.rows(), expected.rows()) << what;
  ASSERT_EQ(actual.cols(), expected.cols()) << what;
  const double scale = std::max(1.0, expected.cwiseAbs().maxCoeff());
  EXPECT_LE((actual - expected).cwiseAbs().maxCoeff(), 1e-10 * scale) << what;
}

// Loads the fixture's tensors into the model (every tensor it has must be in the file), runs
// Forward/Backward and compares logits and the gradients of the trained tensors.
void CheckAgainstFixture(const std::string& file, TransformerOptions o) {
  std::map<std::string, Matrix> f = LoadFixture(file);
  ASSERT_TRUE(f.count("x") && f.count("logits") && f.count("dlogits"));
  o.context = f["x"].cols();
  o.vocab = f["logits"].cols();
  TransformerModel model(o, 0);
  for (const ParamSlot& s : model.AllTensors()) {
    ASSERT_TRUE(f.count(s.id)) << s.id;
    ASSERT_EQ(f[s.id].rows(), s.value->rows()) << s.id;
    ASSERT_EQ(f[s.id].cols(), s.value->cols()) << s.id;
    *s.value = f[s.id];
  }
  model.ZeroGrad();
  Matrix logits(f["x"].rows(), o.vocab);
  model.Forward(f["x"], logits);
  ExpectClose(logits, f["logits"], "logits");
  model.Backward(f["dlogits"]);
  int64_t compared = 0;
  for (const ParamSlot& s : model.Params()) {
    ASSERT_TRUE(f.count("grad." + s.id)) << s.id;
    ExpectClose(*s.grad, f["grad." + s.id], "grad." + s.id);
    ++compared;
  }
  // The file has a gradient for exactly the trained tensors.
  int64_t in_file = 0;
  for (const auto& [name, m] : f) in_file += name.rfind("grad.", 0) == 0 ? 1 : 0;
  EXPECT_EQ(compared, in_file);
}

TransformerOptions FixtureOptions() {
  TransformerOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.layers = 2;
  o.mlp_width = 12;
  return o;
}

TEST(TransformerModelTest, MatchesPyTorchReference) {
  CheckAgainstFixture("transformer_full.txt", FixtureOptions());
}

TEST(TransformerModelTest, MatchesPyTorchReferenceComputingEveryPositionInTheLastBlock) {
  TransformerOptions o = FixtureOptions();
  o.last_position_only = false;
  CheckAgainstFixture("transformer_full.txt", o);
}

TEST(TransformerModelTest, LastLayerOnlyMatchesPyTorchReference) {
  TransformerOptions o = FixtureOptions();
  o.last_layer_only = true;
  o.sinusoidal = true;
  CheckAgainstFixture("transformer_last_layer.txt", o);
}

// ---- structure -----------------------------------------------------------------------------

TEST(TransformerModelTest, SlotIdsRolesAndCounts) {
  TransformerModel model(SmallOptions(), 1);
  std::map<std::string, ParamRole> roles;
  int64_t count = 0;
  for (const ParamSlot& s : model.Params()) {
    roles[s.id] = s.role;
    count += s.value->size();
    EXPECT_EQ(s.grad->rows(), s.value->rows()) << s.id;
    EXPECT_EQ(s.grad->cols(), s.value->cols()) << s.id;
  }
  EXPECT_EQ(roles.at("embed.token"), ParamRole::kEmbedding);
  EXPECT_EQ(roles.at("embed.position"), ParamRole::kEmbedding);
  EXPECT_EQ(roles.at("block1.attn.q.weight"), ParamRole::kHiddenMatrix);
  EXPECT_EQ(roles.at("block0.mlp.proj.weight"), ParamRole::kHiddenMatrix);
  EXPECT_EQ(roles.at("block0.ln1.gain"), ParamRole::kVector);
  EXPECT_EQ(roles.at("block1.attn.o.bias"), ParamRole::kVector);
  EXPECT_EQ(roles.at("ln_f.bias"), ParamRole::kVector);
  EXPECT_EQ(roles.at("head.weight"), ParamRole::kOutputHead);
  EXPECT_EQ(roles.at("head.bias"), ParamRole::kVector);
  EXPECT_EQ(count, TransformerParameterCount(SmallOptions()));
  // Hand count: V d + T d + L (4 d^2 + 2 m d + 9 d + m) + 2 d + V d + V.
  EXPECT_EQ(count, 13 * 8 + 6 * 8 + 2 * (4 * 64 + 2 * 10 * 8 + 9 * 8 + 10) + 16 + 13 * 8 + 13);
}

TEST(TransformerModelTest, LastLayerOnlyExposesOnlyTheHead) {
  TransformerOptions o = SmallOptions();
  o.last_layer_only = true;
  TransformerModel model(o, 1);
  const std::vector<ParamSlot> slots = model.Params();
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots[0].id, "head.weight");
  EXPECT_EQ(slots[0].role, ParamRole::kOutputHead);
  EXPECT_EQ(slots[1].id, "head.bias");
  EXPECT_EQ(slots[1].role, ParamRole::kVector);
  EXPECT_EQ(TransformerParameterCount(o), 13 * 8 + 13);
  // The frozen tensors exist (AllTensors) but have no gradient, and no LN or MLP.
  int64_t frozen = 0;
  for (const ParamSlot& s : model.AllTensors()) {
    EXPECT_EQ(s.id.find("ln"), std::string::npos) << s.id;
    EXPECT_EQ(s.id.find("mlp"), std::string::npos) << s.id;
    if (s.grad == nullptr) frozen += s.value->size();
  }
  EXPECT_EQ(frozen, TransformerFrozenReals(o));
}

TEST(TransformerModelTest, ZeroHeadGivesUniformLogits) {
  TransformerOptions o = SmallOptions();
  o.zero_head = true;
  TransformerModel model(o, 1);
  Matrix logits(3, o.vocab);
  model.Forward(Tokens(3, o, 1), logits);
  EXPECT_EQ(logits, Matrix::Zero(3, o.vocab));
}

TEST(TransformerModelTest, HeadInputIsTheFinalNormalizedLastPosition) {
  TransformerModel model(SmallOptions(), 1);
  Randomize(&model, 2);
  const Matrix x = Tokens(4, SmallOptions(), 3);
  Matrix logits(4, 13);
  model.Forward(x, logits);
  ASSERT_TRUE(model.HeadInput().has_value());
  const Matrix f = *model.HeadInput();
  ASSERT_EQ(f.rows(), 4);
  ASSERT_EQ(f.cols(), 8);
  Matrix expected = f * model.AllTensors()[model.AllTensors().size() - 2].value->transpose();
  for (Eigen::Index i = 0; i < 4; ++i) {
    expected.row(i) += model.AllTensors().back().value->col(0).transpose();
  }
  EXPECT_TRUE(logits.isApprox(expected, 1e-13));
}

// ---- causality -----------------------------------------------------------------------------

TEST(TransformerModelTest, EveryContextTokenAffectsTheLogits) {
  for (bool last_layer_only : {false, true}) {
    TransformerOptions o = SmallOptions();
    o.last_layer_only = last_layer_only;
    TransformerModel model(o, 7);
    Randomize(&model, 8);
    Matrix x = Tokens(1, o, 9);
    Matrix base(1, o.vocab), changed(1, o.vocab);
    model.Forward(x, base);
    for (Eigen::Index p = 0; p < o.context; ++p) {
      Matrix y = x;
      y(0, p) = std::fmod(y(0, p) + 1, static_cast<Real>(o.vocab));
      model.Forward(y, changed);
      EXPECT_GT((changed - base).cwiseAbs().maxCoeff(), 1e-6)
          << "position " << p << " last_layer_only " << last_layer_only;
    }
  }
}

TEST(TransformerModelTest, HiddenStateAtPositionTDependsOnlyOnTokensUpToT) {
  TransformerOptions o = SmallOptions();
  o.last_position_only = false;
  TransformerModel model(o, 7);
  Randomize(&model, 8);
  const Matrix x = Tokens(1, o, 9);
  Matrix logits(1, o.vocab);
  model.Forward(x, logits);
  const Matrix base = model.FinalHiddenStates();
  ASSERT_EQ(base.rows(), o.context);
  for (Eigen::Index s = 0; s < o.context; ++s) {
    Matrix y = x;
    y(0, s) = std::fmod(y(0, s) + 5, static_cast<Real>(o.vocab));
    model.Forward(y, logits);
    const Matrix h = model.FinalHiddenStates();
    for (Eigen::Index t = 0; t < o.context; ++t) {
      const double diff = (h.row(t) - base.row(t)).cwiseAbs().maxCoeff();
      if (t < s) {
        EXPECT_EQ(diff, 0.0) << "position " << t << " sees the later token at " << s;
      } else {
        EXPECT_GT(diff, 1e-6) << "position " << t << " ignores the token at " << s;
      }
    }
  }
}

// ---- training behaviour --------------------------------------------------------------------

TEST(TransformerModelTest, ChunkedGradientsEqualFullBatchAndBuffersAreNotCachedByAddress) {
  const TransformerOptions o = SmallOptions();
  TransformerModel whole(o, 3), chunked(o, 3);
  const Matrix x = Tokens(7, o, 4);
  const std::vector<int32_t> y = Labels(7, o, 5);
  MeanCrossEntropyGradient(&whole, x, y);
  chunked.ZeroGrad();
  // Two chunks through one reused buffer (as the trainer does), the second one shorter.
  Matrix buffer(4, o.context), logits(4, o.vocab);
  const std::pair<Eigen::Index, Eigen::Index> chunks[] = {{0, 4}, {4, 3}};
  for (const auto& [start, rows] : chunks) {
    buffer.topRows(rows) = x.middleRows(start, rows);
    auto l = logits.topRows(rows);
    chunked.Forward(buffer.topRows(rows), l);
    SoftmaxCrossEntropy(l, y.data() + start, Real{1} / 7, nullptr);
    chunked.Backward(l);
  }
  const std::vector<ParamSlot> a = whole.Params(), b = chunked.Params();
  for (size_t i = 0; i < a.size(); ++i) {
    // Absolute tolerance: the key biases' gradients are 0 up to rounding (see CheckGradient).
    EXPECT_LE((*a[i].grad - *b[i].grad).cwiseAbs().maxCoeff(),
              1e-12 * std::max(1.0, a[i].grad->cwiseAbs().maxCoeff()))
        << a[i].id;
  }
}

TEST(TransformerModelTest, LastLayerOnlyTrainingIsConvexAndFeaturesStayFixed) {
  TransformerOptions o = SmallOptions();
  o.last_layer_only = true;
  o.zero_head = true;
  TransformerModel model(o, 21);
  const Matrix x = Tokens(40, o, 22);
  const std::vector<int32_t> y = Labels(40, o, 23);
  Matrix logits(40, o.vocab);
  model.Forward(x, logits);
  const Matrix features = *model.HeadInput();
  double previous = MeanCrossEntropy(&model, x, y);
  EXPECT_NEAR(previous, std::log(13.0), 1e-12);  // Zero head: uniform prediction.
  for (int step = 0; step < 30; ++step) {
    MeanCrossEntropyGradient(&model, x, y);
    EXPECT_EQ(*model.HeadInput(), features) << "step " << step;
    for (const ParamSlot& s : model.Params()) *s.value -= 0.05 * *s.grad;
    const double loss = MeanCrossEntropy(&model, x, y);
    EXPECT_LT(loss, previous) << "step " << step;
    previous = loss;
  }
  EXPECT_LT(previous, std::log(13.0) - 0.1);
}

TEST(TransformerModelTest, LastLayerOnlyFeatureCacheIsKeyedByContentNotByBuffer) {
  TransformerOptions o = SmallOptions();
  o.last_layer_only = true;
  TransformerModel model(o, 31), fresh(o, 31);
  const Matrix a = Tokens(5, o, 32), b = Tokens(5, o, 33);
  Matrix buffer = a, logits(5, o.vocab), expected(5, o.vocab);
  model.Forward(buffer, logits);
  // Same buffer, new contents (as the trainer refills its chunk buffer): b's features, not a's.
  buffer = b;
  model.Forward(buffer, logits);
  fresh.Forward(b, expected);
  EXPECT_EQ(logits, expected);
  const Matrix logits_b = logits;
  // One token changed in place: a different chunk.
  buffer(2, 3) = std::fmod(buffer(2, 3) + 1, static_cast<Real>(o.vocab));
  model.Forward(buffer, logits);
  fresh.Forward(buffer, expected);
  EXPECT_EQ(logits, expected);
  EXPECT_GT((logits.row(2) - logits_b.row(2)).cwiseAbs().maxCoeff(), 1e-9);
  // A cache hit (a again) gives exactly the computed features and a correct head gradient.
  model.Forward(a, logits);
  fresh.Forward(a, expected);
  EXPECT_EQ(logits, expected);
  EXPECT_EQ(Matrix(*model.HeadInput()), Matrix(*fresh.HeadInput()));
  model.ZeroGrad();
  fresh.ZeroGrad();
  model.Backward(expected);
  fresh.Backward(expected);
  EXPECT_EQ(*model.Params()[0].grad, *fresh.Params()[0].grad);
  // Changing a frozen tensor through AllTensors drops the cache.
  for (TransformerModel* m : {&model, &fresh}) m->AllTensors()[0].value->array() += 0.5;
  model.Forward(a, logits);
  TransformerModel changed(o, 31);
  changed.AllTensors()[0].value->array() += 0.5;
  changed.Forward(a, expected);
  EXPECT_EQ(logits, expected);
}

// ---- options -------------------------------------------------------------------------------

TEST(TransformerModelTest, BadOptionsNameTheValue) {
  TransformerOptions o = SmallOptions();
  o.d_model = 10;
  o.heads = 3;
  EXPECT_THAT(ValidateTransformerOptions(o).message(),
              HasSubstr("model.heads: d_model 10 is not divisible by heads 3"));
  o = SmallOptions();
  o.layers = 0;
  EXPECT_THAT(ValidateTransformerOptions(o).message(), HasSubstr("model.layers: 0"));
  EXPECT_TRUE(ValidateTransformerOptions(SmallOptions()).ok());

  absl::StatusOr<std::unique_ptr<Model>> model =
      MakeModel("transformer", {{"d_model", int64_t{10}}, {"heads", int64_t{4}}}, 6, 13, 0);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("d_model 10 is not divisible by heads 4"));
  EXPECT_THAT(
      std::string(MakeModel("transformer", {{"positional", std::string("rotary")}}, 6, 13, 0)
                      .status()
                      .message()),
      HasSubstr("rotary"));
}

TEST(TransformerModelTest, RegistryBuildsItAndCountsMatch) {
  const spec::ParamMap p = {{"d_model", int64_t{8}},
                            {"heads", int64_t{2}},
                            {"layers", int64_t{2}},
                            {"mlp_width", int64_t{10}},
                            {"init_std", 0.3}};
  absl::StatusOr<std::unique_ptr<Model>> model = MakeModel("transformer", p, 6, 13, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_inputs(), 6);
  EXPECT_EQ((*model)->num_outputs(), 13);
  int64_t count = 0;
  for (const ParamSlot& s : (*model)->Params()) count += s.value->size();
  absl::StatusOr<int64_t> declared = ModelParameterCount("transformer", p, 6, 13);
  ASSERT_TRUE(declared.ok());
  EXPECT_EQ(*declared, count);
  absl::StatusOr<int64_t> buffers = ModelBufferRealsPerRow("transformer", p, 6, 13);
  ASSERT_TRUE(buffers.ok());
  EXPECT_GT(*buffers, 6 * 8 * 2 * 4);  // At least K, V, LN1 and its output per block.
}

TEST(TransformerModelTest, JobSpecNeedsTextDataAndDivisibleHeads) {
  TrainJob spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.model.name = "transformer";
  spec.optimizer.name = "adam";
  absl::StatusOr<TrainJob> out = ValidateTrainJob(spec);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("dataset 'heavy_tail_uniform'"));
  spec.dataset.name = "text";
  spec.model.params["heads"] = int64_t{3};
  out = ValidateTrainJob(spec);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("d_model 64 is not divisible by heads 3"));
  spec.model.params["heads"] = int64_t{4};
  EXPECT_TRUE(ValidateTrainJob(spec).ok());
}

}  // namespace
}  // namespace optbench::engine

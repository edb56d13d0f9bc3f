#include "spec/params.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"

namespace optbench::spec {
namespace {

using ::testing::HasSubstr;

const ComponentSpec& Spec(ComponentKind kind, const std::string& name) {
  absl::StatusOr<const ComponentSpec*> spec = engine::Catalog().Find(kind, name);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return **spec;
}

// A component's parameters validated as the catalog validates them (prefixed by the kind).
absl::StatusOr<ParamMap> ValidateParams(const ComponentSpec& spec, const ParamMap& given) {
  return engine::Catalog().ValidateComponent(spec.kind, spec.name, given);
}

std::string ErrorOf(const ComponentSpec& spec, const ParamMap& given) {
  absl::StatusOr<ParamMap> out = ValidateParams(spec, given);
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST(ParamsTest, UnknownParameterListsKnownOnes) {
  const std::string msg = ErrorOf(Spec(ComponentKind::kOptimizer, "adam"), {{"lrr", 0.1}});
  EXPECT_THAT(msg, HasSubstr("optimizer.lrr: unknown parameter of optimizer 'adam'"));
  EXPECT_THAT(msg, HasSubstr("known: lr, beta1, beta2, eps, bias_correction"));
}

TEST(ParamsTest, WrongTypeNamesFieldAndExpectedType) {
  const ComponentSpec& adam = Spec(ComponentKind::kOptimizer, "adam");
  EXPECT_THAT(ErrorOf(adam, {{"lr", std::string("fast")}}),
              HasSubstr("optimizer.lr: expected double, got 'fast'"));
  EXPECT_THAT(ErrorOf(adam, {{"bias_correction", int64_t{1}}}),
              HasSubstr("optimizer.bias_correction: expected bool"));
  EXPECT_THAT(ErrorOf(Spec(ComponentKind::kDataset, "heavy_tail_uniform"), {{"m", true}}),
              HasSubstr("dataset.m: expected int"));
}

TEST(ParamsTest, RangesIncludingExclusiveBounds) {
  const ComponentSpec& adam = Spec(ComponentKind::kOptimizer, "adam");
  EXPECT_THAT(ErrorOf(adam, {{"lr", 0.0}}),
              HasSubstr("optimizer.lr: 0 is out of range; allowed (0, 1e+06]"));
  EXPECT_THAT(ErrorOf(adam, {{"beta1", 1.0}}), HasSubstr("optimizer.beta1: 1 is out of range"));
  EXPECT_THAT(ErrorOf(adam, {{"beta1", -0.1}}), HasSubstr("allowed [0, 1)"));
  EXPECT_TRUE(ValidateParams(adam, {{"beta1", 0.0}}).ok());  // The inclusive lower bound.
  EXPECT_TRUE(ValidateParams(adam, {{"lr", 1e6}}).ok());     // The inclusive upper bound.
  EXPECT_THAT(ErrorOf(Spec(ComponentKind::kDataset, "heavy_tail_uniform"), {{"m", int64_t{15}}}),
              HasSubstr("dataset.m: 15 is out of range; allowed [2, 14]"));
  EXPECT_THAT(ErrorOf(Spec(ComponentKind::kModel, "linear"), {{"init", std::string("normal")}}),
              HasSubstr("model.init: 'normal' is not allowed; allowed one of zeros, uniform"));
}

TEST(ParamsTest, NonFiniteDoublesAreRejected) {
  const ComponentSpec& gd = Spec(ComponentKind::kOptimizer, "gd");
  EXPECT_THAT(ErrorOf(gd, {{"lr", std::numeric_limits<double>::infinity()}}),
              HasSubstr("optimizer.lr: inf is not a finite number"));
  EXPECT_THAT(ErrorOf(gd, {{"momentum", std::nan("")}}),
              HasSubstr("optimizer.momentum: nan is not a finite number"));
}

TEST(ParamsTest, IntegralDoubleIsAcceptedForIntAndIntForDouble) {
  const ComponentSpec& d1 = Spec(ComponentKind::kDataset, "heavy_tail_uniform");
  absl::StatusOr<ParamMap> out = ValidateParams(d1, {{"m", 7.0}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(GetInt(*out, "m"), 7);
  EXPECT_THAT(ErrorOf(d1, {{"m", 7.5}}), HasSubstr("dataset.m: expected int, got '7.5'"));

  absl::StatusOr<ParamMap> gd =
      ValidateParams(Spec(ComponentKind::kOptimizer, "gd"), {{"lr", int64_t{2}}});
  ASSERT_TRUE(gd.ok()) << gd.status();
  EXPECT_EQ(GetDouble(*gd, "lr"), 2.0);
}

TEST(ParamsTest, DefaultsAreFilled) {
  absl::StatusOr<ParamMap> out = ValidateParams(Spec(ComponentKind::kOptimizer, "adam"), {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(GetDouble(*out, "lr"), 1e-3);
  EXPECT_EQ(GetDouble(*out, "beta1"), 0.9);
  EXPECT_EQ(GetDouble(*out, "beta2"), 0.999);
  EXPECT_EQ(GetDouble(*out, "eps"), 1e-8);
  EXPECT_TRUE(GetBool(*out, "bias_correction"));

  absl::StatusOr<ParamMap> linear =
      ValidateParams(Spec(ComponentKind::kModel, "linear"), {{"bias", false}});
  ASSERT_TRUE(linear.ok()) << linear.status();
  EXPECT_FALSE(GetBool(*linear, "bias"));
  EXPECT_EQ(GetString(*linear, "init"), "zeros");
}

TEST(ParamsTest, DescribesAllowedValues) {
  ParamSpec p;
  p.type = ParamType::kDouble;
  p.min = 0.0;
  p.max = 1.0;
  p.max_exclusive = true;
  EXPECT_EQ(DescribeAllowed(p), "[0, 1)");
  p.max.reset();
  p.min_exclusive = true;
  EXPECT_EQ(DescribeAllowed(p), "> 0");
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  EXPECT_EQ(FormatDouble(1e-8), "1e-08");
  // Whole numbers below 10^6 in full, still the shortest exact form otherwise.
  EXPECT_EQ(FormatDouble(10), "10");
  EXPECT_EQ(FormatDouble(-10), "-10");
  EXPECT_EQ(FormatDouble(123456), "123456");
  EXPECT_EQ(FormatDouble(2.5), "2.5");
  EXPECT_EQ(FormatDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatDouble(1e6), "1e+06");
  EXPECT_EQ(FormatDouble(1e16), "1e+16");
}

}  // namespace
}  // namespace optbench::spec

#include "spec/options.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace optbench::spec {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

enum class Mode { kFast, kExact };

struct Options {
  double rate = 0.5;
  int steps = 3;
  bool on = true;
  std::string name = "x";
  std::vector<int64_t> widths = {4, 2};
  Mode mode = Mode::kExact;
  double extra = 0;  // Only read by mode fast.
  int64_t unbound_member = 7;
};

Binding<Options> TheBinding(Options prototype = Options()) {
  return Binding<Options>(
      {Unbound<Options>(DoubleParam("lr", 0.1, Above(0), "not in the struct")),
       Bind(&Options::rate, "rate", HalfOpen(0, 1), "a rate"),
       Bind(&Options::steps, "steps", Closed(1, 10), "steps"), Bind(&Options::on, "on", "on"),
       Bind(&Options::name, "name", {"x", "y"}, "a name"),
       Bind(&Options::widths, "widths", AtLeast(1), "widths"),
       BindChoice(&Options::mode, "mode", {{"fast", Mode::kFast}, {"exact", Mode::kExact}}, "mode"),
       UsedWhen(Bind(&Options::extra, "extra", Any(), "fast only"), "mode", "fast")},
      prototype);
}

TEST(OptionsTest, DefaultsComeFromThePrototype) {
  const Binding<Options> binding = TheBinding();
  const std::vector<ParamSpec>& params = binding.params();
  std::vector<std::string> names;
  for (const ParamSpec& p : params) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("lr", "rate", "steps", "on", "name", "widths", "mode", "extra"));
  EXPECT_EQ(params[1].default_value, ParamValue(0.5));
  EXPECT_EQ(params[2].default_value, ParamValue(int64_t{3}));
  EXPECT_EQ(params[2].type, ParamType::kInt);
  EXPECT_EQ(params[4].choices, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(params[6].default_value, ParamValue(std::string("exact")));
  EXPECT_EQ(params[6].choices, (std::vector<std::string>{"fast", "exact"}));
  Options other;
  other.rate = 0.25;
  EXPECT_EQ(TheBinding(other).params()[1].default_value, ParamValue(0.25));
}

TEST(OptionsTest, ReadAndWriteRoundTrip) {
  const Binding<Options> binding = TheBinding();
  absl::StatusOr<ParamMap> validated = ValidateParams(
      binding.params(),
      {{"rate", 0.75}, {"steps", int64_t{9}}, {"mode", std::string("fast")}, {"extra", 2.0}},
      "thing", "thing 't'");
  ASSERT_TRUE(validated.ok()) << validated.status();
  const Options o = binding.Read(*validated);
  EXPECT_EQ(o.rate, 0.75);
  EXPECT_EQ(o.steps, 9);
  EXPECT_TRUE(o.on);
  EXPECT_EQ(o.mode, Mode::kFast);
  EXPECT_EQ(o.extra, 2.0);
  EXPECT_EQ(o.unbound_member, 7);  // Members no field reads keep the prototype's value.
  ParamMap written = binding.Write(o);
  written["lr"] = 0.1;  // Unbound: declared, never written.
  EXPECT_EQ(written, *validated);
}

TEST(OptionsTest, UsedWhenRefusesANonDefaultValueElsewhere) {
  const Binding<Options> binding = TheBinding();
  EXPECT_THAT(ValidateParams(binding.params(), {{"extra", 1.0}}, "thing", "thing 't'"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("thing.extra: 1 is only used by mode 'fast' (mode is 'exact')")));
  // The default is harmless, so a validated map validates again.
  absl::StatusOr<ParamMap> once = ValidateParams(binding.params(), {}, "thing", "thing 't'");
  ASSERT_TRUE(once.ok());
  EXPECT_TRUE(ValidateParams(binding.params(), *once, "thing", "thing 't'").ok());
}

}  // namespace
}  // namespace optbench::spec

// `optbench plot` as a user runs it: a real process on a database that `optbench run` wrote.
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/client/png_image.h"
#include "tests/integration/subprocess.h"

namespace optbench {
namespace {

using testing::Result;  // stdout and stderr together

constexpr char kSweep[] = R"(name: tiny
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear, init: zeros}
trainer: {steps: 20, eval_every: 10}
optimizer:
  - {name: gd, lr: 0.5}
  - {name: adam, lr: 0.01}
)";

class PlotCliTest : public ::testing::Test {
 protected:
  // One database for the whole suite: training it is the slow part.
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/optbench_plot_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    std::ofstream(*dir_ + "/tiny.yaml") << kSweep;
    Result run = Run({"run", *dir_ + "/tiny.yaml", "--db", *dir_ + "/o.db", "--workers", "2"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
    sweep_ = new std::string(m[1]);
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete sweep_;
    dir_ = sweep_ = nullptr;
  }
  void SetUp() override {
    if (sweep_ == nullptr) GTEST_SKIP() << "optbench run failed (see the first test's output)";
  }

  static Result Run(std::vector<std::string> args) {
    static int calls = 0;
    args.insert(args.begin(), OPTBENCH_CLI_BIN);
    return testing::RunToCompletion(args, absl::StrCat(*dir_, "/cli.", calls++, ".log"),
                                    absl::Seconds(240));
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  static std::string* dir_;
  static std::string* sweep_;
};
std::string* PlotCliTest::dir_ = nullptr;
std::string* PlotCliTest::sweep_ = nullptr;

TEST_F(PlotCliTest, JobLayoutWritesAPanelPerJobAndALinePerGroup) {
  const std::string out = *dir_ + "/tiny.svg";
  Result r = Run({"plot", *sweep_, "--db", *dir_ + "/o.db", "--groups", "4", "--out", out,
                  "--title", "tiny & small", "--layout", "job"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + out + " (svg): 2 job(s)"), std::string::npos) << r.output;
  const std::string svg = Read(out);
  ASSERT_EQ(svg.rfind("<svg ", 0), 0u) << svg.substr(0, 200);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_NE(svg.find(">tiny &amp; small</text>"), std::string::npos);
  // m = 4: 15 classes whose 4 frequency groups are all non-empty; 2 jobs; evaluations at steps
  // 0, 10 and 20, all finite: one 3-point line per (job, group).
  EXPECT_EQ(Count(svg, "<polyline "), 2u * 4);
  for (int panel = 0; panel < 2; ++panel) {
    for (int g = 0; g < 4; ++g) {
      const std::string key = absl::StrCat("data-panel=\"", panel, "\" data-group=\"", g, "\"");
      const size_t at = svg.find("<polyline " + key);
      ASSERT_NE(at, std::string::npos) << key;
      const size_t points = svg.find("points=\"", at) + 8;
      const std::string list = svg.substr(points, svg.find('"', points) - points);
      EXPECT_EQ(std::count(list.begin(), list.end(), ','), 3) << key << ": " << list;
    }
  }
  EXPECT_NE(svg.find(">gd lr=0.5 seed=0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">adam lr=0.01 seed=0</text>"), std::string::npos);
  EXPECT_EQ(svg.find("data-reference"), std::string::npos);
}

TEST_F(PlotCliTest, GroupLayoutIsTheDefaultTitledWithTheSweepName) {
  const std::string out = *dir_ + "/groups.svg";
  Result r = Run({"plot", *sweep_, "--db", *dir_ + "/o.db", "--groups", "4", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string svg = Read(out);
  // A panel per group (4), a 3-point line per (group, job) tagged with the job's index.
  EXPECT_NE(svg.find("data-box=\"3\""), std::string::npos);
  EXPECT_EQ(svg.find("data-box=\"4\""), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline "), 4u * 2);
  for (int panel = 0; panel < 4; ++panel) {
    for (int job = 0; job < 2; ++job) {
      const std::string key = absl::StrCat("data-panel=\"", panel, "\" data-group=\"", panel,
                                           "\" data-job=\"", job, "\"");
      EXPECT_EQ(Count(svg, "<polyline " + key), 1u) << key;
    }
  }
  // m = 4: groups of 1, 2, 4 and 8 classes.
  EXPECT_NE(svg.find(">group 1 \u00b7 1 class \u00b7 most frequent</text>"), std::string::npos);
  EXPECT_NE(svg.find(">group 4 \u00b7 8 classes \u00b7 rarest</text>"), std::string::npos);
  // The legend names the jobs by what differs; the title is the sweep's name from its file.
  EXPECT_NE(svg.find(">gd lr=0.5</text>"), std::string::npos);
  EXPECT_NE(svg.find(">adam lr=0.01</text>"), std::string::npos);
  EXPECT_NE(svg.find("font-size=\"15\">tiny</text>"), std::string::npos) << svg.substr(0, 600);
}

TEST_F(PlotCliTest, LogStepAxisLeavesOutStepZero) {
  Result r = Run({"plot", *sweep_, "--db", *dir_ + "/o.db", "--groups", "4", "--log-x"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step (log scale)"), std::string::npos);
  // Evaluations at steps 0, 10 and 20: two points a line.
  EXPECT_EQ(Count(r.output, "<polyline "), 4u * 2);
  for (size_t at = r.output.find("<polyline "); at != std::string::npos;
       at = r.output.find("<polyline ", at + 1)) {
    const size_t points = r.output.find("points=\"", at) + 8;
    const std::string list = r.output.substr(points, r.output.find('"', points) - points);
    EXPECT_EQ(std::count(list.begin(), list.end(), ','), 2) << list;
  }
  EXPECT_NE(r.output.find(">10</text>"), std::string::npos);
  EXPECT_NE(r.output.find(">20</text>"), std::string::npos);
}

// The "width" and "height" of the SVG document `svg`.
void SvgSize(const std::string& svg, int* width, int* height) {
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(svg, m, std::regex("<svg [^>]*width=\"([0-9]+)\" height=\"([0-9]+)\"")))
      << svg.substr(0, 200);
  *width = std::stoi(m[1]);
  *height = std::stoi(m[2]);
}

TEST_F(PlotCliTest, WritesPngOfTheSameFigure) {
  const std::string db = *dir_ + "/o.db";
  Result svg = Run({"plot", *sweep_, "--db", db, "--groups", "4"});
  ASSERT_EQ(svg.exit_code, 0) << svg.output;
  int svg_width = 0, svg_height = 0;
  SvgSize(svg.output, &svg_width, &svg_height);
  const std::string out = *dir_ + "/groups.png";
  Result r = Run({"plot", *sweep_, "--db", db, "--groups", "4", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + out + " (png)"), std::string::npos) << r.output;
  int width = 0, height = 0;
  ASSERT_TRUE(testing::PngHeaderSize(Read(out), &width, &height));
  EXPECT_EQ(width, svg_width);
  EXPECT_EQ(height, svg_height);
  // Not blank: the two jobs' lines (Tableau 10's first two colours) are there, a few hundred
  // pixels each over 4 panels, and the rest is mostly white.
  const testing::Image image = testing::ReadPng(out);
  ASSERT_EQ(image.width, svg_width);
  EXPECT_GT(image.Count(0x4e79a7, 24), 200);
  EXPECT_GT(image.Count(0xf28e2b, 24), 200);
  EXPECT_GT(image.Count(0xffffff), width * height / 2);
  // --format png to standard output when that is not a terminal (here: a file).
  Result piped = Run({"plot", *sweep_, "--db", db, "--groups", "4", "--format", "png"});
  ASSERT_EQ(piped.exit_code, 0) << piped.output.substr(0, 200);
  ASSERT_TRUE(testing::PngHeaderSize(piped.output, &width, &height));
  EXPECT_EQ(width, svg_width);
}

TEST_F(PlotCliTest, WritesToStandardOutputWithLogAxisAndReferenceLine) {
  Result r = Run({"plot", *sweep_, "--db", *dir_ + "/o.db", "--log-y", "--reference", "log-c",
                  "--groups", "4", "--layout", "job"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.output.rfind("<svg ", 0), 0u) << r.output.substr(0, 300);
  EXPECT_EQ(Count(r.output, "data-reference=\""), 2u);
  // Zero initialization: the loss at step 0 is log 15 exactly, the reference line.
  EXPECT_NE(r.output.find(">log 15 = 2.70805</text>"), std::string::npos);
  EXPECT_NE(r.output.find("(log scale)"), std::string::npos);
}

TEST_F(PlotCliTest, BadValuesAreUsageErrorsNamingTheValue) {
  const std::string db = *dir_ + "/o.db";
  struct Case {
    std::vector<std::string> flags;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--groups", "0"}, 2, "--groups: '0'"},
      {{"--groups", "ten"}, 2, "--groups: 'ten'"},
      {{"--split", "validation"}, 2, "--split: 'validation'"},
      {{"--steps", "9:3"}, 2, "--steps: '9:3'"},
      {{"--width", "wide"}, 2, "--width: 'wide'"},
      {{"--width", "100"}, 2, "width: 100"},
      {{"--reference", "high"}, 2, "--reference: 'high'"},
      {{"--colour", "red"}, 2, "unknown flag --colour"},
      {{"--layout", "diagonal"}, 2, "--layout: 'diagonal' is not group or job"},
      {{"--out", "x.gif"}, 2, "--out: 'x.gif' ends in neither .svg nor .png"},
      {{"--format", "gif"}, 2, "--format: 'gif' is not svg or png"},
      {{"--format", "png"}, 2, "--format png contradicts --out"},
      {{"--metric", "bogus"}, 1, "bogus"},
      {{"--steps", "500:"}, 1, "nothing to plot"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"plot", *sweep_, "--db", db, "--out", *dir_ + "/bad.svg"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.flags[0] << " " << c.flags[1] << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.message << ": " << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(*dir_ + "/bad.svg"));
  Result missing = Run({"plot", "s-00000000", "--db", db});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("s-00000000"), std::string::npos) << missing.output;
  Result unwritable = Run({"plot", *sweep_, "--db", db, "--out", *dir_ + "/no/such/dir/f.svg"});
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.output.find("no/such/dir/f.svg"), std::string::npos) << unwritable.output;
}

}  // namespace
}  // namespace optbench

// Each component's, task's and metric's name is written in one product file, its declaration:
// nothing else matches on a name string (no registries, whitelists or special cases). The
// catalog lists the names; the product sources (everything but tests, benchmarks and docs) are
// searched for them as string literals, comments aside.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "spec/catalog.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/model_def.h"
#include "worker/engine/task/quantize.h"

namespace optbench::spec {
namespace {

// Names spelled like something else that is not a component or metric: the LR schedule and the
// plot axis "linear", the output format "csv", the split "train", the parameter "lr" (also the
// metric of the step size, declared in trainer.cc).
const std::set<std::string>& Homographs() {
  static const auto* names = new std::set<std::string>{"linear", "csv", "train", "lr"};
  return *names;
}

// `text` without // comments (a quote inside a comment does not open a string).
std::string WithoutComments(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      out.push_back('\n');
      continue;
    }
    if (c == '"') in_string = true;
    out.push_back(c);
  }
  return out;
}

std::map<std::string, std::string> ProductSources() {
  std::map<std::string, std::string> sources;
  for (const char* dir :
       {"common", "spec", "proto", "storage", "worker", "server", "sweep", "client"}) {
    const std::filesystem::path root = std::filesystem::path(OPTBENCH_SOURCE_DIR) / dir;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".cc" && ext != ".h" && ext != ".proto") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      sources[std::filesystem::relative(entry.path(), OPTBENCH_SOURCE_DIR).string()] =
          WithoutComments(text.str());
    }
  }
  return sources;
}

// The files holding "name" as a string literal.
std::vector<std::string> FilesNaming(const std::map<std::string, std::string>& sources,
                                     const std::string& name) {
  std::vector<std::string> files;
  const std::string literal = absl::StrCat("\"", name, "\"");
  for (const auto& [path, text] : sources) {
    if (absl::StrContains(text, literal)) files.push_back(path);
  }
  return files;
}

TEST(NamesTest, EachNameIsWrittenInOneProductFile) {
  const std::map<std::string, std::string> sources = ProductSources();
  ASSERT_GT(sources.size(), 50u);
  const Catalog& catalog = engine::Catalog();
  std::set<std::string> names;
  std::vector<MetricSpec> metrics;
  for (const TaskSpec* task : catalog.tasks()) {
    names.insert(task->name);
    metrics.insert(metrics.end(), task->metrics.begin(), task->metrics.end());
  }
  for (ComponentKind kind : {ComponentKind::kDataset, ComponentKind::kModel,
                             ComponentKind::kOptimizer, ComponentKind::kObjective}) {
    for (const ComponentSpec* c : catalog.List(kind)) {
      names.insert(c->name);
      metrics.insert(metrics.end(), c->metrics.begin(), c->metrics.end());
    }
  }
  // A model writes its diagnostics' bare names; the "diag." prefix is added in one place.
  const std::string prefix = engine::DiagnosticMetricName("");
  // The quantize task reports the objective's metrics of the full-precision model under one
  // more prefix, also added in one place.
  const std::string fp_prefix = engine::FullPrecisionMetricName("");
  auto bare = [&](const std::string& name) {
    if (absl::StartsWith(name, fp_prefix)) return name.substr(fp_prefix.size());
    return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
  };
  for (const MetricSpec& m : metrics) {
    names.insert(bare(m.name));
    if (!m.query.empty()) names.insert(bare(m.query));
  }
  ASSERT_GT(names.size(), 60u);
  for (const std::string& name : names) {
    const std::vector<std::string> files = FilesNaming(sources, name);
    if (Homographs().count(name) != 0) {
      EXPECT_GE(files.size(), 1u) << name;  // Declared somewhere, and written elsewhere too.
      continue;
    }
    EXPECT_EQ(files.size(), 1u) << "\"" << name << "\" is written in " << files.size()
                                << " product files: " << absl::StrJoin(files, ", ");
  }
}

}  // namespace
}  // namespace optbench::spec

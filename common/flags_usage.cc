#include "common/flags_usage.h"

#include <string>

#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#ifndef OPTBENCH_VERSION
#error "OPTBENCH_VERSION must be defined by the build (common/CMakeLists.txt)"
#endif

namespace optbench {

void ConfigureFlagsUsage(absl::string_view program) {
  // Our flags live in files named after their folder (server/coordinator_main.cc), and Abseil's
  // in absl/flags/...; the path prefix depends on the build (absolute, or relative under ccache's
  // base directory), so the test is on the part that does not.
  auto ours = [](absl::string_view file) { return !absl::StrContains(file, "absl/"); };
  absl::FlagsUsageConfig config;
  config.contains_help_flags = ours;
  config.contains_helpshort_flags = ours;
  config.version_string = [name = std::string(program)] {
    return absl::StrCat(name, " ", OptbenchVersion(), "\n");
  };
  absl::SetFlagsUsageConfig(config);
}

absl::string_view OptbenchVersion() { return OPTBENCH_VERSION; }

}  // namespace optbench

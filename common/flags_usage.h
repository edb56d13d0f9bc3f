// How the daemons' absl flags describe themselves: `--help` lists the flags this project defines
// and `--version` prints the project's version (CMake's PROJECT_VERSION).
#ifndef OPTBENCH_COMMON_FLAGS_USAGE_H_
#define OPTBENCH_COMMON_FLAGS_USAGE_H_

#include "absl/strings/string_view.h"

namespace optbench {

// Call first thing in main, before absl::ParseCommandLine. absl's `--help` by default lists only
// flags defined in a file whose name contains the program's name, which none of ours is
// (server/coordinator_main.cc for optbench-coordinator): this makes `--help` and `--helpshort`
// list every flag defined outside Abseil itself (Abseil's own, e.g. --flagfile, stay in
// `--helpfull`), and `--version` print "<program> <version>". Not thread-safe: call it once,
// before any thread starts.
void ConfigureFlagsUsage(absl::string_view program);

// The project's version (CMake's PROJECT_VERSION), e.g. "0.1.0": what `--version` prints after the
// program's name, for programs that parse their own arguments (the optbench CLI).
absl::string_view OptbenchVersion();

}  // namespace optbench

#endif  // OPTBENCH_COMMON_FLAGS_USAGE_H_

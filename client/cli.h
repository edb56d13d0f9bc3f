// The `optbench` command line: run (embedded coordinator + workers), submit, status, list,
// watch, cancel, query. RunCli is the whole program minus main(), so tests can drive it.
#ifndef OPTBENCH_CLIENT_CLI_H_
#define OPTBENCH_CLIENT_CLI_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace optbench::client {

// `args` excludes the program name. Output goes to `out`, diagnostics to `err`. Returns the exit
// code: 0 success, 1 failure (an RPC or job failed), 2 usage error.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace optbench::client

#endif  // OPTBENCH_CLIENT_CLI_H_

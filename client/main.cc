// optbench: the command-line client. See `optbench help`.
#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return optbench::client::RunCli(args, std::cout, std::cerr);
}

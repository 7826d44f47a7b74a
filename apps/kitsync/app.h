// The whole command line of `kitsync`, as one function: main() runs it once, and `kitsync batch`
// runs it for every line it reads, so a batch command behaves exactly as the same command typed.
#pragma once

#include <string>
#include <vector>

namespace kitsync::cli {

// Parses `args` (without the program name) and runs the command they name. Returns its exit code
// (the contract in cli_context.h). Output goes to std::cout and std::cerr.
int RunKitsync(const std::vector<std::string>& args);

}  // namespace kitsync::cli

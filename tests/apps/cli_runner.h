// Runs a program as a child process with a given stdin, working directory and environment, and
// captures its exit code, stdout and stderr.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kitsync::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal number if the child was killed
  std::string out;
  std::string err;

  // The command and everything it printed, for failure messages.
  std::string Describe() const;
  std::string command;
};

struct RunOptions {
  std::string stdin_data;
  std::filesystem::path working_dir;  // also where the captured output is kept
  // Variables to set (value) or remove (nullopt) on top of this process's environment.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
};

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const RunOptions& options);

}  // namespace kitsync::testing

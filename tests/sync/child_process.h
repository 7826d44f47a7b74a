// A child process for tests that run the real kitsync-server binary. The destructor kills and
// reaps it, so a failing assertion never leaves a server running or a zombie behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kitsync::synctest {

class ChildProcess {
 public:
  // Starts `path` with `args` (argv[1..]); its stdout and stderr go to `log_file` (appended).
  // Returns null and sets `error` when it cannot be started.
  static std::unique_ptr<ChildProcess> Spawn(const std::string& path,
                                             const std::vector<std::string>& args,
                                             const std::string& log_file, std::string* error);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // The raw waitpid status once the child has exited, waiting until `timeout` at most.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> status_;
};

struct RunResult {
  int status = -1;     // raw waitpid status; -1 when it did not finish in time
  std::string output;  // stdout
};
// Runs `path` to completion (at most `timeout`), capturing its stdout; stderr is inherited.
RunResult RunToCompletion(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout);

}  // namespace kitsync::synctest

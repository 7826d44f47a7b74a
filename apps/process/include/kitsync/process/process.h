// Real programs as child processes, for the end-to-end tests and the field scenario: run one to
// completion, or keep one (a server, a syncing tablet) running in the background. Every wait is
// bounded; a child is never left behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace kitsync::process {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal if killed; -1 if it could not start
  std::string out;
  std::string err;
  std::string Describe(const std::vector<std::string>& args) const;
};

// Runs `program` with `args` in `dir` (where its output is kept), with standard input read from
// `stdin_file` (none when empty). A child still running after `timeout` is killed.
ProcessResult RunProcess(const std::string& program, const std::vector<std::string>& args,
                         const std::string& dir, std::chrono::milliseconds timeout,
                         const std::string& stdin_file = "");

class BackgroundProcess {
 public:
  // Output (stdout and stderr) goes to `log_file`; standard input is read from `stdin_file`
  // (none when empty). Null if the program cannot be started.
  static std::unique_ptr<BackgroundProcess> Start(const std::string& program,
                                                  const std::vector<std::string>& args,
                                                  const std::string& log_file,
                                                  const std::string& stdin_file = "");
  // SIGTERM, then SIGKILL if it has not ended within a few seconds.
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // True once the child has exited (reaped).
  bool Exited();
  void Stop();
  // SIGKILL at once, as a crash or a pulled battery would end it, and reaps it.
  void Kill();
  // How the child ended, as ProcessResult::exit_code; -1 while it has not been reaped.
  int exit_code() const { return exit_code_; }
  pid_t pid() const { return pid_; }

 private:
  explicit BackgroundProcess(pid_t pid) : pid_(pid) {}
  void Reap(int status);
  pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace kitsync::process

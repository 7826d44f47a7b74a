// A child process whose standard output is a pipe to this process. The destructor kills and reaps
// it, so a failing assertion can never leave a writer running against the database or a zombie.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kitsync::crash {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset();

 private:
  int fd_ = -1;
};

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  enum class ReadStatus { kLine, kTimeout, kEof, kError };

  // Starts `path` with `args` (argv[1..]). Its stdout is a pipe read by ReadLine; stdin is
  // /dev/null and stderr is shared with this process so the child's complaints reach the log.
  // Returns null and sets `error` when the process cannot be started.
  static std::unique_ptr<ChildProcess> Spawn(const std::string& path,
                                             const std::vector<std::string>& args,
                                             std::string* error);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Reads one line (without its '\n') from the child's stdout, waiting until `deadline` at most.
  // kEof means the write end closed; a last line without '\n' is still returned first.
  ReadStatus ReadLine(Clock::time_point deadline, std::string* line);

  // SIGKILL; harmless once the child has exited.
  void Kill();

  // Reaps the child if it has exited, waiting until `deadline` at most. Returns the raw waitpid
  // status, or nothing if the child is still running at the deadline.
  std::optional<int> WaitUntil(Clock::time_point deadline);

  // The raw waitpid status, once reaped.
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  ChildProcess(pid_t pid, UniqueFd stdout_read);
  bool TryReap();

  pid_t pid_;
  UniqueFd stdout_read_;
  std::string buffer_;
  bool eof_ = false;
  std::optional<int> exit_status_;
};

}  // namespace kitsync::crash

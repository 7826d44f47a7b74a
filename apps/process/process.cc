#include "kitsync/process/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace kitsync::process {
namespace {

using namespace std::chrono_literals;

// fork + exec with stdin from `in_file` (/dev/null when empty) and stdout/stderr to the given
// files.
pid_t Spawn(const std::string& program, const std::vector<std::string>& args,
            const std::string& out_file, const std::string& err_file, const std::string& dir,
            const std::string& in_file = "") {
  const std::string in_path = in_file.empty() ? "/dev/null" : in_file;
  std::vector<std::string> argv_storage = {program};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls from here on. A child must not outlive the program that
  // started it (a scenario stopped with Ctrl-C, a test killed by its timeout): it is told to stop
  // when that program dies, and stops at once if that already happened.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127);
  const int in = open(in_path.c_str(), O_RDONLY);
  const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || err < 0) _exit(127);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  // Nothing else of the parent's: an inherited socket would keep a connection the parent closed
  // open (its peer never sees the reset), and an inherited database handle would hold locks.
  if (close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  }
  if (!dir.empty() && chdir(dir.c_str()) != 0) _exit(127);
  execv(program.c_str(), argv.data());
  _exit(127);
}

// Waits for `pid` until `timeout`; the raw status, or -1 if still running.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0) return 0;
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string ProcessResult::Describe(const std::vector<std::string>& args) const {
  std::ostringstream s;
  s << "command:";
  for (const auto& a : args) s << " " << a;
  s << "\nexit code: " << exit_code << "\n--- stdout ---\n" << out << "--- stderr ---\n" << err;
  return s.str();
}

ProcessResult RunProcess(const std::string& program, const std::vector<std::string>& args,
                         const std::string& dir, std::chrono::milliseconds timeout,
                         const std::string& stdin_file) {
  static int counter = 0;
  const std::string stem =
      dir + "/run-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  ProcessResult result;
  const pid_t pid = Spawn(program, args, stem + ".out", stem + ".err", dir, stdin_file);
  if (pid < 0) return result;
  int status = WaitFor(pid, timeout);
  if (status == -1) {
    kill(pid, SIGKILL);
    status = WaitFor(pid, 10s);
  }
  result.exit_code = status == -1 ? -1 : ExitCode(status);
  result.out = Slurp(stem + ".out");
  result.err = Slurp(stem + ".err");
  return result;
}

std::unique_ptr<BackgroundProcess> BackgroundProcess::Start(const std::string& program,
                                                            const std::vector<std::string>& args,
                                                            const std::string& log_file,
                                                            const std::string& stdin_file) {
  const pid_t pid = Spawn(program, args, log_file, log_file, "", stdin_file);
  if (pid < 0) return nullptr;
  return std::unique_ptr<BackgroundProcess>(new BackgroundProcess(pid));
}

void BackgroundProcess::Reap(int status) {
  reaped_ = true;
  exit_code_ = status == -1 ? -1 : ExitCode(status);
}

bool BackgroundProcess::Exited() {
  if (reaped_) return true;
  const int status = WaitFor(pid_, 0ms);
  if (status != -1) Reap(status);
  return reaped_;
}

void BackgroundProcess::Stop() {
  if (Exited()) return;
  kill(pid_, SIGTERM);
  int status = WaitFor(pid_, 10s);
  if (status == -1) {
    kill(pid_, SIGKILL);
    status = WaitFor(pid_, 10s);
  }
  Reap(status);
}

void BackgroundProcess::Kill() {
  if (Exited()) return;
  kill(pid_, SIGKILL);
  Reap(WaitFor(pid_, 10s));
}

BackgroundProcess::~BackgroundProcess() { Stop(); }

}  // namespace kitsync::process

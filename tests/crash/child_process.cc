#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace kitsync::crash {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.Release();
  }
  return *this;
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::Reset() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::unique_ptr<ChildProcess> ChildProcess::Spawn(const std::string& path,
                                                  const std::vector<std::string>& args,
                                                  std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    return nullptr;
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.valid()) {
    *error = std::string("open /dev/null: ") + std::strerror(errno);
    return nullptr;
  }

  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> argv_storage;
  argv_storage.reserve(args.size() + 1);
  argv_storage.push_back(path);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_storage.size() + 1);
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    // dup2 clears O_CLOEXEC on the new descriptors, so only 0, 1 and 2 survive exec.
    if (::dup2(dev_null.get(), STDIN_FILENO) < 0 || ::dup2(write_end.get(), STDOUT_FILENO) < 0) {
      _exit(127);
    }
    ::execv(argv[0], argv.data());
    static constexpr char kMessage[] = "crash test: execv of the writer failed\n";
    [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    _exit(127);
  }

  // Only the child may hold the write end, or the parent would never see EOF.
  write_end.Reset();
  int flags = ::fcntl(read_end.get(), F_GETFL);
  ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, std::move(read_end)));
}

ChildProcess::ChildProcess(pid_t pid, UniqueFd stdout_read)
    : pid_(pid), stdout_read_(std::move(stdout_read)) {}

ChildProcess::~ChildProcess() {
  if (exit_status_.has_value()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

ChildProcess::ReadStatus ChildProcess::ReadLine(Clock::time_point deadline, std::string* line) {
  while (true) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      line->assign(buffer_, 0, newline);
      buffer_.erase(0, newline + 1);
      return ReadStatus::kLine;
    }
    if (eof_) {
      if (buffer_.empty()) return ReadStatus::kEof;
      line->swap(buffer_);
      buffer_.clear();
      return ReadStatus::kLine;
    }

    char chunk[4096];
    ssize_t n = ::read(stdout_read_.get(), chunk, sizeof(chunk));
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      eof_ = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ReadStatus::kError;

    auto now = Clock::now();
    if (now >= deadline) return ReadStatus::kTimeout;
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd pfd{stdout_read_.get(), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(wait_ms));
    if (rc < 0 && errno != EINTR) return ReadStatus::kError;
  }
}

void ChildProcess::Kill() {
  if (!exit_status_.has_value()) ::kill(pid_, SIGKILL);
}

bool ChildProcess::TryReap() {
  if (exit_status_.has_value()) return true;
  int status = 0;
  pid_t rc;
  do {
    rc = ::waitpid(pid_, &status, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc == pid_) {
    exit_status_ = status;
    return true;
  }
  return false;
}

std::optional<int> ChildProcess::WaitUntil(Clock::time_point deadline) {
  // Polling keeps the wait bounded: a child stuck in the kernel may outlive SIGKILL for a while.
  while (!TryReap()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return exit_status_;
}

}  // namespace kitsync::crash

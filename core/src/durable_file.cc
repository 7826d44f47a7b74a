#include "kitsync/core/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace kitsync::core {
namespace {

Status Errno(const std::string& what) {
  return Status::Internal(what + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return Errno("cannot sync " + path);
  return Status::Ok();
}

Status SyncDirectoryOf(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory " + dir);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced ? Status::Ok() : Errno("cannot sync directory " + dir);
}

}  // namespace

Status ReplaceFileDurably(const std::string& path, std::string_view content) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create " + temp);
  Status written = WriteAll(fd, content, temp);
  ::close(fd);
  if (written.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    written = Errno("cannot move " + temp + " to " + path);
  }
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  return SyncDirectoryOf(path);
}

Result<std::optional<std::string>> ReadSmallFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::Internal("cannot read " + path + ": " + ec.message());
  if (size > max_bytes) {
    return Status::InvalidArgument(path + " is larger than expected (" + std::to_string(size) +
                                   " bytes)");
  }
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::Internal("cannot read " + path);
  return std::optional<std::string>(std::move(content));
}

}  // namespace kitsync::core

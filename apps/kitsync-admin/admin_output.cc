#include "admin_output.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "admin_commands.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/wire.h"

namespace kitsync::admin {

using core::Status;

std::string Iso(int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

std::string IdText(const std::string& bytes) {
  auto id = sync::UuidFromBytes(bytes);
  return id.ok() ? *id : core::ToHex(bytes);
}

int FailCall(const grpc::Status& status) {
  Status s = sync::FromGrpc(status);
  if (s.code() == core::Code::kUnavailable || s.code() == core::Code::kDeadlineExceeded) {
    s = Status(s.code(), "cannot reach the server (" + s.message() + ")");
  }
  return Fail(s);
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

}  // namespace kitsync::admin

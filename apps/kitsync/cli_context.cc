#include "cli_context.h"

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "output.h"

namespace kitsync::cli {

int ExitCodeFor(const core::Status& status) {
  switch (status.code()) {
    case core::Code::kOk:
      return kExitOk;
    case core::Code::kNotFound:
      return kExitNotFound;
    case core::Code::kInvalidArgument:
    case core::Code::kOutOfRange:
    case core::Code::kAlreadyExists:
    case core::Code::kFailedPrecondition:
    case core::Code::kPermissionDenied:
      return kExitBadInput;
    default:
      return kExitFailure;
  }
}

int ReportError(const GlobalOptions& global, std::string_view what, const core::Status& status) {
  const int exit_code = ExitCodeFor(status);
  std::cerr << "Error: " << what << ": " << status.message() << "\n";
  if (global.json) {
    nlohmann::json error = {
        {"ok", false},
        {"exit_code", exit_code},
        {"error",
         {{"code", std::string(core::CodeName(status.code()))},
          {"context", std::string(what)},
          {"message", status.message()}}},
    };
    PrintJson(error);
  }
  return exit_code;
}

core::Result<std::unique_ptr<core::Store>> OpenStore(const GlobalOptions& global) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(global.db_path, ec)) {
    return core::Status::NotFound("no tablet database at '" + global.db_path +
                                  "'. Run 'kitsync init' first, or point --db (or KITSYNC_DB) "
                                  "at the tablet's database");
  }
  return core::Store::Open(global.db_path);
}

CLI::Validator WholeNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t value = 0;
        const char* first = text.data();
        const char* last = first + text.size();
        if (first != last && *first == '+') ++first;
        const auto [end, ec] = std::from_chars(first, last, value);
        if (ec == std::errc::result_out_of_range) return "'" + text + "' is far too large";
        if (ec != std::errc() || end != last || first == last) {
          return "'" + text + "' is not a whole number";
        }
        return {};
      },
      "INTEGER", "WholeNumber");
}

core::Result<std::string> ReadLineFromStdin(std::string_view what) {
  std::string line;
  if (!std::getline(std::cin, line)) {
    return core::Status::InvalidArgument("expected the " + std::string(what) +
                                         " on standard input, got nothing");
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) {
    return core::Status::InvalidArgument("the " + std::string(what) +
                                         " read from standard input is empty");
  }
  return line;
}

}  // namespace kitsync::cli

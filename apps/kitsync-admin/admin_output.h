// Printing shared by the admin tool's commands: times, IDs, tables and failed calls.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kitsync::admin {

// "2026-11-27T18:42:15Z" in UTC, or "-" for 0.
std::string Iso(int64_t ms);
// A UUID from its 16 wire bytes; hex when the bytes are not one.
std::string IdText(const std::string& bytes);
// Prints the refused or failed call as Fail() does and returns kExitFailure.
int FailCall(const grpc::Status& status);
// Columns padded to their widest cell; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace kitsync::admin

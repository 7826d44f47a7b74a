// The admin tool's commands. Each returns the process exit code and prints its own result or
// error; the arguments are already parsed.
#pragma once

#include <cstdint>
#include <string>

#include "admin_client.h"

namespace kitsync::admin {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the server refused, or could not be reached
inline constexpr int kExitUsage = 2;    // bad arguments

int EnrolCode(AdminClient& client, const std::string& post_code, uint32_t valid_minutes);
int ListDevices(AdminClient& client, bool json);
int Revoke(AdminClient& client, const std::string& device_id, const std::string& reason);
int LoadMaster(AdminClient& client, const std::string& path);

struct StockArgs {
  std::string post;  // where the stock is; for a dispatch the sending post
  std::string to;    // dispatch only
  std::string kit;
  int64_t quantity = 0;
  std::string officer;
  std::string reference;
  std::string reason;
};
int StockReceive(AdminClient& client, const StockArgs& args);
int StockDispatch(AdminClient& client, const StockArgs& args);
int StockAdjust(AdminClient& client, const StockArgs& args);

// Prints "kitsync-admin: <CODE>: <message>" and returns kExitFailure.
int Fail(const core::Status& status);

}  // namespace kitsync::admin

#include "restore.h"

#include <iostream>

#include "kitsync/core/hlc.h"
#include "kitsync/sync/server_copy.h"

namespace kitsync::server_app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitRefused = 2;

int Fail(const core::Status& status) {
  std::cerr << "kitsync-server: not restored: " << status.message() << "\n";
  switch (status.code()) {
    case core::Code::kInvalidArgument:
    case core::Code::kAlreadyExists:
    case core::Code::kNotFound:
    case core::Code::kDataLoss:
    case core::Code::kFailedPrecondition:
      return kExitRefused;
    default:
      return kExitFailure;
  }
}

}  // namespace

int Restore(const std::string& from, const std::string& data_dir) {
  auto restored = sync::RestoreServerCopy(from, data_dir, core::SystemWallClock()());
  if (!restored.ok()) return Fail(restored.status());
  const sync::ServerCopySummary& copy = restored->copy;
  std::cout << "Restored " << from << " into " << data_dir << " (" << restored->database
            << ", readable by you alone: it holds the programme key).\n"
            << "  integrity check ok; schema version " << copy.schema_version << ", "
            << copy.feed_entries << " feed entries up to " << copy.feed_head << ", " << copy.devices
            << " devices\n"
            << "  new feed epoch " << restored->epoch.id << " from feed entry "
            << restored->epoch.start_seq << " on"
            << (copy.feed_epoch.empty() ? "" : " (the copy's was " + copy.feed_epoch + ")")
            << ": tablets that pulled after the copy was taken receive again from there.\n"
            << "Start it with: kitsync-server serve --data " << data_dir
            << ". The admin credential is the copied server's (lost with the old disk? "
            << "'kitsync-server new-admin-token --data " << data_dir << "' makes a new one).\n";
  return kExitOk;
}

}  // namespace kitsync::server_app

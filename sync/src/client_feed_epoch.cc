#include "kitsync/sync/client_feed_epoch.h"

#include <algorithm>
#include <limits>

namespace kitsync::sync {

int64_t PullCursorForEpoch(const v1::StatusResponse& server, const std::string& epoch,
                           int64_t cursor) {
  if (epoch == server.feed_epoch()) return cursor;
  // The server's epochs, oldest first; where each began.
  const auto& earlier = server.earlier_feed_epochs();
  const int count = earlier.size() + 1;
  auto id_at = [&](int i) -> const std::string& {
    return i < earlier.size() ? earlier[i].id() : server.feed_epoch();
  };
  auto start_at = [&](int i) -> uint64_t {
    return i < earlier.size() ? earlier[i].start_seq() : server.feed_epoch_start_seq();
  };
  const int held = epoch.empty() ? 0 : [&] {
    for (int i = 0; i < count; ++i) {
      if (id_at(i) == epoch) return i;
    }
    return -1;
  }();
  if (held < 0) return 0;
  if (held + 1 >= count) return cursor;  // the current epoch, reached only for an empty `epoch`
  // Starts never go down along the epochs (each began at a copy of the one before), but the
  // least of them is the safe bound whatever a server reports.
  uint64_t shared = std::numeric_limits<int64_t>::max();
  for (int i = held + 1; i < count; ++i) shared = std::min(shared, start_at(i));
  return std::min(cursor, static_cast<int64_t>(shared));
}

}  // namespace kitsync::sync

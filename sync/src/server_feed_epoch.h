// The feed epoch on the wire: what GetStatus reports of it, and the check that keeps a pull
// cursor from another epoch off this server's feed (docs/server.md, "Feed epochs").
#pragma once

#include <string>
#include <vector>

#include "kitsync/core/status.h"
#include "kitsync/sync/server_store.h"
#include "kitsync/v1/sync.pb.h"

namespace kitsync::sync {

// The longest epoch a request may name; the server's own are UUIDs.
inline constexpr size_t kMaxFeedEpochLength = 64;

// Sets feed_epoch, feed_epoch_start_seq and earlier_feed_epochs. REQUIRES: `epochs` not empty.
void SetFeedEpochs(const std::vector<FeedEpoch>& epochs, v1::StatusResponse& out);

// OK when a pull cursor of `requested` may be served from this feed: it belongs to the current
// epoch. Empty stands for the first epoch (a tablet from before epochs), so such a tablet is
// served as before by a server never restored. FAILED_PRECONDITION otherwise, INVALID_ARGUMENT
// for a name no server makes.
core::Status CheckPullEpoch(const std::vector<FeedEpoch>& epochs, const std::string& requested);

}  // namespace kitsync::sync

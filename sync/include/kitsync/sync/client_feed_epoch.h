// Where a tablet's pull cursor stands on a server's feed once the feed's epoch is known
// (docs/sync.md, "Line up"). A pure function of what GetStatus reported and what the tablet
// holds, tested without a server.
#pragma once

#include <cstdint>
#include <string>

#include "kitsync/v1/sync.pb.h"

namespace kitsync::sync {

// The pull cursor a tablet may keep on the feed `server` describes, when its `cursor` belongs
// to feed epoch `epoch` (empty: none recorded, which a cursor got from a server from before
// epochs: the first epoch).
//
// Every entry up to the point where the epoch after the tablet's began is the same on this
// server as on the one the tablet pulled from, so the cursor goes back to that point at most:
// min(cursor, start of the next epoch). An epoch this server does not descend from shares
// nothing known, and the tablet receives the whole feed again (applying a fact already held does
// nothing). REQUIRES: server.feed_epoch() not empty.
int64_t PullCursorForEpoch(const v1::StatusResponse& server, const std::string& epoch,
                           int64_t cursor);

}  // namespace kitsync::sync

// The key under which the server remembers one of the office's writes: the request ID the admin
// tool chose, checked at the edge, and a digest of the request without it, so that an ID sent
// again with a different request is refused instead of answered with another request's outcome.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/server_store.h"

namespace kitsync::sync {

// `request` must have a string field named request_id. An empty ID gives an empty key.
core::Result<RequestKey> RequestKeyOf(const google::protobuf::Message& request);

}  // namespace kitsync::sync

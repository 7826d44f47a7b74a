// core::Status <-> grpc::Status. The codes are the same numbers by design.
#pragma once

#include <grpcpp/grpcpp.h>

#include "kitsync/core/status.h"

namespace kitsync::sync {

grpc::Status ToGrpc(const core::Status& status);
core::Status FromGrpc(const grpc::Status& status);

}  // namespace kitsync::sync

#include "kitsync/sync/grpc_status.h"

namespace kitsync::sync {

grpc::Status ToGrpc(const core::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

core::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return core::Status::Ok();
  const int code = status.error_code();
  const core::Code mapped = code > 0 && code <= static_cast<int>(core::Code::kUnauthenticated)
                                ? static_cast<core::Code>(code)
                                : core::Code::kUnknown;
  return core::Status(mapped, status.error_message());
}

}  // namespace kitsync::sync

#include "kitsync/sync/client_failure.h"

namespace kitsync::sync {

SyncFailure ClassifyFailure(const core::Status& status) {
  switch (status.code()) {
    case core::Code::kOk:
      return SyncFailure::kNone;
    case core::Code::kUnavailable:
    case core::Code::kDeadlineExceeded:
    case core::Code::kCancelled:
      return SyncFailure::kOutcomeUnknown;
    case core::Code::kUnauthenticated:
      return SyncFailure::kEnrolment;
    default:
      return SyncFailure::kOther;
  }
}

}  // namespace kitsync::sync

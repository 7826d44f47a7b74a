// What a failed sync means, for the scheduler and for the words the officer reads. Decided by
// the status code alone: the transport and the session keep codes faithful to that meaning (a
// busy tablet database, for instance, is reported as ABORTED, never as UNAVAILABLE).
#pragma once

#include "kitsync/core/status.h"

namespace kitsync::sync {

enum class SyncFailure {
  kNone,
  // The server may or may not hold what was sent (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED).
  // Records stay on the tablet and are offered again; never "failed" and never "sent".
  kOutcomeUnknown,
  // The server refused this tablet's credential (UNAUTHENTICATED): revoked, or the database
  // belongs to another enrolment. Retrying alone will not fix it.
  kEnrolment,
  // Anything else: the server refused the data, or the tablet could not read or write its own
  // database. Nothing was applied for the refused call.
  kOther,
};

SyncFailure ClassifyFailure(const core::Status& status);

}  // namespace kitsync::sync

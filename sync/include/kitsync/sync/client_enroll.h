// Enrolment: a one-time code from an admin, exchanged for this tablet's device credential.
#pragma once

#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/v1/enrollment.pb.h"

namespace kitsync::sync {

// Where a tablet keeps its enrolment attempt until its database holds the credential: a small
// file, readable by the owner alone, beside the database that will be created at `db_path`.
std::string EnrolmentAttemptPath(const std::string& db_path);

// Calls Enrollment.Enroll at `address` (TLS with `ca_file`, or loopback plaintext when empty)
// and checks that the answer is complete: a 16-byte device ID, a post code, a credential that
// can be sent, and a programme key of at least 16 bytes.
//
// The tablet offers a credential it made itself, kept durably in `attempt_file` before the call.
// Asking again with the same code reuses it, so after a lost reply the server recognises this
// tablet and answers again instead of calling the code used. UNAVAILABLE or DEADLINE_EXCEEDED
// mean the outcome is unknown: call again with the same code and `attempt_file`. Once the answer
// is kept in the tablet's database, ForgetEnrolmentAttempt removes the file; a refusal by the
// server (an unknown, used or expired code, a malformed request) removes it at once.
//
// FAILED_PRECONDITION when `attempt_file` exists but is not an enrolment attempt (it is left
// alone).
core::Result<v1::EnrollResponse> Enroll(const std::string& address, const std::string& ca_file,
                                        const std::string& code, const std::string& device_name,
                                        const std::string& attempt_file,
                                        const GrpcTransportOptions& options = {});

// Removes the attempt file of a finished enrolment; a missing file is fine.
core::Status ForgetEnrolmentAttempt(const std::string& attempt_file);

}  // namespace kitsync::sync

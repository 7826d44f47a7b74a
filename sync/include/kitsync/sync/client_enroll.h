// Enrolment: a one-time code from an admin, exchanged for this tablet's device credential.
#pragma once

#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/v1/enrollment.pb.h"

namespace kitsync::sync {

// Calls Enrollment.Enroll at `address` (TLS with `ca_file`, or loopback plaintext when empty)
// and checks that the answer is complete: a 16-byte device ID, a post code, a credential that
// can be sent, and a programme key of at least 16 bytes.
//
// UNAVAILABLE or DEADLINE_EXCEEDED mean the outcome is unknown: the server may have used up the
// code without this tablet hearing the credential.
core::Result<v1::EnrollResponse> Enroll(const std::string& address, const std::string& ca_file,
                                        const std::string& code, const std::string& device_name,
                                        const GrpcTransportOptions& options = {});

}  // namespace kitsync::sync

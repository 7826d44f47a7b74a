// Credentials of the central server: bearer tokens for the admin and for devices, one-time
// enrolment codes, and the rule for where plaintext is allowed. The server stores only SHA-256
// digests of tokens and codes. A tablet makes its own device token when it enrols.
#pragma once

#include <string>
#include <string_view>

#include "kitsync/sync/address.h"
#include "kitsync/core/status.h"

namespace kitsync::sync {

// `bytes` random bytes from the operating system's generator (OpenSSL RAND_bytes).
core::Result<std::string> RandomBytes(size_t bytes);

// A new bearer token: a prefix naming its kind ("ksa_" admin, "ksd_" device) and 32 random
// bytes in unpadded base64url, so it survives copying through shells, files and HTTP headers.
core::Result<std::string> NewAdminToken();
core::Result<std::string> NewDeviceToken();
// Whether `token` has the shape NewDeviceToken gives: "ksd_" and 43 base64url characters.
bool IsWellFormedDeviceToken(std::string_view token);

// A one-time enrolment code an officer can read over the phone: 12 characters of Crockford's
// base32 (60 bits) in groups of four, e.g. "7KQ4-M2XD-9HTC".
core::Result<std::string> NewEnrolmentCode();
// What a code was typed as -> what its digest is taken over: dashes and spaces dropped, upper
// case, and the letters Crockford's alphabet folds (O->0, I/L->1) folded.
std::string NormalizeEnrolmentCode(std::string_view code);

// 32 raw bytes.
std::string Sha256(std::string_view data);
// Comparison whose duration does not depend on where two digests first differ.
bool DigestsEqual(std::string_view a, std::string_view b);

// The token of an "authorization" header value "Bearer <token>"; empty when there is none.
std::string BearerToken(std::string_view authorization);

}  // namespace kitsync::sync

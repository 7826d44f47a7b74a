// Reads the master-data document the centre hands to a tablet:
//
//   {"kit_types": [{"code", "name", "unit"}],
//    "posts":     [{"code", "name"}],
//    "officers":  [{"code", "name", "post", "role"}],
//    "rounds":    [{"code", "name", "requires_proof",
//                   "entitlements": [{"kit_type", "max_per_beneficiary"}]}]}
//
// IDs: a record's own "id" (a lower-case UUID) wins. Without one, a record whose code this tablet
// already holds keeps that record's ID, so importing the same file twice updates in place and
// never duplicates. A code new to the tablet gets StableMasterId() of its code rather than a
// random UUIDv7, so every tablet importing the same file agrees on the IDs its handovers will
// reference.
//
// Officers and entitlements name posts and kit types by code; a code resolves first to this file,
// then to the master data the tablet already holds. Unknown fields are refused, so a misspelt
// field is an error rather than a silently missing value.
#pragma once

#include <string>

#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"

namespace kitsync::cli {

// `existing` is the master data the tablet holds now (Store::LoadMasterData()).
core::Result<core::MasterData> ParseMasterData(const std::string& text,
                                               const core::MasterData& existing);
core::Result<core::MasterData> LoadMasterFile(const std::string& path,
                                              const core::MasterData& existing);

}  // namespace kitsync::cli

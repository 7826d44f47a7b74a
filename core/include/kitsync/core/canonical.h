// Canonical encodings of records: compact JSON with sorted keys and integers only, so the same
// record always yields the same bytes on every platform. The change-log hash covers these bytes,
// and a receiver that rebuilds a record from another wire format re-encodes it to verify.
#pragma once

#include <string>

#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

std::string EncodeBeneficiary(const Beneficiary& b);
std::string EncodeHandover(const Handover& h);
std::string EncodeHandoverVoid(const HandoverVoid& v);
std::string EncodeMovement(const StockMovement& m);

Result<Beneficiary> DecodeBeneficiary(const std::string& payload);
Result<Handover> DecodeHandover(const std::string& payload);
Result<HandoverVoid> DecodeHandoverVoid(const std::string& payload);
Result<StockMovement> DecodeMovement(const std::string& payload);

}  // namespace kitsync::core

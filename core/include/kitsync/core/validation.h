// Field checks shared by the store and by whatever receives records from elsewhere.
#pragma once

#include <cstdint>
#include <string_view>

#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

// `field` names the input in the error, e.g. "kit type code".
Status ValidateCode(std::string_view field, std::string_view value);
Status ValidateText(std::string_view field, std::string_view value, size_t max_length,
                    bool required);
Status ValidateId(std::string_view field, std::string_view value);
Status ValidateQuantity(std::string_view field, int64_t quantity);

// Whole records, field by field, as they arrive from a tablet or the centre. References to
// other records (does this round exist?) are the receiver's to check.
Status ValidateMasterData(const MasterData& data);
Status ValidateBeneficiaryRecord(const Beneficiary& b);
Status ValidateBeneficiaryUpdateRecord(const BeneficiaryUpdate& u);
Status ValidateServedSummary(const ServedSummary& s);
Status ValidateResolution(const ConflictResolution& r);
Status ValidateMergeRecord(const BeneficiaryMerge& m);
Status ValidateHandoverRecord(const Handover& h);
// All of a handover but its own ID and timestamp, which are set last when recording.
Status ValidateHandoverContent(const Handover& h);
Status ValidateVoidRecord(const HandoverVoid& v);
Status ValidateMovementRecord(const StockMovement& m);

}  // namespace kitsync::core

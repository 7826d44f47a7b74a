// Canonical encodings of records: compact JSON with sorted keys and integers only, so the same
// record always yields the same bytes on every platform. The change-log hash covers these bytes,
// and a receiver that rebuilds a record from another wire format re-encodes it to verify.
#pragma once

#include <string>

#include "kitsync/core/domain.h"
#include "kitsync/core/status.h"

namespace kitsync::core {

std::string EncodeBeneficiary(const Beneficiary& b);
std::string EncodeBeneficiaryUpdate(const BeneficiaryUpdate& u);
std::string EncodeHandover(const Handover& h);
std::string EncodeHandoverVoid(const HandoverVoid& v);
std::string EncodeMovement(const StockMovement& m);
std::string EncodeBeneficiaryMerge(const BeneficiaryMerge& m);

Result<Beneficiary> DecodeBeneficiary(const std::string& payload);
Result<BeneficiaryUpdate> DecodeBeneficiaryUpdate(const std::string& payload);
Result<Handover> DecodeHandover(const std::string& payload);
Result<HandoverVoid> DecodeHandoverVoid(const std::string& payload);
Result<StockMovement> DecodeMovement(const std::string& payload);
Result<BeneficiaryMerge> DecodeBeneficiaryMerge(const std::string& payload);

// The change-log view of a fact: its entity name ("handover"), the ID the entry is keyed by (a
// void is keyed by the handover it voids) and its canonical payload. INVALID_ARGUMENT for master
// data, which is not part of a device's change log.
struct LoggedForm {
  std::string entity;
  std::string entity_id;
  std::string payload;
};
Result<LoggedForm> ToLoggedForm(const Record& record);
// The record a change-log entry holds.
Result<Record> DecodeLogged(const std::string& entity, const std::string& payload);

}  // namespace kitsync::core

// How core records look to an officer (tables, field lists) and to a script (JSON). Only
// presentation: every number shown is one the core computed.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "kitsync/core/domain.h"
#include "kitsync/core/store.h"

namespace kitsync::cli {

nlohmann::json BeneficiaryJson(const core::Beneficiary& b);
nlohmann::json HandoverJson(const core::Handover& h);
nlohmann::json HandoverViewJson(const core::HandoverView& view);
nlohmann::json VoidJson(const core::HandoverVoid& v);
nlohmann::json MovementJson(const core::StockMovement& m, const std::string& kit_type_code);
nlohmann::json StockLineJson(const core::StockLine& line);
nlohmann::json WarningJson(const core::Warning& w);
nlohmann::json StatusJson(const core::TabletStatus& status);

void PrintHandoverTable(std::ostream& out, const std::vector<core::HandoverView>& views);
void PrintStockTable(std::ostream& out, const std::vector<core::StockLine>& lines);
void PrintStatus(std::ostream& out, const core::TabletStatus& status);

// "signature:ab12" or "none".
std::string ProofText(core::ProofKind kind, const std::string& ref);

}  // namespace kitsync::cli

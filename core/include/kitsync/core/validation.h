// Field checks shared by the store and by whatever receives records from elsewhere.
#pragma once

#include <cstdint>
#include <string_view>

#include "kitsync/core/status.h"

namespace kitsync::core {

// `field` names the input in the error, e.g. "kit type code".
Status ValidateCode(std::string_view field, std::string_view value);
Status ValidateText(std::string_view field, std::string_view value, size_t max_length,
                    bool required);
Status ValidateId(std::string_view field, std::string_view value);
Status ValidateQuantity(std::string_view field, int64_t quantity);

}  // namespace kitsync::core

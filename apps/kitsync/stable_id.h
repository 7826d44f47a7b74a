// Name-based IDs for master data that arrives without them.
#pragma once

#include <string>
#include <string_view>

namespace kitsync::cli {

// A UUIDv5 (RFC 9562) of "<entity>:<code>" in a namespace fixed for kitsync master data.
// The same code always maps to the same ID, so importing a file twice does not duplicate a
// record, and two tablets importing the same file agree on the IDs their handovers reference.
std::string StableMasterId(std::string_view entity, std::string_view code);

}  // namespace kitsync::cli

// Small files that must survive a crash whole: written under a temporary name, synced, renamed
// over the target, and the directory synced, so a reader finds the old content or the new, never
// a mix.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kitsync/core/status.h"

namespace kitsync::core {

// Replaces `path` with `content`, readable by the owner alone. The temporary file is
// `path` + ".tmp"; a leftover one from a cut write is overwritten.
// Errors: INTERNAL (with the reason) for I/O.
Status ReplaceFileDurably(const std::string& path, std::string_view content);

// The whole of a small file (at most `max_bytes`); nullopt when it does not exist.
// Errors: INVALID_ARGUMENT when it is larger, INTERNAL when it cannot be read.
Result<std::optional<std::string>> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace kitsync::core

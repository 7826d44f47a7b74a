// Identifiers made on the device, and the keyed hash that stands in for identity documents.
#pragma once

#include <string>
#include <string_view>

namespace kitsync::core {

// A UUIDv7 (RFC 9562) in canonical lower-case form. Time-ordered, so inserts append to the end
// of SQLite's B-trees; monotonic within this process even when two are made in one millisecond.
std::string NewUuidV7();
bool IsValidUuid(std::string_view s);

// Document numbers are typed by hand from passports and ID cards: spaces, dashes and case vary.
// "a 123-456 7" and "A1234567" are the same document.
std::string NormalizeDocumentNumber(std::string_view doc_number);

// Lower-case hex of HMAC-SHA256(programme_key, normalized document number).
std::string DocumentHash(std::string_view programme_key, std::string_view doc_number);

std::string ToHex(std::string_view bytes);

}  // namespace kitsync::core

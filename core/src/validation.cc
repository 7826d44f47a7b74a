#include "kitsync/core/validation.h"

#include <cctype>
#include <string>

#include "kitsync/core/domain.h"
#include "kitsync/core/ids.h"

namespace kitsync::core {
namespace {

std::string Quoted(std::string_view s) {
  constexpr size_t kShown = 40;
  std::string out = "'";
  out += s.substr(0, kShown);
  if (s.size() > kShown) out += "...";
  out += "'";
  return out;
}

// Counts code points, not bytes: names are typed in many scripts.
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    size_t extra;
    if (c < 0x80) {
      extra = 0;
    } else if ((c >> 5) == 0x6) {
      extra = 1;
    } else if ((c >> 4) == 0xe) {
      extra = 2;
    } else if ((c >> 3) == 0x1e) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

Status ValidateCode(std::string_view field, std::string_view value) {
  if (value.empty()) return Status::InvalidArgument(std::string(field) + " is required");
  if (value.size() > kMaxCodeLength) {
    return Status::InvalidArgument(std::string(field) + " " + Quoted(value) + " is longer than " +
                                   std::to_string(kMaxCodeLength) + " characters");
  }
  for (unsigned char c : value) {
    if (!(std::isupper(c) || std::isdigit(c) || c == '-' || c == '_')) {
      return Status::InvalidArgument(std::string(field) + " " + Quoted(value) +
                                     " may hold only capital letters, digits, '-' and '_'");
    }
  }
  return Status::Ok();
}

Status ValidateText(std::string_view field, std::string_view value, size_t max_length,
                    bool required) {
  if (required && value.find_first_not_of(" \t") == std::string_view::npos) {
    return Status::InvalidArgument(std::string(field) + " is required");
  }
  if (!IsValidUtf8(value)) {
    return Status::InvalidArgument(std::string(field) + " is not valid UTF-8 text");
  }
  for (unsigned char c : value) {
    if (c < 0x20 && c != '\t') {
      return Status::InvalidArgument(std::string(field) + " contains a control character");
    }
  }
  if (Utf8Length(value) > max_length) {
    return Status::InvalidArgument(std::string(field) + " is longer than " +
                                   std::to_string(max_length) + " characters");
  }
  return Status::Ok();
}

Status ValidateId(std::string_view field, std::string_view value) {
  if (value.empty()) return Status::InvalidArgument(std::string(field) + " is required");
  if (!IsValidUuid(value)) {
    return Status::InvalidArgument(std::string(field) + " " + Quoted(value) +
                                   " is not a valid ID (expected a lower-case UUID such as "
                                   "0192f5e4-7c3a-7b1e-9f00-3c5d2e1a4b6f)");
  }
  return Status::Ok();
}

Status ValidateQuantity(std::string_view field, int64_t quantity) {
  if (quantity < 1) {
    return Status::InvalidArgument(std::string(field) + " must be at least 1, got " +
                                   std::to_string(quantity));
  }
  if (quantity > kMaxQuantity) {
    return Status::InvalidArgument(std::string(field) + " " + std::to_string(quantity) +
                                   " is more than " + std::to_string(kMaxQuantity) +
                                   ", which no single record may exceed");
  }
  return Status::Ok();
}

}  // namespace kitsync::core

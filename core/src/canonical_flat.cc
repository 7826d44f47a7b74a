#include "canonical_flat.h"

#include <algorithm>
#include <limits>

namespace kitsync::core {
namespace {

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool AtEnd() const { return i_ == s_.size(); }
  bool Take(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::optional<char> Next() {
    if (i_ == s_.size()) return std::nullopt;
    return s_[i_++];
  }
  std::optional<char> Peek() const {
    if (i_ == s_.size()) return std::nullopt;
    return s_[i_];
  }
  size_t pos() const { return i_; }
  std::string_view Slice(size_t from, size_t to) const { return s_.substr(from, to - from); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// After the opening quote; the key's characters as the encoders' own literals have them.
std::optional<std::string_view> ReadKey(Cursor& c) {
  const size_t from = c.pos();
  while (true) {
    const std::optional<char> ch = c.Next();
    if (!ch) return std::nullopt;
    if (*ch == '"') return c.Slice(from, c.pos() - 1);
    if (!((*ch >= 'a' && *ch <= 'z') || (*ch >= '0' && *ch <= '9') || *ch == '_')) {
      return std::nullopt;
    }
  }
}

// After the opening quote. Runs of plain characters (all of an ID, most names) go in with one
// append.
bool ReadString(Cursor& c, std::string& out) {
  while (true) {
    const size_t run = c.pos();
    while (true) {
      const std::optional<char> p = c.Peek();
      if (!p) return false;
      const auto u = static_cast<unsigned char>(*p);
      if (*p == '"' || *p == '\\' || u < 0x20 || u >= 0x80) break;
      c.Next();
    }
    out.append(c.Slice(run, c.pos()));
    const std::optional<char> ch = c.Next();
    if (*ch == '"') return true;
    if (*ch != '\\') return false;  // a control character, or a byte beyond ASCII
    const std::optional<char> e = c.Next();
    if (!e) return false;
    switch (*e) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        int code = 0;
        for (int k = 0; k < 4; ++k) {
          const std::optional<char> h = c.Next();
          const int d = h ? HexDigit(*h) : -1;
          if (d < 0) return false;
          code = code * 16 + d;
        }
        if (code >= 0x80) return false;  // beyond ASCII: UTF-8 and surrogates are the DOM's
        out.push_back(static_cast<char>(code));
        break;
      }
      default: return false;
    }
  }
}

// JSON's integer: '-'? ('0' | [1-9][0-9]*), with no fraction or exponent, within int64 (beyond
// it the DOM reads a float, or an unsigned number a caller would narrow: its business).
bool ReadInteger(Cursor& c, int64_t& out) {
  const bool negative = c.Take('-');
  const std::optional<char> first = c.Next();
  if (!first || *first < '0' || *first > '9') return false;
  uint64_t magnitude = static_cast<uint64_t>(*first - '0');
  if (*first != '0') {
    while (true) {
      const std::optional<char> d = c.Peek();
      if (!d || *d < '0' || *d > '9') break;
      c.Next();
      if (magnitude > (std::numeric_limits<uint64_t>::max() - 9) / 10) return false;
      magnitude = magnitude * 10 + static_cast<uint64_t>(*d - '0');
    }
  }
  const std::optional<char> after = c.Peek();
  if (after && (*after == '.' || *after == 'e' || *after == 'E')) return false;
  // "-0" reads as a signed zero or a float depending on the reader: not canonical either way.
  if (negative && magnitude == 0) return false;
  if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  out = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

}  // namespace

std::optional<FlatCanonicalObject> FlatCanonicalObject::Read(std::string_view text) {
  Cursor c(text);
  FlatCanonicalObject object;
  object.fields_.reserve(16);
  if (!c.Take('{')) return std::nullopt;
  if (!c.Take('}')) {
    while (true) {
      if (!c.Take('"')) return std::nullopt;
      const std::optional<std::string_view> key = ReadKey(c);
      if (!key || !c.Take(':')) return std::nullopt;
      if (object.Find(*key)) return std::nullopt;
      Value value;
      if (c.Take('"')) {
        value.is_string = true;
        if (!ReadString(c, value.text)) return std::nullopt;
      } else if (!ReadInteger(c, value.number)) {
        return std::nullopt;
      }
      object.fields_.emplace_back(*key, std::move(value));
      if (c.Take('}')) break;
      if (!c.Take(',')) return std::nullopt;
    }
  }
  if (!c.AtEnd()) return std::nullopt;
  return object;
}

FlatCanonicalObject::Value* FlatCanonicalObject::Find(std::string_view key) {
  for (auto& [k, v] : fields_) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace kitsync::core

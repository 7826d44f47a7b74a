// A flat object exactly as the canonical encoder writes it, read in one pass without a DOM.
// Registrations are decoded from their canonical text on every pulled page and every upload
// that carries one, and building nlohmann's DOM for each took about 4 µs of the server's pull.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kitsync::core {

class FlatCanonicalObject {
 public:
  struct Value {
    bool is_string = false;
    std::string text;       // a string, unescaped
    int64_t number = 0;     // an integer
  };

  // nullopt for anything the canonical encoder does not write, so that the DOM decoder reads it
  // and names what is wrong: whitespace, nesting, arrays, fractions or exponents, integers
  // beyond int64, escapes other than \" \\ \/ \b \f \n \r \t and \u00XX below 0x80, raw control
  // characters, bytes beyond ASCII (whose UTF-8 the DOM checks), a key twice, text after the
  // object.
  static std::optional<FlatCanonicalObject> Read(std::string_view text);

  // The value of `key`, or nullptr; its text may be moved out.
  Value* Find(std::string_view key);

 private:
  std::vector<std::pair<std::string_view, Value>> fields_;
};

}  // namespace kitsync::core

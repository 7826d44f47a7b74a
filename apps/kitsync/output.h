// Plain-text and JSON output helpers. Tables are aligned for a tablet terminal; JSON is for
// scripts and is printed whole, so a reader never sees half a document.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace kitsync::cli {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // `cells` must have one entry per column.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Key/value lines with the keys padded to one width, for single records.
void PrintFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

void PrintJson(const nlohmann::json& doc);

// "2026-11-27 18:42:15 UTC". Times are shown in UTC so that every post reads them alike.
std::string FormatWallMs(int64_t wall_ms);

// Milliseconds since the epoch at 00:00 UTC of a "YYYY-MM-DD" date, or nothing if the text is
// not a real calendar date.
std::optional<int64_t> ParseDateUtc(std::string_view date);

inline constexpr int64_t kMsPerDay = 24LL * 60 * 60 * 1000;

}  // namespace kitsync::cli

#include "output.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <iostream>

namespace kitsync::cli {
namespace {

// Display width in code points, so names with accents or other scripts still line up.
size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

void Pad(std::ostream& out, size_t n) {
  for (size_t i = 0; i < n; ++i) out << ' ';
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = DisplayWidth(columns_[c].header);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t gap = widths[c] - DisplayWidth(cells[c]);
      const bool last = c + 1 == cells.size();
      if (columns_[c].align == Align::kRight) {
        Pad(out, gap);
        out << cells[c];
      } else {
        out << cells[c];
        if (!last) Pad(out, gap);
      }
      if (!last) out << "  ";
    }
    out << "\n";
  };
  std::vector<std::string> headers;
  for (const auto& column : columns_) headers.push_back(column.header);
  print_row(headers);
  std::vector<std::string> rules;
  for (size_t w : widths) rules.emplace_back(w, '-');
  print_row(rules);
  for (const auto& row : rows_) print_row(row);
}

void PrintFields(std::ostream& out,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key));
  for (const auto& [key, value] : fields) {
    out << key << ":";
    Pad(out, width - DisplayWidth(key) + 1);
    out << value << "\n";
  }
}

void PrintJson(const nlohmann::json& doc) {  // Replacing invalid UTF-8 instead of throwing: a stray
                                             // byte in a name must not lose the output.
  std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

std::string FormatWallMs(int64_t wall_ms) {
  const std::time_t seconds = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return std::to_string(wall_ms) + " ms";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::optional<int64_t> ParseDateUtc(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  auto number = [&](size_t pos, size_t len) -> std::optional<int> {
    int value = 0;
    const char* first = date.data() + pos;
    const char* last = first + len;
    auto [end, ec] = std::from_chars(first, last, value);
    if (ec != std::errc() || end != last) return std::nullopt;
    return value;
  };
  const auto y = number(0, 4);
  const auto m = number(5, 2);
  const auto d = number(8, 2);
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                        std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  const std::chrono::sys_days days{ymd};
  return std::chrono::duration_cast<std::chrono::milliseconds>(days.time_since_epoch()).count();
}

}  // namespace kitsync::cli

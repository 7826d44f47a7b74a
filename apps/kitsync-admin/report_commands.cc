#include "report_commands.h"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <tuple>
#include <nlohmann/json.hpp>
#include <sstream>

#include "admin_commands.h"
#include "admin_output.h"
#include "kitsync/sync/grpc_status.h"
#include "kitsync/v1/reports.grpc.pb.h"

namespace kitsync::admin {
namespace {

using Json = nlohmann::json;

constexpr char kPseudonymous[] =
    "Exports (--format csv or json) carry pseudonymous identifiers only: post, kit type and "
    "round codes, and counts of beneficiaries and document hashes; never a name, a phone "
    "number or a document number.";

constexpr char kIdentity[] = "received = handed_out + in_stock + transferred + adjusted";

// One report as rows of typed cells: JSON keeps the types, the table and CSV print them.
struct Report {
  std::vector<std::string> columns;
  std::vector<std::vector<Json>> rows;
};

std::string Cell(const Json& v, bool csv) {
  if (v.is_null()) return csv ? "" : "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? (csv ? "true" : "yes") : (csv ? "false" : "no");
  if (v.is_array()) {
    std::string out;
    for (const Json& each : v) out += (out.empty() ? "" : "; ") + Cell(each, csv);
    return out;
  }
  return v.dump();
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void PrintCsv(const Report& r) {
  std::string header;
  for (const std::string& c : r.columns) header += (header.empty() ? "" : ",") + CsvField(c);
  std::cout << header << "\r\n";
  for (const auto& row : r.rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + CsvField(Cell(row[i], true));
    std::cout << line << "\r\n";
  }
}

void PrintTable(const Report& r) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> heading;
  for (std::string c : r.columns) {
    for (char& ch : c) ch = ch == '_' ? ' ' : static_cast<char>(std::toupper(ch));
    heading.push_back(c);
  }
  cells.push_back(heading);
  for (const auto& row : r.rows) {
    std::vector<std::string> line;
    for (const Json& v : row) line.push_back(Cell(v, false));
    cells.push_back(line);
  }
  std::vector<size_t> widths(r.columns.size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
  }
  for (const auto& line : cells) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      // Numbers right-aligned, text left-aligned; the last column is not padded.
      const bool number = line[i].find_first_not_of("-0123456789") == std::string::npos &&
                          line[i] != "-" && &line != &cells.front();
      const std::string pad(widths[i] - line[i].size(), ' ');
      if (i + 1 == line.size()) {
        out += number ? pad + line[i] : line[i];
      } else {
        out += (number ? pad + line[i] : line[i] + pad) + "  ";
      }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  }
}

Json Objects(const Report& r) {
  Json out = Json::array();
  for (const auto& row : r.rows) {
    Json o = Json::object();
    for (size_t i = 0; i < row.size(); ++i) o[r.columns[i]] = row[i];
    out.push_back(std::move(o));
  }
  return out;
}

// Prints a one-table report in the chosen format; JSON is {"report": name, "rows": [...]}.
void Print(const std::string& name, const Report& r, const std::string& format) {
  if (format == "json") {
    std::cout << Json{{"report", name}, {"rows", Objects(r)}}.dump(2) << "\n";
  } else if (format == "csv") {
    PrintCsv(r);
  } else if (r.rows.empty()) {
    std::cout << "Nothing to report.\n";
  } else {
    PrintTable(r);
  }
}

v1::ReportFilter Filter(const ReportArgs& args) {
  v1::ReportFilter f;
  f.set_round_code(args.round);
  f.set_post_code(args.post);
  f.set_kit_type_code(args.kit);
  f.set_since_day(args.since);
  f.set_until_day(args.until);
  return f;
}

}  // namespace

int ReportHandouts(AdminClient& client, const ReportArgs& args) {
  v1::HandoutsRequest request;
  *request.mutable_filter() = Filter(args);
  v1::HandoutsResponse response;
  auto context = client.NewContext();
  auto stub = v1::Reports::NewStub(client.channel());
  grpc::Status status = stub->Handouts(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  Report r{{"round", "post", "kit_type", "day", "handovers", "quantity"}, {}};
  int64_t handovers = 0, quantity = 0;
  for (const v1::HandoutRow& row : response.rows()) {
    r.rows.push_back({row.round_code(), row.post_code(), row.kit_type_code(), row.day(),
                      row.handovers(), row.quantity()});
    handovers += row.handovers();
    quantity += row.quantity();
  }
  Print("handouts", r, args.format);
  if (args.format == "table" && !r.rows.empty()) {
    std::cout << "Total: " << handovers << " handovers, " << quantity
              << " kits handed out (voided handovers left out).\n";
  }
  return kExitOk;
}

int ReportStock(AdminClient& client, const ReportArgs& args) {
  v1::StockByPostRequest request;
  request.mutable_filter()->set_post_code(args.post);
  request.mutable_filter()->set_kit_type_code(args.kit);
  v1::StockByPostResponse response;
  auto context = client.NewContext();
  auto stub = v1::Reports::NewStub(client.channel());
  grpc::Status status = stub->StockByPost(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  Report r{{"post", "kit_type", "received", "handed_out", "transferred", "adjusted", "balance",
            "deficit", "last_count", "count_difference", "counted_at"},
           {}};
  int deficits = 0;
  for (const v1::StockRow& row : response.rows()) {
    const bool counted = row.counted();
    r.rows.push_back({row.post_code(), row.kit_type_code(), row.received(), row.handed_out(),
                      row.transferred(), row.adjusted(), row.balance(), row.deficit(),
                      counted ? Json(row.last_count()) : Json(nullptr),
                      counted ? Json(row.count_difference()) : Json(nullptr),
                      counted ? Json(Iso(row.last_count_wall_ms())) : Json(nullptr)});
    if (row.deficit()) ++deficits;
  }
  Print("stock", r, args.format);
  if (args.format == "table" && !r.rows.empty()) {
    std::cout << "balance = received - transferred + adjusted - handed out; count difference = "
                 "last count - balance.\n";
    if (deficits > 0) {
      std::cout << deficits
                << " deficit(s): a post handed out or sent more than it is known to have had; "
                   "record the missing receipt or an adjustment.\n";
    }
  }
  return kExitOk;
}

int ReportBeneficiaries(AdminClient& client, const ReportArgs& args) {
  v1::BeneficiariesServedRequest request;
  *request.mutable_filter() = Filter(args);
  v1::BeneficiariesServedResponse response;
  auto context = client.NewContext();
  auto stub = v1::Reports::NewStub(client.channel());
  grpc::Status status = stub->BeneficiariesServed(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  Report r{{"round", "post", "kit_type", "beneficiaries", "document_hashes", "handovers"}, {}};
  for (const v1::BeneficiariesRow& row : response.rows()) {
    const bool all = row.post_code().empty();
    Json post =
        all ? (args.format == "table" ? Json("(all posts)") : Json("")) : Json(row.post_code());
    r.rows.push_back({row.round_code(), post, row.kit_type_code(), row.beneficiaries(),
                      row.document_hashes(), row.handovers()});
  }
  Print("beneficiaries", r, args.format);
  if (args.format == "table" && !r.rows.empty()) {
    std::cout << "Distinct document hashes count a family registered twice once; beneficiaries "
                 "count a family the office merged once.\n";
  }
  return kExitOk;
}

int ReportConflicts(AdminClient& client, const ReportArgs& args) {
  v1::ListConflictsRequest request;
  request.set_status("open");
  request.set_post_code(args.post);
  v1::ListConflictsResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListConflicts(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  // Kind, then severity from high to low, so the table reads in order of urgency.
  auto rank = [](const std::string& severity) {
    return severity == "high" ? 0 : severity == "medium" ? 1 : 2;
  };
  std::map<std::tuple<std::string, int, std::string>, std::pair<int64_t, std::set<std::string>>>
      counts;
  for (const v1::Conflict& c : response.conflicts()) {
    auto& entry = counts[{c.kind(), rank(c.severity()), c.severity()}];
    ++entry.first;
    entry.second.insert(c.post_codes().begin(), c.post_codes().end());
  }
  Report r{{"kind", "severity", "open", "posts"}, {}};
  for (const auto& [key, value] : counts) {
    Json posts = Json::array();
    for (const std::string& p : value.second) posts.push_back(p);
    r.rows.push_back({std::get<0>(key), std::get<2>(key), value.first, posts});
  }
  Print("conflicts", r, args.format);
  return kExitOk;
}

int ReportReconcile(AdminClient& client, const ReportArgs& args) {
  v1::ReconcileRequest request;
  request.set_kit_type_code(args.kit);
  v1::ReconcileResponse response;
  auto context = client.NewContext();
  auto stub = v1::Reports::NewStub(client.channel());
  grpc::Status status = stub->Reconcile(context.get(), request, &response);
  if (!status.ok()) return FailCall(status);
  Report lines{{"kit_type", "scope", "post", "received", "handed_out", "in_stock", "transferred",
                "adjusted", "difference", "notes"},
               {}};
  for (const v1::ReconcileLine& l : response.lines()) {
    const bool central = l.post_code().empty();
    Json notes = Json::array();
    for (const std::string& n : l.notes()) notes.push_back(n);
    lines.rows.push_back({l.kit_type_code(), central ? "central" : "post", l.post_code(),
                          l.received(), l.handed_out(), l.in_stock(), l.transferred(), l.adjusted(),
                          l.difference(), notes});
  }
  Report transit{{"kit_type", "from_post", "to_post", "quantity"}, {}};
  for (const v1::InTransit& t : response.in_transit()) {
    transit.rows.push_back({t.kit_type_code(), t.from_post_code(), t.to_post_code(), t.quantity()});
  }
  const int code = response.balanced() ? kExitOk : kExitUnbalanced;
  if (args.format == "json") {
    std::cout << Json{{"report", "reconcile"},
                      {"identity", kIdentity},
                      {"balanced", response.balanced()},
                      {"lines", Objects(lines)},
                      {"in_transit", Objects(transit)}}
                     .dump(2)
              << "\n";
    return code;
  }
  if (args.format == "csv") {
    PrintCsv(lines);
    return code;
  }
  if (lines.rows.empty()) {
    std::cout << "No stock has been recorded.\n";
    return code;
  }
  std::cout << kIdentity << "\n"
            << "central: received = receipts from outside; transferred = in transit between "
               "posts. post: received = receipts + transfers in; transferred = transfers out. "
               "adjusted = kits lost or damaged (minus the sum of adjustments).\n\n";
  PrintTable(lines);
  if (!transit.rows.empty()) {
    std::cout << "\nIn transit (sent, not yet recorded as arrived):\n";
    PrintTable(transit);
  }
  std::cout << "\n"
            << (response.balanced() ? "Balanced: every kit is accounted for."
                                    : "NOT BALANCED: see the differences and notes above.")
            << "\n";
  return code;
}

void AddReportCommands(CLI::App& app, ReportArgs& args, std::function<int(AdminClient&)>* action) {
  CLI::App* report = app.add_subcommand(
      "report", std::string("Central reports: where every kit went. ") + kPseudonymous);
  report->require_subcommand(1);
  auto format = [&](CLI::App* cmd) {
    cmd->add_option("--format", args.format,
                    "table (default, for reading), csv or json (for export; pseudonymous IDs "
                    "only)")
        ->check(CLI::IsMember({"table", "csv", "json"}))
        ->capture_default_str();
    cmd->footer(kPseudonymous);
  };
  auto filters = [&](CLI::App* cmd) {
    cmd->add_option("--round", args.round, "Only this round (code)");
    cmd->add_option("--post", args.post, "Only this post (code)");
    cmd->add_option("--kit", args.kit, "Only this kit type (code)");
    cmd->add_option("--since", args.since, "From this UTC day, YYYY-MM-DD");
    cmd->add_option("--until", args.until, "Up to and including this UTC day, YYYY-MM-DD");
  };

  CLI::App* handouts = report->add_subcommand(
      "handouts", "Kits handed out (voided handovers left out) by round, post, kit type, UTC day");
  filters(handouts);
  format(handouts);
  handouts->callback(
      [&args, action] { *action = [&args](AdminClient& c) { return ReportHandouts(c, args); }; });

  CLI::App* stock = report->add_subcommand(
      "stock",
      "Per post and kit type: received, handed out, transferred, adjusted, balance, last count "
      "and its difference; a negative balance is a deficit");
  stock->add_option("--post", args.post, "Only this post (code)");
  stock->add_option("--kit", args.kit, "Only this kit type (code)");
  format(stock);
  stock->callback(
      [&args, action] { *action = [&args](AdminClient& c) { return ReportStock(c, args); }; });

  CLI::App* served = report->add_subcommand(
      "beneficiaries",
      "Distinct beneficiaries and distinct document hashes served, by round, post and kit type");
  filters(served);
  format(served);
  served->callback([&args, action] {
    *action = [&args](AdminClient& c) { return ReportBeneficiaries(c, args); };
  });

  CLI::App* open_conflicts = report->add_subcommand(
      "conflicts", "Open conflicts by kind and severity, with the posts they involve");
  open_conflicts->add_option("--post", args.post, "Only conflicts involving this post (code)");
  format(open_conflicts);
  open_conflicts->callback([&args, action] {
    *action = [&args](AdminClient& c) { return ReportConflicts(c, args); };
  });

  CLI::App* reconcile = report->add_subcommand(
      "reconcile",
      std::string("Check ") + kIdentity +
          " per kit type, centrally and per post, exactly. Central: received = receipts from "
          "outside the system, transferred = in transit between posts. Post: received = "
          "receipts + transfers in, transferred = transfers out. adjusted = kits lost or "
          "damaged (minus the sum of adjustment deltas). Exit code 0: everything balances; 3: "
          "something does not (the differences are named); 1: the call failed.");
  reconcile->add_option("--kit", args.kit, "Only this kit type (code)");
  format(reconcile);
  reconcile->callback(
      [&args, action] { *action = [&args](AdminClient& c) { return ReportReconcile(c, args); }; });
}

}  // namespace kitsync::admin

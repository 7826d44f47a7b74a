#include "kitsync/sync/server_reports.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "kitsync/core/validation.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;

std::string N(int64_t v) { return std::to_string(v); }

Status CheckOptionalCode(const char* field, const std::string& code) {
  return code.empty() ? Status::Ok() : core::ValidateCode(field, code);
}

void Log(const char* report, const Status& status) {
  if (status.ok()) {
    spdlog::info("event=report report={} code=OK", report);
  } else {
    spdlog::warn("event=report report={} code={} message=\"{}\"", report,
                 core::CodeName(status.code()), status.message());
  }
}

// Authorises as the Admin calls do, runs `body`, logs the outcome.
template <typename T, typename F>
Result<T> AdminReport(ServerLogic& logic, const char* report, const std::string& token, F&& body) {
  Result<T> out = [&]() -> Result<T> {
    RETURN_IF_ERROR(logic.AuthenticateAdmin(token));
    return body();
  }();
  Log(report, out.status());
  return out;
}

// Shared by the post lines and the central line.
void SetLine(v1::ReconcileLine* line, int64_t received, int64_t handed_out, int64_t in_stock,
             int64_t transferred, int64_t adjusted) {
  line->set_received(received);
  line->set_handed_out(handed_out);
  line->set_in_stock(in_stock);
  line->set_transferred(transferred);
  line->set_adjusted(adjusted);
  line->set_difference(received - (handed_out + in_stock + transferred + adjusted));
}

}  // namespace

Result<int64_t> DayStartMs(const std::string& field, const std::string& text) {
  namespace chrono = std::chrono;
  auto digits = [&](size_t from, size_t n) {
    return std::all_of(text.begin() + from, text.begin() + from + n,
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  const bool shaped = text.size() == 10 && text[4] == '-' && text[7] == '-' && digits(0, 4) &&
                      digits(5, 2) && digits(8, 2);
  if (shaped) {
    const chrono::year_month_day ymd{
        chrono::year{std::stoi(text.substr(0, 4))},
        chrono::month{static_cast<unsigned>(std::stoi(text.substr(5, 2)))},
        chrono::day{static_cast<unsigned>(std::stoi(text.substr(8, 2)))}};
    if (ymd.ok()) {
      return chrono::duration_cast<chrono::milliseconds>(chrono::sys_days{ymd}.time_since_epoch())
          .count();
    }
  }
  return Status::InvalidArgument(field + " must be a calendar day as YYYY-MM-DD, not '" + text +
                                 "'");
}

Result<ReportScope> ScopeFromFilter(const v1::ReportFilter& filter) {
  RETURN_IF_ERROR(CheckOptionalCode("round code", filter.round_code()));
  RETURN_IF_ERROR(CheckOptionalCode("post code", filter.post_code()));
  RETURN_IF_ERROR(CheckOptionalCode("kit type code", filter.kit_type_code()));
  ReportScope scope;
  scope.round_code = filter.round_code();
  scope.post_code = filter.post_code();
  scope.kit_type_code = filter.kit_type_code();
  constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
  if (!filter.since_day().empty()) {
    ASSIGN_OR_RETURN(scope.since_ms, DayStartMs("since", filter.since_day()));
  }
  if (!filter.until_day().empty()) {
    ASSIGN_OR_RETURN(int64_t until, DayStartMs("until", filter.until_day()));
    scope.until_ms = until + kDayMs;  // the whole of the last day
  }
  if (scope.since_ms && scope.until_ms && *scope.since_ms >= *scope.until_ms) {
    return Status::InvalidArgument("since (" + filter.since_day() + ") is after until (" +
                                   filter.until_day() + ")");
  }
  return scope;
}

v1::StockByPostResponse StockReport(const StockFacts& facts) {
  v1::StockByPostResponse out;
  for (const PostKitFacts& f : facts.lines) {
    v1::StockRow* row = out.add_rows();
    row->set_post_code(f.post_code);
    row->set_kit_type_code(f.kit_type_code);
    const int64_t received = f.receipts + f.transfers_in;
    const int64_t balance = received - f.transfers_out + f.adjustments - f.handed_out;
    row->set_received(received);
    row->set_handed_out(f.handed_out);
    row->set_transferred(f.transfers_out);
    row->set_adjusted(f.adjustments);
    row->set_balance(balance);
    row->set_deficit(balance < 0);
    if (f.last_count) {
      row->set_counted(true);
      row->set_last_count(*f.last_count);
      row->set_count_difference(*f.last_count - balance);
      row->set_last_count_wall_ms(f.last_count_wall_ms);
    }
  }
  return out;
}

v1::ReconcileResponse Reconciliation(const StockFacts& facts) {
  std::map<std::string, std::vector<const PostKitFacts*>> posts_by_kit;
  for (const PostKitFacts& f : facts.lines) posts_by_kit[f.kit_type_code].push_back(&f);
  std::map<std::string, std::vector<const TransferFacts*>> transfers_by_kit;
  for (const TransferFacts& t : facts.transfers) {
    transfers_by_kit[t.kit_type_code].push_back(&t);
    posts_by_kit[t.kit_type_code];  // a kit type only ever transferred still gets its lines
  }

  v1::ReconcileResponse out;
  bool balanced = true;
  for (const auto& [kit, posts] : posts_by_kit) {
    v1::ReconcileLine* central = out.add_lines();
    central->set_kit_type_code(kit);
    int64_t receipts = 0, handed_out = 0, in_stock = 0, adjusted = 0, in_transit = 0;
    std::vector<v1::ReconcileLine> post_lines;
    for (const PostKitFacts* f : posts) {
      v1::ReconcileLine line;
      line.set_kit_type_code(kit);
      line.set_post_code(f->post_code);
      const int64_t on_hand = std::max<int64_t>(f->ledger_net, 0);
      SetLine(&line, f->receipts + f->transfers_in, f->handed_out, on_hand, f->transfers_out,
              -f->adjustments);
      for (const UnknownMovements& u : f->unknown) {
        line.add_notes(N(u.rows) + " movement row(s) of unknown kind '" + u.kind + "' (quantity " +
                       N(u.quantity) + ") are in the stock on hand and in no other figure");
      }
      if (f->ledger_net < 0) {
        line.add_notes("deficit: " + N(-f->ledger_net) +
                       " more left the post than it is known to have had; a receipt or a "
                       "transfer in is missing");
      }
      receipts += f->receipts;
      handed_out += f->handed_out;
      in_stock += on_hand;
      adjusted -= f->adjustments;
      post_lines.push_back(std::move(line));
    }
    for (const TransferFacts* t : transfers_by_kit[kit]) {
      const std::string route = t->from_post_code + " -> " + t->to_post_code;
      if (t->sent > t->arrived) {
        const int64_t moving = t->sent - t->arrived;
        in_transit += moving;
        v1::InTransit* it = out.add_in_transit();
        it->set_kit_type_code(kit);
        it->set_from_post_code(t->from_post_code);
        it->set_to_post_code(t->to_post_code);
        it->set_quantity(moving);
        central->add_notes("in transit " + route + ": " + N(moving));
      } else if (t->arrived > t->sent) {
        central->add_notes(t->to_post_code + " recorded " + N(t->arrived - t->sent) +
                           " more arriving from " + t->from_post_code + " than " +
                           t->from_post_code + " recorded sending (" + route + ")");
      }
    }
    SetLine(central, receipts, handed_out, in_stock, in_transit, adjusted);
    for (const v1::ReconcileLine& line : post_lines) {
      if (line.difference() != 0) {
        central->add_notes("post " + line.post_code() + " does not balance by " +
                           N(line.difference()));
      }
    }
    balanced = balanced && central->difference() == 0;
    for (v1::ReconcileLine& line : post_lines) {
      balanced = balanced && line.difference() == 0;
      *out.add_lines() = std::move(line);
    }
  }
  out.set_balanced(balanced);
  return out;
}

Result<v1::HandoutsResponse> ReportsLogic::Handouts(const std::string& token,
                                                    const v1::HandoutsRequest& request) {
  return AdminReport<v1::HandoutsResponse>(
      *logic_, "handouts", token, [&]() -> Result<v1::HandoutsResponse> {
        ASSIGN_OR_RETURN(ReportScope scope, ScopeFromFilter(request.filter()));
        ASSIGN_OR_RETURN(std::vector<HandoutLine> lines, logic_->store()->ReportHandouts(scope));
        v1::HandoutsResponse out;
        for (const HandoutLine& l : lines) {
          v1::HandoutRow* row = out.add_rows();
          row->set_round_code(l.round_code);
          row->set_post_code(l.post_code);
          row->set_kit_type_code(l.kit_type_code);
          row->set_day(l.day);
          row->set_handovers(l.handovers);
          row->set_quantity(l.quantity);
        }
        return out;
      });
}

Result<v1::StockByPostResponse> ReportsLogic::StockByPost(const std::string& token,
                                                          const v1::StockByPostRequest& request) {
  return AdminReport<v1::StockByPostResponse>(
      *logic_, "stock", token, [&]() -> Result<v1::StockByPostResponse> {
        const v1::ReportFilter& f = request.filter();
        if (!f.round_code().empty() || !f.since_day().empty() || !f.until_day().empty()) {
          return Status::InvalidArgument(
              "stock is a post's whole history: filter it by post and kit type only");
        }
        ASSIGN_OR_RETURN(ReportScope scope, ScopeFromFilter(f));
        ASSIGN_OR_RETURN(StockFacts facts, logic_->store()->ReportStockFacts(scope));
        return StockReport(facts);
      });
}

Result<v1::BeneficiariesServedResponse> ReportsLogic::BeneficiariesServed(
    const std::string& token, const v1::BeneficiariesServedRequest& request) {
  return AdminReport<v1::BeneficiariesServedResponse>(
      *logic_, "beneficiaries", token, [&]() -> Result<v1::BeneficiariesServedResponse> {
        ASSIGN_OR_RETURN(ReportScope scope, ScopeFromFilter(request.filter()));
        ASSIGN_OR_RETURN(std::vector<ServedLine> lines, logic_->store()->ReportServed(scope));
        v1::BeneficiariesServedResponse out;
        for (const ServedLine& l : lines) {
          v1::BeneficiariesRow* row = out.add_rows();
          row->set_round_code(l.round_code);
          row->set_post_code(l.post_code);
          row->set_kit_type_code(l.kit_type_code);
          row->set_beneficiaries(l.beneficiaries);
          row->set_document_hashes(l.document_hashes);
          row->set_handovers(l.handovers);
        }
        return out;
      });
}

Result<v1::ReconcileResponse> ReportsLogic::Reconcile(const std::string& token,
                                                      const v1::ReconcileRequest& request) {
  return AdminReport<v1::ReconcileResponse>(
      *logic_, "reconcile", token, [&]() -> Result<v1::ReconcileResponse> {
        RETURN_IF_ERROR(CheckOptionalCode("kit type code", request.kit_type_code()));
        ReportScope scope;
        scope.kit_type_code = request.kit_type_code();
        ASSIGN_OR_RETURN(StockFacts facts, logic_->store()->ReportStockFacts(scope));
        return Reconciliation(facts);
      });
}

}  // namespace kitsync::sync

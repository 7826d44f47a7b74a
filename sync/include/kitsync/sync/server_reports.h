// The central reports: where every kit went. Transport-free like ServerLogic: proto requests in,
// proto responses or a core::Status out; the gRPC service (server_reports_service.h) is a thin
// wrapper. Admin credential only, authorised exactly as the Admin calls are.
//
// The reconciliation identity, per kit type, centrally and per post:
//
//   received = handed out + in stock + transferred + adjusted
//
//   adjusted    kits lost or damaged: MINUS the sum of adjustment deltas (a "found" adjustment
//               counts negative), so that every term on the right is where kits went.
//   post line   received = receipts + transfers in at the post; transferred = transfers out.
//   central     received = receipts from outside the system (at any post, HQ included);
//               transfers between posts are internal, and transferred = in transit: per pair of
//               posts and kit type, what the sender sent beyond what the receiver recorded as
//               arrived.
//   in stock    the stock on hand, read independently of the other figures: every movement row
//               of the post as recorded (a transfer out leaving, a count changing nothing), less
//               the handovers not voided; never below zero, since no shelf holds fewer than no
//               kits. Centrally the sum over posts.
//
// Both sides come from the rows, not one from the other, so a row outside the formula shows up
// as a difference on its post and kit type, with a note naming it: a movement of a kind the
// server does not know, a deficit (more left a post than it is known to have had: a receipt is
// missing), kits that arrived from another post without a matching dispatch. Nothing is rounded.
//
// Thread-safety: as the store.
#pragma once

#include <cstdint>
#include <string>

#include "kitsync/core/status.h"
#include "kitsync/sync/report_facts.h"
#include "kitsync/sync/server_logic.h"
#include "kitsync/v1/reports.pb.h"

namespace kitsync::sync {

class ReportsLogic {
 public:
  // `logic` (and its store) must outlive this object.
  explicit ReportsLogic(ServerLogic* logic) : logic_(logic) {}

  core::Result<v1::HandoutsResponse> Handouts(const std::string& token,
                                              const v1::HandoutsRequest& request);
  core::Result<v1::StockByPostResponse> StockByPost(const std::string& token,
                                                    const v1::StockByPostRequest& request);
  core::Result<v1::BeneficiariesServedResponse> BeneficiariesServed(
      const std::string& token, const v1::BeneficiariesServedRequest& request);
  core::Result<v1::ReconcileResponse> Reconcile(const std::string& token,
                                                const v1::ReconcileRequest& request);

 private:
  ServerLogic* logic_;
};

// A request's filter, checked: codes as codes, days as YYYY-MM-DD (UTC, both ends included),
// since not after until.
core::Result<ReportScope> ScopeFromFilter(const v1::ReportFilter& filter);

// Milliseconds since the epoch at 00:00 UTC of `day` ("YYYY-MM-DD"); INVALID_ARGUMENT otherwise.
core::Result<int64_t> DayStartMs(const std::string& field, const std::string& day);

// The pure arithmetic of the reports, on facts the store read.
v1::StockByPostResponse StockReport(const StockFacts& facts);
v1::ReconcileResponse Reconciliation(const StockFacts& facts);

}  // namespace kitsync::sync

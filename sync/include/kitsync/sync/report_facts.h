// What the server store reads for the central reports: aggregates of the facts it holds, keyed by
// code (or by ID when a fact names a record the master data lacks). No names, phone numbers or
// document numbers: reports are pseudonymous. The arithmetic on these (balances, the
// reconciliation identity) is in server_reports.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kitsync::sync {

// Which facts a report covers. Empty codes and unset bounds do not filter. Codes that name no
// record are NOT_FOUND, so a mistyped filter never reads as "nothing happened".
struct ReportScope {
  std::string round_code;
  std::string post_code;
  std::string kit_type_code;
  std::optional<int64_t> since_ms;  // handover wall clock >= since_ms
  std::optional<int64_t> until_ms;  // handover wall clock < until_ms
};

// Handovers not voided, by round, post, kit type and UTC day of their wall clock.
struct HandoutLine {
  std::string round_code;
  std::string post_code;
  std::string kit_type_code;
  std::string day;  // YYYY-MM-DD
  int64_t handovers = 0;
  int64_t quantity = 0;
};

// Beneficiaries served (handovers not voided). post_code is empty on the all-posts line.
struct ServedLine {
  std::string round_code;
  std::string post_code;
  std::string kit_type_code;
  int64_t beneficiaries = 0;    // distinct beneficiaries, a merged family once
  int64_t document_hashes = 0;  // distinct document hashes
  int64_t handovers = 0;
};

// Movement rows of a kind this server does not know: counted nowhere but in the stock on hand.
struct UnknownMovements {
  std::string kind;
  int64_t rows = 0;
  int64_t quantity = 0;
};

// One post's ledger for one kit type, each figure summed from its own rows.
struct PostKitFacts {
  std::string post_code;
  std::string kit_type_code;
  int64_t receipts = 0;
  int64_t transfers_in = 0;
  int64_t transfers_out = 0;
  int64_t adjustments = 0;  // signed sum of adjustment deltas
  int64_t handed_out = 0;   // handovers not voided
  // Read independently of the figures above, in one pass over every row of the post's ledger:
  // each movement row's quantity as recorded (a transfer out leaving, a count changing nothing),
  // less every handover not voided. Equal to receipts + transfers_in - transfers_out +
  // adjustments - handed_out unless some row falls outside those figures.
  int64_t ledger_net = 0;
  std::vector<UnknownMovements> unknown;
  std::optional<int64_t> last_count;  // the latest physical count, by HLC
  int64_t last_count_wall_ms = 0;
};

// Transfers between two posts of one kit type: what the sender recorded as sent and what the
// receiver recorded as arrived.
struct TransferFacts {
  std::string kit_type_code;
  std::string from_post_code;
  std::string to_post_code;
  int64_t sent = 0;
  int64_t arrived = 0;
};

struct StockFacts {
  std::vector<PostKitFacts> lines;       // ordered by post code, then kit type code
  std::vector<TransferFacts> transfers;  // ordered by kit type, from, to; not filtered by post
};

}  // namespace kitsync::sync

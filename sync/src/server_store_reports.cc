// The central reports' reads. Each report runs in one read transaction on the store's connection,
// so every figure of it comes from the same snapshot; nothing here writes.
//
// Facts may name records the master data lacks (a kit type loaded later, say): such a fact is
// reported under its ID rather than left out, so totals never silently shrink.
#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

#include "kitsync/core/domain.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using core::sqlite::Db;
using core::sqlite::Statement;

// A deferred BEGIN: the first read takes the snapshot, and no write lock is held. Ends with
// COMMIT (nothing was written; it only releases the snapshot), or ROLLBACK on an early return.
// REQUIRES: every statement used inside is finalised or reset before End().
class ReadTransaction {
 public:
  static Result<std::unique_ptr<ReadTransaction>> Begin(Db& db) {
    RETURN_IF_ERROR(db.Exec("BEGIN"));
    return std::unique_ptr<ReadTransaction>(new ReadTransaction(db));
  }
  ~ReadTransaction() {
    if (open_) (void)db_.Exec("ROLLBACK");
  }
  Status End() {
    open_ = false;
    return db_.Exec("COMMIT");
  }

 private:
  explicit ReadTransaction(Db& db) : db_(db) {}
  Db& db_;
  bool open_ = true;
};

// Runs `stmt` to the end, calling `row(stmt)` for each row.
template <typename F>
Status ForEachRow(Statement& stmt, F&& row) {
  while (true) {
    ASSIGN_OR_RETURN(bool more, stmt.Step());
    if (!more) return Status::Ok();
    row(stmt);
  }
}

// ID -> code of a master table; a fact naming an ID that is not there is shown by its ID.
class Codes {
 public:
  static Result<Codes> Read(Db& db, const char* table) {
    Codes out;
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(std::string("SELECT id, code FROM ") + table));
    RETURN_IF_ERROR(
        ForEachRow(*stmt, [&](Statement& s) { out.codes_.emplace(s.Text(0), s.Text(1)); }));
    return out;
  }
  std::string Of(const std::string& id) const {
    auto it = codes_.find(id);
    return it == codes_.end() ? id : it->second;
  }

 private:
  std::map<std::string, std::string> codes_;
};

// The filter's codes as IDs ('' where it does not filter), bound as ?1 round, ?2 post, ?3 kit,
// ?4 since, ?5 until by every query below.
struct ScopeIds {
  std::string round_id;
  std::string post_id;
  std::string kit_type_id;
  std::optional<int64_t> since_ms;
  std::optional<int64_t> until_ms;

  // For queries of handovers (all five parameters).
  void BindTo(Statement& stmt) const {
    BindPostKit(stmt);
    stmt.BindOptional(4, since_ms).BindOptional(5, until_ms);
  }
  // For queries of movements only, which use at most ?1 to ?3.
  void BindPostKit(Statement& stmt) const {
    stmt.Bind(1, round_id).Bind(2, post_id).Bind(3, kit_type_id);
  }
};

// Handovers in scope that no void names. The handover is `h`.
#define KITSYNC_HANDOVERS_IN_SCOPE                                           \
  " NOT EXISTS (SELECT 1 FROM handover_voids v WHERE v.handover_id = h.id)"  \
  " AND (?1 = '' OR h.round_id = ?1) AND (?2 = '' OR h.post_id = ?2)"        \
  " AND (?3 = '' OR h.kit_type_id = ?3) AND (?4 IS NULL OR h.wall_ms >= ?4)" \
  " AND (?5 IS NULL OR h.wall_ms < ?5) "

// Movements in scope (post and kit type only: stock is a post's whole history). The movement is
// `m`.
#define KITSYNC_MOVEMENTS_IN_SCOPE \
  " (?2 = '' OR m.post_id = ?2) AND (?3 = '' OR m.kit_type_id = ?3) "

Result<ScopeIds> ResolveScope(
    const ReportScope& scope,
    const std::function<Result<std::string>(const char*, const char*, const std::string&)>& id) {
  ScopeIds out;
  if (!scope.round_code.empty()) {
    ASSIGN_OR_RETURN(out.round_id, id("rounds", "round", scope.round_code));
  }
  if (!scope.post_code.empty()) {
    ASSIGN_OR_RETURN(out.post_id, id("posts", "post", scope.post_code));
  }
  if (!scope.kit_type_code.empty()) {
    ASSIGN_OR_RETURN(out.kit_type_id, id("kit_types", "kit type", scope.kit_type_code));
  }
  out.since_ms = scope.since_ms;
  out.until_ms = scope.until_ms;
  return out;
}

}  // namespace

Result<std::vector<HandoutLine>> SqliteServerStore::ReportHandouts(const ReportScope& scope) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, ReadTransaction::Begin(*db_));
  auto id_by_code = [this](const char* t, const char* n, const std::string& c) {
    return IdByCode(t, n, c);
  };
  ASSIGN_OR_RETURN(ScopeIds ids, ResolveScope(scope, id_by_code));
  std::vector<HandoutLine> out;
  {
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("SELECT coalesce(r.code, h.round_id), coalesce(p.code, h.post_id), "
                     "coalesce(k.code, h.kit_type_id), date(h.wall_ms / 1000, 'unixepoch'), "
                     "count(*), sum(h.quantity) FROM handovers h "
                     "LEFT JOIN rounds r ON r.id = h.round_id "
                     "LEFT JOIN posts p ON p.id = h.post_id "
                     "LEFT JOIN kit_types k ON k.id = h.kit_type_id "
                     "WHERE" KITSYNC_HANDOVERS_IN_SCOPE "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"));
    ids.BindTo(*stmt);
    RETURN_IF_ERROR(ForEachRow(*stmt, [&](Statement& s) {
      out.push_back({s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5)});
    }));
  }
  RETURN_IF_ERROR(tx->End());
  return out;
}

// Whose handover h is now: the kept beneficiary of the merge standing for its own, or its own.
#define KITSYNC_BENEFICIARY_NOW                                                              \
  "coalesce((SELECT m.kept_id FROM beneficiary_merges m WHERE m.retired_id = h.beneficiary_id " \
  "ORDER BY m.hlc DESC, m.id DESC LIMIT 1), h.beneficiary_id)"

Result<std::vector<ServedLine>> SqliteServerStore::ReportServed(const ReportScope& scope) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, ReadTransaction::Begin(*db_));
  auto id_by_code = [this](const char* t, const char* n, const std::string& c) {
    return IdByCode(t, n, c);
  };
  ASSIGN_OR_RETURN(ScopeIds ids, ResolveScope(scope, id_by_code));
  // (round, kit type) -> per-post lines, then the all-posts line.
  std::map<std::pair<std::string, std::string>, std::vector<ServedLine>> by_round_kit;
  std::map<std::pair<std::string, std::string>, ServedLine> all_posts;
  {
    // Grouping sets by hand: per post, and over all posts (where a family registered at two
    // posts, under two beneficiary IDs, is still one document hash). A handover counts for the
    // beneficiary its own was merged into, if the office merged it (the latest merge stands).
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("SELECT coalesce(r.code, h.round_id), coalesce(k.code, h.kit_type_id), "
                     "coalesce(p.code, h.post_id), count(DISTINCT " KITSYNC_BENEFICIARY_NOW "), "
                     "count(DISTINCT b.doc_hash), count(*), 0 FROM handovers h "
                     "LEFT JOIN beneficiaries b ON b.id = h.beneficiary_id "
                     "LEFT JOIN rounds r ON r.id = h.round_id "
                     "LEFT JOIN posts p ON p.id = h.post_id "
                     "LEFT JOIN kit_types k ON k.id = h.kit_type_id "
                     "WHERE" KITSYNC_HANDOVERS_IN_SCOPE "GROUP BY 1, 2, 3 "
                     "UNION ALL "
                     "SELECT coalesce(r.code, h.round_id), coalesce(k.code, h.kit_type_id), '', "
                     "count(DISTINCT " KITSYNC_BENEFICIARY_NOW "), count(DISTINCT b.doc_hash), "
                     "count(*), 1 "
                     "FROM handovers h "
                     "LEFT JOIN beneficiaries b ON b.id = h.beneficiary_id "
                     "LEFT JOIN rounds r ON r.id = h.round_id "
                     "LEFT JOIN kit_types k ON k.id = h.kit_type_id "
                     "WHERE" KITSYNC_HANDOVERS_IN_SCOPE "GROUP BY 1, 2"));
    ids.BindTo(*stmt);
    RETURN_IF_ERROR(ForEachRow(*stmt, [&](Statement& s) {
      ServedLine line{s.Text(0), s.Text(2), s.Text(1), s.Int(3), s.Int(4), s.Int(5)};
      const auto key = std::make_pair(line.round_code, line.kit_type_code);
      if (s.Int(6) == 1) {
        all_posts[key] = std::move(line);
      } else {
        by_round_kit[key].push_back(std::move(line));
      }
    }));
  }
  RETURN_IF_ERROR(tx->End());
  std::vector<ServedLine> out;
  for (auto& [key, lines] : by_round_kit) {
    std::sort(lines.begin(), lines.end(),
              [](const ServedLine& a, const ServedLine& b) { return a.post_code < b.post_code; });
    for (ServedLine& line : lines) out.push_back(std::move(line));
    out.push_back(all_posts[key]);
  }
  return out;
}

Result<StockFacts> SqliteServerStore::ReportStockFacts(const ReportScope& scope) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto tx, ReadTransaction::Begin(*db_));
  auto id_by_code = [this](const char* t, const char* n, const std::string& c) {
    return IdByCode(t, n, c);
  };
  ReportScope stock_scope;  // stock is a post's whole history: no round, no days
  stock_scope.post_code = scope.post_code;
  stock_scope.kit_type_code = scope.kit_type_code;
  ASSIGN_OR_RETURN(ScopeIds ids, ResolveScope(stock_scope, id_by_code));
  ASSIGN_OR_RETURN(Codes posts, Codes::Read(*db_, "posts"));
  ASSIGN_OR_RETURN(Codes kits, Codes::Read(*db_, "kit_types"));

  std::map<std::pair<std::string, std::string>, PostKitFacts> lines;  // (post ID, kit type ID)
  auto line = [&](const std::string& post_id, const std::string& kit_type_id) -> PostKitFacts& {
    PostKitFacts& f = lines[{post_id, kit_type_id}];
    if (f.post_code.empty()) {
      f.post_code = posts.Of(post_id);
      f.kit_type_code = kits.Of(kit_type_id);
    }
    return f;
  };

  // Movements by kind, each kind its own figure.
  {
    ASSIGN_OR_RETURN(auto stmt,
                     db_->Prepare("SELECT m.post_id, m.kit_type_id, m.kind, count(*), "
                                  "sum(m.quantity) FROM stock_movements m "
                                  "WHERE" KITSYNC_MOVEMENTS_IN_SCOPE "GROUP BY 1, 2, 3"));
    ids.BindPostKit(*stmt);
    RETURN_IF_ERROR(ForEachRow(*stmt, [&](Statement& s) {
      PostKitFacts& f = line(s.Text(0), s.Text(1));
      const std::string kind = s.Text(2);
      const int64_t sum = s.Int(4);
      const auto known = core::ParseMovementKind(kind);
      if (!known) {
        f.unknown.push_back({kind, s.Int(3), sum});
        return;
      }
      switch (*known) {
        case core::MovementKind::kReceipt:
          f.receipts = sum;
          break;
        case core::MovementKind::kTransferIn:
          f.transfers_in = sum;
          break;
        case core::MovementKind::kTransferOut:
          f.transfers_out = sum;
          break;
        case core::MovementKind::kAdjustment:
          f.adjustments = sum;
          break;
        case core::MovementKind::kCount:
          break;  // an observation, read below
      }
    }));
  }
  // Handed out: quantities of handovers no void names.
  {
    ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT h.post_id, h.kit_type_id, sum(h.quantity) "
                                             "FROM handovers h WHERE" KITSYNC_HANDOVERS_IN_SCOPE
                                             "GROUP BY 1, 2"));
    ids.BindTo(*stmt);
    RETURN_IF_ERROR(
        ForEachRow(*stmt, [&](Statement& s) { line(s.Text(0), s.Text(1)).handed_out = s.Int(2); }));
  }
  // The ledger's net, independently of the kinds: one pass over every row that moves stock.
  {
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("SELECT post_id, kit_type_id, sum(delta) FROM ("
                     "SELECT m.post_id, m.kit_type_id, CASE m.kind WHEN 'transfer_out' "
                     "THEN -m.quantity ELSE m.quantity END AS delta FROM stock_movements m "
                     "WHERE m.kind != 'count' AND" KITSYNC_MOVEMENTS_IN_SCOPE
                     "UNION ALL SELECT h.post_id, h.kit_type_id, -h.quantity FROM handovers h "
                     "WHERE" KITSYNC_HANDOVERS_IN_SCOPE ") GROUP BY 1, 2"));
    ids.BindTo(*stmt);
    RETURN_IF_ERROR(
        ForEachRow(*stmt, [&](Statement& s) { line(s.Text(0), s.Text(1)).ledger_net = s.Int(2); }));
  }
  // The latest physical count of each post and kit type: by HLC, as on the tablet.
  {
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare("SELECT m.post_id, m.kit_type_id, m.quantity, m.wall_ms "
                     "FROM stock_movements m WHERE m.kind = 'count' AND" KITSYNC_MOVEMENTS_IN_SCOPE
                     "ORDER BY m.post_id, m.kit_type_id, m.hlc DESC, m.id DESC"));
    ids.BindPostKit(*stmt);
    RETURN_IF_ERROR(ForEachRow(*stmt, [&](Statement& s) {
      PostKitFacts& f = line(s.Text(0), s.Text(1));
      if (f.last_count) return;
      f.last_count = s.Int(2);
      f.last_count_wall_ms = s.Int(3);
    }));
  }
  // Transfers between pairs of posts: sent as the sender recorded, arrived as the receiver did.
  StockFacts out;
  {
    ASSIGN_OR_RETURN(
        auto stmt,
        db_->Prepare(
            "SELECT m.kit_type_id, "
            "CASE m.kind WHEN 'transfer_out' THEN m.post_id ELSE m.counterpart_post_id END, "
            "CASE m.kind WHEN 'transfer_out' THEN m.counterpart_post_id ELSE m.post_id END, "
            "coalesce(sum(CASE m.kind WHEN 'transfer_out' THEN m.quantity END), 0), "
            "coalesce(sum(CASE m.kind WHEN 'transfer_in' THEN m.quantity END), 0) "
            "FROM stock_movements m WHERE m.kind IN ('transfer_out', 'transfer_in') "
            "AND (?3 = '' OR m.kit_type_id = ?3) GROUP BY 1, 2, 3"));
    ids.BindPostKit(*stmt);
    RETURN_IF_ERROR(ForEachRow(*stmt, [&](Statement& s) {
      out.transfers.push_back(
          {kits.Of(s.Text(0)), posts.Of(s.Text(1)), posts.Of(s.Text(2)), s.Int(3), s.Int(4)});
    }));
  }
  RETURN_IF_ERROR(tx->End());

  for (auto& [key, facts] : lines) out.lines.push_back(std::move(facts));
  std::sort(out.lines.begin(), out.lines.end(), [](const PostKitFacts& a, const PostKitFacts& b) {
    return std::tie(a.post_code, a.kit_type_code) < std::tie(b.post_code, b.kit_type_code);
  });
  std::sort(out.transfers.begin(), out.transfers.end(),
            [](const TransferFacts& a, const TransferFacts& b) {
              return std::tie(a.kit_type_code, a.from_post_code, a.to_post_code) <
                     std::tie(b.kit_type_code, b.from_post_code, b.to_post_code);
            });
  return out;
}

}  // namespace kitsync::sync

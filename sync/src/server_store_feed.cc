// Reading the feed for one device: its post's channel, the master channel and the other posts'
// served summaries, merged in server order. Each channel is read on its own through the
// (channel, server_seq) index, so a page costs O(limit) however long the feed grows.
#include <algorithm>

#include "server_master_codec.h"
#include "server_store_sqlite.h"

namespace kitsync::sync {
namespace {

using core::Result;
using core::Status;
using core::sqlite::Statement;

}  // namespace

Result<FeedPage> SqliteServerStore::ReadFeed(const Principal& device, int64_t after,
                                             int64_t limit,
                                             std::optional<int64_t> remaining_after) {
  if (device.is_admin()) return Status::PermissionDenied("only a device pulls the feed");
  if (after < 0) return Status::InvalidArgument("a feed cursor cannot be negative");
  if (limit < 1) return Status::InvalidArgument("a page holds at least one change");
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(int64_t head, db_->QueryInt("SELECT max(server_seq) FROM feed"));
  if (after > head) {
    return Status::OutOfRange("cursor " + std::to_string(after) + " is beyond the feed's head " +
                              std::to_string(head) +
                              " (was the server restored from a backup?); pull from 0");
  }

  ASSIGN_OR_RETURN(Statement * page,
                   db_->Cached("SELECT server_seq, entity, entity_id, hlc, payload FROM feed "
                               "WHERE channel = ? AND server_seq > ? AND origin_device != ? "
                               "ORDER BY server_seq LIMIT ?"));
  ASSIGN_OR_RETURN(std::vector<std::string> channels, ChannelsOf(device));
  std::vector<FeedRow> rows;
  for (const std::string& channel : channels) {
    page->Reset();
    page->Bind(1, channel).Bind(2, after).Bind(3, device.device_id).Bind(4, limit);
    while (true) {
      ASSIGN_OR_RETURN(bool row, page->Step());
      if (!row) break;
      rows.push_back({page->Int(0), page->Text(1), page->Text(2),
                      core::Hlc::Unpack(static_cast<uint64_t>(page->Int(3))), page->Text(4)});
    }
  }
  page->Reset();
  std::sort(rows.begin(), rows.end(),
            [](const FeedRow& a, const FeedRow& b) { return a.server_seq < b.server_seq; });
  if (rows.size() > static_cast<size_t>(limit)) rows.resize(static_cast<size_t>(limit));

  FeedPage out;
  out.cursor = after;
  // An entry of a run of handovers or of served summaries holds many changes: the page ends
  // after the entry that reaches `limit`, so it never splits an entry and always makes
  // progress.
  size_t taken = 0;
  for (FeedRow& r : rows) {
    if (out.changes.size() >= static_cast<size_t>(limit)) break;
    RETURN_IF_ERROR(AddFeedEntry(r, out.changes));
    out.cursor = r.server_seq;
    ++taken;
  }

  if (taken == rows.size() && rows.size() < static_cast<size_t>(limit)) {
    // Everything this device may see up to the head is in this page: move the cursor past the
    // rest (its own changes, other posts'), so the next pull does not scan them again.
    out.cursor = head;
    return out;
  }
  // Counting what remains reads every feed entry after the cursor, so a tablet pulling a long
  // backlog page by page would read it all again for every page (a new tablet at a post of
  // 100,000 registrations spent more time counting than pulling). Within one pull the page
  // before counted it already: every entry up to this page's cursor was read into this page
  // (each channel gives its first `limit` entries, and the page is a prefix of them in server
  // order), so what remains is that count less this page's changes. Entries appended since that
  // count only make the difference smaller; once it is not above zero, count again, so a pull
  // never ends while the feed holds more for the device.
  const auto sent = static_cast<int64_t>(out.changes.size());
  if (remaining_after && *remaining_after > sent) {
    out.remaining = *remaining_after - sent;
    return out;
  }
  // An entry of a run of handovers or of served summaries counts the changes it holds.
  static const std::string kCountSql =
      std::string("SELECT coalesce(sum(CASE WHEN entity IN ('") + kHandoversEntity + "', '" +
      kServedSummariesEntity +
      "') THEN CAST(entity_id AS INTEGER) ELSE 1 END), 0) FROM feed "
      "WHERE channel = ? AND server_seq > ? AND origin_device != ?";
  ASSIGN_OR_RETURN(Statement * count, db_->Cached(kCountSql.c_str()));
  for (const std::string& channel : channels) {
    count->Reset();
    ASSIGN_OR_RETURN(bool row,
                     count->Bind(1, channel).Bind(2, out.cursor).Bind(3, device.device_id).Step());
    if (row) out.remaining += count->Int(0);
    count->Reset();
  }
  return out;
}

Status SqliteServerStore::AddFeedEntry(const FeedRow& row,
                                       std::vector<core::RemoteChange>& changes) {
  auto damaged = [&](const Status& s) {
    return Status::DataLoss("feed entry " + std::to_string(row.server_seq) + ": " + s.message());
  };
  if (row.entity == kServedSummariesEntity) {
    auto summaries = DecodeServedSummaries(row.payload);
    if (!summaries.ok()) return damaged(summaries.status());
    for (core::ServedSummary& sv : *summaries) changes.push_back({row.hlc, std::move(sv)});
    return Status::Ok();
  }
  if (row.entity == kHandoversEntity) {
    std::vector<std::string_view> ids;
    const std::string_view payload = row.payload;
    for (size_t at = 0; at <= payload.size();) {
      const size_t end = std::min(payload.find('\n', at), payload.size());
      ids.push_back(payload.substr(at, end - at));
      at = end + 1;
    }
    auto handovers = HeldHandovers(ids);
    if (!handovers.ok()) return damaged(handovers.status());
    for (size_t i = 0; i < ids.size(); ++i) {
      std::optional<core::Handover>& h = (*handovers)[i];
      if (!h) {
        return damaged(Status::NotFound("handover " + std::string(ids[i]) + " is not held"));
      }
      const core::Hlc hlc = h->hlc;
      changes.push_back({hlc, std::move(*h)});
    }
    return Status::Ok();
  }
  if (row.entity == "handover" && row.payload.empty()) {
    auto handover = HeldHandover(row.entity_id);
    if (!handover.ok()) return damaged(handover.status());
    if (!*handover) return damaged(Status::NotFound("handover " + row.entity_id + " is not held"));
    changes.push_back({row.hlc, std::move(**handover)});
    return Status::Ok();
  }
  auto record = DecodeFeed(row.entity, row.payload);
  if (!record.ok()) return damaged(record.status());
  changes.push_back({row.hlc, std::move(record).value()});
  return Status::Ok();
}

Result<std::vector<std::string>> SqliteServerStore::ChannelsOf(const Principal& device) {
  std::vector<std::string> channels = {device.post_id, kMasterChannel};
  ASSIGN_OR_RETURN(Statement * posts, db_->Cached("SELECT id FROM posts WHERE id != ? ORDER BY id"));
  posts->Bind(1, device.post_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, posts->Step());
    if (!row) break;
    channels.push_back(kServedChannelPrefix + posts->Text(0));
  }
  posts->Reset();
  return channels;
}

Result<DeviceCursor> SqliteServerStore::GetCursor(const Principal& device) {
  if (device.is_admin()) return Status::PermissionDenied("the admin has no device cursor");
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement * stmt,
                   db_->Cached("SELECT acked_seq, tip_hash FROM devices WHERE id = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, device.device_id).Step());
  if (!row) return Status::Unauthenticated("unknown device " + device.device_id);
  DeviceCursor out;
  out.acked_seq = stmt->Int(0);
  out.tip_hash = out.acked_seq > 0 ? stmt->Text(1) : std::string();
  stmt->Reset();
  ASSIGN_OR_RETURN(out.feed_head, db_->QueryInt("SELECT max(server_seq) FROM feed"));
  return out;
}

}  // namespace kitsync::sync

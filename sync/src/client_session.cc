#include "kitsync/sync/client_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/client_failure.h"
#include "kitsync/sync/client_feed_epoch.h"
#include "kitsync/sync/wire.h"

namespace kitsync::sync {
namespace {

using core::Status;

// Pulled changes applied in one transaction at most, when batches arrive faster than the
// tablet applies them: eight batches of the default size. Applying them holds the database's
// write lock for well under a second, which an officer recording a handover meanwhile waits out.
constexpr size_t kMaxChangesPerPullTransaction = 4000;

// Errors of the tablet's own database. A busy database is ABORTED here, not UNAVAILABLE: that
// code means "the server may have the data" to everything above the session.
Status Local(const Status& s) {
  if (s.ok()) return s;
  const core::Code code = s.code() == core::Code::kUnavailable ? core::Code::kAborted : s.code();
  return Status(code, "on this tablet: " + s.message());
}
template <typename T>
core::Result<T> Local(core::Result<T> r) {
  if (r.ok()) return r;
  return Local(r.status());
}

core::Result<int64_t> ToSeq(uint64_t value, const char* what) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::OutOfRange(std::string("the server sent an impossible ") + what);
  }
  return static_cast<int64_t>(value);
}

}  // namespace

SyncSession::SyncSession(core::Store& store, Transport& transport, SessionOptions options)
    : store_(store), transport_(transport), options_(std::move(options)) {
  options_.batch_size = std::max(1, options_.batch_size);
  if (!options_.wall_clock) options_.wall_clock = core::SystemWallClock();
}

SyncReport SyncSession::Run() {
  const auto start = std::chrono::steady_clock::now();
  report_ = SyncReport();
  report_.status = RunSteps();
  report_.pending = std::max<int64_t>(0, last_seq_ - acked_);
  report_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  Emit(SyncPhase::kDone);
  return report_;
}

Status SyncSession::RunSteps() {
  RETURN_IF_ERROR(ReadLocalState());
  Emit(SyncPhase::kStatus);
  RETURN_IF_ERROR(Align());
  const Status push = PushAll();
  // A link or credential problem ends the pass; a refused batch does not keep master data and
  // resolutions from arriving.
  if (!push.ok() && ClassifyFailure(push) != SyncFailure::kOther) return push;
  const Status pull = PullAll();
  return push.ok() ? pull : push;
}

Status SyncSession::ReadLocalState() {
  ASSIGN_OR_RETURN(core::TabletStatus local, Local(store_.GetStatus(/*verify_chain=*/false)));
  last_seq_ = local.last_seq;
  acked_ = local.acked_seq;
  ASSIGN_OR_RETURN(report_.pull_cursor, Local(store_.PullCursor()));
  return Status::Ok();
}

Status SyncSession::Align() {
  ASSIGN_OR_RETURN(v1::StatusResponse server, transport_.GetStatus());
  server_reads_ = ReadWireFeatures(server.wire_features());
  const std::string& device_id = store_.identity().device_id;
  if (!server.device_id().empty()) {
    auto server_device = UuidFromBytes(server.device_id());
    if (!server_device.ok() || *server_device != device_id) {
      return Status::Unauthenticated(
          "the server knows this tablet's credential as another device than this database's (" +
          device_id + "); the database and the enrolment do not belong together");
    }
  }
  ASSIGN_OR_RETURN(const int64_t held, ToSeq(server.acked_seq(), "acknowledged sequence"));
  ASSIGN_OR_RETURN(feed_head_, ToSeq(server.feed_head(), "feed head"));
  RETURN_IF_ERROR(LineUpFeed(server));
  if (held > last_seq_) {
    ASSIGN_OR_RETURN(core::TabletStatus local, Local(store_.GetStatus(/*verify_chain=*/false)));
    last_seq_ = local.last_seq;
  }
  if (held > last_seq_) {
    return Status::FailedPrecondition(
        "the server holds " + std::to_string(held) +
        " changes from this tablet, but its log "
        "ends at " +
        std::to_string(last_seq_) +
        ": this database is older than the server's "
        "copy (restored from a backup?). Nothing was sent; ask for support");
  }
  if (held > acked_) {
    // The server committed batches whose acks were lost with the link. Taking its word only
    // when its chain hash matches this tablet's entry keeps a foreign log from moving the cursor.
    ASSIGN_OR_RETURN(auto entries, Local(store_.PendingChanges(held - acked_)));
    if (entries.empty() || entries.back().seq != held) {
      return Local(
          Status::Internal("the change log has a gap before entry " + std::to_string(held)));
    }
    if (!server.tip_hash().empty() && entries.back().hash != server.tip_hash()) {
      return Status::FailedPrecondition(
          "the server's copy of this tablet's log differs from the tablet's at change " +
          std::to_string(held) + "; nothing was sent; ask for support");
    }
    RETURN_IF_ERROR(Local(store_.AcknowledgeUpload(held)));
    spdlog::info("server already held changes {}..{} (their acks were lost); not sending them",
                 acked_ + 1, held);
    report_.pushed += held - acked_;
    acked_ = held;
  } else if (held < acked_) {
    spdlog::warn(
        "server holds this tablet's changes only up to {} but {} were acknowledged (server "
        "restored from a backup?); sending again from {}",
        held, acked_, held + 1);
    RETURN_IF_ERROR(Local(store_.ResetUploadCursor(held)));
    acked_ = held;
    report_.server_restored = true;
  }
  return CheckContinuity(server.tip_hash(), held);
}

// A server restored from a copy goes on from the copy's feed head under a new epoch; what this
// tablet pulled past that point from the server the copy was taken from is not what this server
// holds there. The cursor goes back to where the two feeds are known to agree, and every pull
// names the epoch it belongs to, so the server refuses it should the epoch change again.
Status SyncSession::LineUpFeed(const v1::StatusResponse& server) {
  ASSIGN_OR_RETURN(pull_epoch_, Local(store_.PullEpoch()));
  if (server.feed_epoch().empty() || server.feed_epoch() == pull_epoch_) return Status::Ok();
  ASSIGN_OR_RETURN(const int64_t cursor, Local(store_.PullCursor()));
  const int64_t lined_up = PullCursorForEpoch(server, pull_epoch_, cursor);
  RETURN_IF_ERROR(Local(store_.SetPullEpoch(server.feed_epoch(), lined_up)));
  // A tablet from before epochs that goes back was also pulling from a server since restored.
  if (!pull_epoch_.empty() || lined_up < cursor) {
    spdlog::warn(
        "server's feed is epoch {} (restored from a copy) and this tablet pulled up to {} in "
        "epoch {}; receiving again after {}",
        server.feed_epoch(), cursor, pull_epoch_.empty() ? "(none recorded)" : pull_epoch_,
        lined_up);
    report_.server_restored = true;
  }
  pull_epoch_ = server.feed_epoch();
  report_.pull_cursor = lined_up;
  return Status::Ok();
}

// The next entry to send must link to the server's tip, or the server will refuse it; saying so
// here names the problem instead of retrying a refusal.
Status SyncSession::CheckContinuity(const std::string& server_tip, int64_t held) {
  if (held == 0 || server_tip.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto next, Local(store_.PendingChanges(1)));
  if (next.empty() || next.front().prev_hash == server_tip) return Status::Ok();
  return Status::FailedPrecondition(
      "the server's copy of this tablet's log does not end at this tablet's change " +
      std::to_string(held) + "; nothing was sent; ask for support");
}

Status SyncSession::PushAll() {
  int gap_recoveries = 0;
  while (true) {
    RETURN_IF_ERROR(CheckStop());
    // Each stream starts after what the server is known to hold: batches sent on a stream that
    // failed may or may not have been applied, and Align or the server's acks settle which.
    sent_ = acked_;
    sent_all_ = false;
    const int64_t acked_before = acked_;
    Status s = transport_.Push([this] { return NextBatch(); },
                               [this](const v1::PushAck& ack) { return OnAck(ack); });
    if (s.code() == core::Code::kFailedPrecondition &&
        gap_recoveries < options_.max_gap_recoveries) {
      ++gap_recoveries;
      spdlog::warn("server refused the upload at change {} ({}); re-reading its position",
                   acked_ + 1, s.message());
      RETURN_IF_ERROR(Align());
      continue;
    }
    RETURN_IF_ERROR(s);
    if (sent_all_ && acked_ >= sent_) {
      last_seq_ = acked_;
      Emit(SyncPhase::kPush);
      return Status::Ok();
    }
    if (acked_ == acked_before) {
      // A transport that reports success without an ack would otherwise loop here forever.
      return Status::Unavailable("upload: outcome unknown, the server acknowledged nothing");
    }
  }
}

core::Result<std::optional<v1::PushBatch>> SyncSession::NextBatch() {
  RETURN_IF_ERROR(CheckStop());
  RETURN_IF_ERROR(Local(store_.PendingFacts(sent_, options_.batch_size, pending_)));
  const std::vector<core::Store::PendingFact>& entries = pending_;
  if (entries.empty()) {
    sent_all_ = true;
    return std::optional<v1::PushBatch>();
  }
  last_seq_ = std::max(last_seq_, entries.back().entry.seq);
  v1::PushBatch batch = BuildBatch(entries);
  sent_ = entries.back().entry.seq;
  Emit(SyncPhase::kPush);
  return std::optional<v1::PushBatch>(std::move(batch));
}

v1::PushBatch SyncSession::BuildBatch(const std::vector<core::Store::PendingFact>& entries) const {
  v1::PushBatch batch;
  batch.set_first_seq(static_cast<uint64_t>(entries.front().entry.seq));
  batch.set_tip_hash(entries.back().entry.hash);
  RecordBatchWriter writer(batch.mutable_records(), server_reads_);
  for (const core::Store::PendingFact& e : entries) writer.Add(e.entry.hlc, e.record);
  batch.set_sender_wall_ms(options_.wall_clock());
  batch.set_pending(
      static_cast<uint64_t>(std::max<int64_t>(0, last_seq_ - entries.back().entry.seq)));
  return batch;
}

Status SyncSession::OnAck(const v1::PushAck& ack) {
  int64_t seq = ack.acked_seq() > static_cast<uint64_t>(sent_)
                    ? sent_
                    : static_cast<int64_t>(ack.acked_seq());
  if (static_cast<uint64_t>(seq) != ack.acked_seq()) {
    // Beyond what this pass sent, the tablet cannot check the server's chain; the next pass's
    // status check settles it.
    spdlog::warn("server acknowledged change {} but only {} was sent", ack.acked_seq(), sent_);
  }
  report_.flagged += static_cast<int64_t>(ack.flagged());
  if (seq > acked_) {
    RETURN_IF_ERROR(Local(store_.AcknowledgeUpload(seq)));
    report_.pushed += seq - acked_;
    acked_ = seq;
    Emit(SyncPhase::kPush);
  }
  return CheckStop();
}

Status SyncSession::PullAll() {
  ASSIGN_OR_RETURN(const int64_t held, Local(store_.PullCursor()));
  if (feed_head_ < held) {
    // Within one epoch the feed never shrinks, so this is a database put in place by hand (or a
    // server from before epochs): what it writes next reuses sequence numbers this tablet has
    // already passed, and would never arrive. Said loudly, because nothing tells the tablet
    // how far back the two feeds agree.
    return Status::FailedPrecondition(
        "the server's feed ends at " + std::to_string(feed_head_) +
        " but this tablet has received up to " + std::to_string(held) +
        " in the same feed epoch (server database copied into place without 'kitsync-server "
        "restore'?); records from the server cannot be received until this tablet's pull "
        "cursor is reset: ask for support");
  }
  for (int round = 0; round < options_.max_pull_rounds; ++round) {
    RETURN_IF_ERROR(CheckStop());
    ASSIGN_OR_RETURN(const int64_t start, Local(store_.PullCursor()));
    v1::PullRequest request;
    request.set_cursor(static_cast<uint64_t>(start));
    request.set_batch_size(options_.pull_batch_size);
    request.set_feed_epoch(pull_epoch_);
    AddWireFeatures(request);
    int64_t cursor = start;
    bool more = false;
    Emit(SyncPhase::kPull);
    const Status s = transport_.Pull(
        request, [&](const v1::PullBatch& batch) { return OnPulled(batch, cursor, more); });
    // Whole batches received before the stream ended, or failed, are the server's and in order:
    // they are applied whatever happened after them.
    const Status applied = ApplyReceived(cursor);
    RETURN_IF_ERROR(applied);
    RETURN_IF_ERROR(s);
    if (!more || cursor == start) return Status::Ok();
  }
  return Status::Ok();
}

Status SyncSession::OnPulled(const v1::PullBatch& batch, int64_t& cursor, bool& more) {
  more = batch.remaining() > 0;
  ASSIGN_OR_RETURN(const int64_t next, ToSeq(batch.cursor(), "feed cursor"));
  if (next <= cursor) return CheckStop();  // delivered twice
  auto wire = ReadRecordBatch(batch.records());
  if (!wire.ok()) {
    return Status::InvalidArgument("download: the server sent a batch this tablet cannot read (" +
                                   wire.status().message() + ")");
  }
  for (WireChange& c : *wire) received_.push_back({c.hlc, std::move(c.record)});
  cursor = next;
  // A commit writes every page the transaction touched, and a family's registration lands on a
  // random page of the index by document hash: several batches in one transaction write such a
  // page once instead of once each. Bounded, so the write lock is held briefly.
  if (received_.size() < kMaxChangesPerPullTransaction && transport_.NextPullBatchReady()) {
    return CheckStop();
  }
  RETURN_IF_ERROR(ApplyReceived(cursor));
  return CheckStop();
}

Status SyncSession::ApplyReceived(int64_t cursor) {
  if (received_.empty()) return Status::Ok();
  const Status applied = Local(store_.ApplyPulled(received_, cursor));
  const auto n = static_cast<int64_t>(received_.size());
  received_.clear();
  RETURN_IF_ERROR(applied);
  report_.pulled += n;
  report_.pull_cursor = cursor;
  Emit(SyncPhase::kPull);
  return Status::Ok();
}

Status SyncSession::CheckStop() const {
  if (options_.stop && options_.stop->load()) {
    return Status(core::Code::kCancelled, "sync was stopped");
  }
  return Status::Ok();
}

void SyncSession::Emit(SyncPhase phase) {
  if (!progress_) return;
  SyncProgress p;
  p.phase = phase;
  p.pending = std::max<int64_t>(0, last_seq_ - acked_);
  p.pushed = report_.pushed;
  p.pulled = report_.pulled;
  progress_(p);
}

}  // namespace kitsync::sync

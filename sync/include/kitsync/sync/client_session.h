// One sync pass of a tablet: line up with the server's view of this tablet's log and with its
// feed's epoch, push what the server does not hold (one stream, each batch read from the log
// after the last one sent while earlier ones await their acks), then pull the feed. Every step
// is durable as it happens (an ack moves the upload cursor, which the line-up restores from the
// server's word should a power cut take it back; a pulled batch is applied with its cursor in
// one transaction), so a pass cut at any point resumes without re-sending anything
// acknowledged.
//
// Thread-safety: Run() uses the store and the transport from the calling thread, and the store
// from the transport's ack thread, never both at once (as Transport::Push promises); the progress
// callback is called on either. `SessionOptions::stop` may be set from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/hlc.h"
#include "kitsync/core/status.h"
#include "kitsync/core/store.h"
#include "kitsync/sync/client_transport.h"
#include "kitsync/sync/wire.h"

namespace kitsync::sync {

struct SessionOptions {
  // Change-log entries per PushBatch. The whole backlog goes over one Transport::Push, each
  // batch read and built as the transport has room for it (GrpcTransportOptions::window).
  int batch_size = 500;
  uint32_t pull_batch_size = 500;
  // FAILED_PRECONDITION on push (the server's cursor moved, e.g. a restore) re-reads the
  // server's status and resumes from there, at most this many times per pass.
  int max_gap_recoveries = 3;
  // A pull stream that ends with `remaining` > 0 is followed by another, at most this many.
  int max_pull_rounds = 100;
  core::WallClock wall_clock;               // stamps sender_wall_ms; the system clock when empty
  const std::atomic<bool>* stop = nullptr;  // when set to true, the pass ends with CANCELLED
};

enum class SyncPhase { kStatus, kPush, kPull, kDone };

struct SyncProgress {
  SyncPhase phase = SyncPhase::kStatus;
  int64_t pending = 0;  // changes still to be acknowledged by the server
  int64_t pushed = 0;   // acknowledged during this pass
  int64_t pulled = 0;   // received and applied during this pass
};

struct SyncReport {
  core::Status status;  // the first error; OK when the pass finished
  int64_t pushed = 0;   // changes newly acknowledged by the server (including ones it already
                        // held from an earlier, cut pass)
  int64_t pulled = 0;
  int64_t pending = 0;  // as far as this pass saw
  int64_t flagged = 0;  // accepted but flagged by the server (e.g. a clock far ahead)
  int64_t pull_cursor = 0;
  // The server held less than acknowledged (sent again from there), or its feed is a new epoch
  // (received again from where the epochs agree).
  bool server_restored = false;
  std::chrono::milliseconds duration{0};
};

class SyncSession {
 public:
  using ProgressCallback = std::function<void(const SyncProgress&)>;

  SyncSession(core::Store& store, Transport& transport, SessionOptions options = {});

  void OnProgress(ProgressCallback callback) { progress_ = std::move(callback); }

  SyncReport Run();

 private:
  core::Status RunSteps();
  core::Status ReadLocalState();
  core::Status Align();
  core::Status LineUpFeed(const v1::StatusResponse& server);
  core::Status CheckContinuity(const std::string& server_tip, int64_t held);
  core::Status PushAll();
  // The batch after the last change sent, or nullopt when the log holds nothing more.
  core::Result<std::optional<v1::PushBatch>> NextBatch();
  v1::PushBatch BuildBatch(const std::vector<core::Store::PendingFact>& entries) const;
  core::Status OnAck(const v1::PushAck& ack);
  core::Status PullAll();
  // Takes a pulled batch; applies it, with the batches received before it and not yet applied,
  // unless the next one is already waiting. `cursor` is the last batch's received.
  core::Status OnPulled(const v1::PullBatch& batch, int64_t& cursor, bool& more);
  // Applies the changes received and not yet applied, and `cursor`, in one transaction.
  core::Status ApplyReceived(int64_t cursor);
  core::Status CheckStop() const;
  void Emit(SyncPhase phase);

  core::Store& store_;
  Transport& transport_;
  SessionOptions options_;
  ProgressCallback progress_;

  SyncReport report_;
  int64_t last_seq_ = 0;   // the end of this tablet's log, as far as this pass has seen
  int64_t acked_ = 0;      // the upload cursor, as stored
  int64_t sent_ = 0;       // the last change handed to the current push stream
  bool sent_all_ = false;  // the current push stream's source found nothing after sent_
  int64_t feed_head_ = 0;  // the server's feed head, as of the status call
  std::string pull_epoch_;  // the feed epoch the pull cursor belongs to, as stored
  WireFeatures server_reads_;  // what the server reads, as of the status call
  // Pulled changes received and not yet applied: batches that arrive while the tablet applies
  // are applied together, so a fast link costs a commit per group, not per batch.
  std::vector<core::RemoteChange> received_;
  // The facts of the batch being built, read over those of the batch before: the records'
  // strings are allocated for the first batch of a pass, not for every one.
  std::vector<core::Store::PendingFact> pending_;
};

}  // namespace kitsync::sync

// An in-memory Sync server for one tablet and a Transport to it that can misbehave on cue: the
// tests of the session and the engine drive real tablet databases against it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kitsync/core/change_log.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"
#include "kitsync/core/status.h"
#include "kitsync/sync/client_transport.h"

namespace kitsync::testing {

// The server's rules for one device's log: a batch must continue what is held (else
// FAILED_PRECONDITION, nothing applied), its recomputed hash chain must arrive at its tip hash,
// and a batch already held is acknowledged again without being applied twice. Not thread-safe:
// FakeTransport serialises access.
class FakeServer {
 public:
  explicit FakeServer(std::string device_id) : device_id_(std::move(device_id)) {}

  core::Result<v1::PushAck> Apply(const v1::PushBatch& batch);
  v1::StatusResponse Status() const;
  // The feed after `cursor`, in batches of `batch_size` changes.
  std::vector<v1::PullBatch> FeedAfter(uint64_t cursor, uint32_t batch_size) const;

  // A record of another tablet or of the centre, appended to the feed.
  void AddToFeed(const core::Hlc& hlc, const core::Record& record);
  // The server's database restored from a backup holding this device's log up to `seq`.
  void RestoreTo(int64_t seq);
  // The feed restored from a backup holding its first `entries` changes, copied into place
  // without a new feed epoch.
  void RestoreFeedTo(size_t entries) {
    if (entries < feed_.size()) feed_.resize(entries);
  }
  // From now on the server has feed epochs, the first one `epoch` (a server from before
  // epochs reports none and ignores the one a pull names).
  void UseFeedEpoch(const std::string& epoch) { epochs_ = {{epoch, 0}}; }
  // Restored as `kitsync-server restore` does: the feed's first `entries` changes, and a new
  // epoch `epoch` beginning after them.
  void RestoreFeedAsEpoch(size_t entries, const std::string& epoch) {
    RestoreFeedTo(entries);
    epochs_.push_back({epoch, static_cast<int64_t>(std::min(entries, feed_.size()))});
  }
  // FAILED_PRECONDITION for a pull whose cursor belongs to another epoch than the current.
  core::Status CheckPullEpoch(const std::string& epoch) const;
  // From now on the server reads Handover.proof_digest and says so in its status; before, it
  // refuses a batch holding one, as a server from before the field would (it reads an empty
  // proof reference).
  void ReadProofDigests() { reads_proof_digests_ = true; }
  int64_t proof_digests_received() const { return proof_digests_received_; }
  // Reports `seq` as held, whatever the log holds (a server with a foreign copy of the log).
  void ClaimAckedSeq(int64_t seq) { claimed_acked_ = seq; }
  // Holds exactly `entries` as this device's log, whatever their hashes.
  void ReplaceLog(std::vector<core::ChangeEntry> entries) { log_ = std::move(entries); }

  int64_t acked_seq() const { return static_cast<int64_t>(log_.size()); }
  const std::vector<core::ChangeEntry>& log() const { return log_; }
  // How many times each sequence number arrived in a batch the server read.
  const std::map<int64_t, int>& receipts() const { return receipts_; }
  int64_t applied() const { return applied_; }

 private:
  bool reads_proof_digests_ = false;
  int64_t proof_digests_received_ = 0;
  std::string device_id_;
  std::vector<core::ChangeEntry> log_;
  std::map<int64_t, int> receipts_;
  int64_t applied_ = 0;
  std::optional<int64_t> claimed_acked_;
  struct FeedEntry {
    core::Hlc hlc;
    core::Record record;
  };
  std::vector<FeedEntry> feed_;  // server sequence = index + 1
  std::vector<std::pair<std::string, int64_t>> epochs_;  // (ID, start), oldest first
};

// Faults, each firing once when its counter is reached. Batches are numbered from 1 across all
// Push calls; calls from 1 across all kinds.
struct Faults {
  int lose_batch = 0;             // the batch never reaches the server; UNAVAILABLE
  int lose_ack_after_commit = 0;  // the batch is applied, its ack lost; UNAVAILABLE
  int gap_at_batch = 0;           // FAILED_PRECONDITION for this batch, nothing applied
  int restore_before_batch = 0;   // the server is restored to `restore_to` just before it
  int64_t restore_to = 0;
  int refuse_batch = 0;            // INVALID_ARGUMENT for this batch
  bool duplicate_acks = false;     // every ack arrives twice
  int cut_pull_after_batches = 0;  // UNAVAILABLE after this many pull batches of one call
  bool duplicate_pull_batches = false;
  bool pull_batches_waiting = false;  // NextPullBatchReady: yes while the call has more to send
  int unavailable_calls = 0;     // the first N calls of any kind fail with UNAVAILABLE
  bool unauthenticated = false;  // every call fails with UNAUTHENTICATED
};

class FakeTransport final : public sync::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeServer> server) : server_(std::move(server)) {}

  // Takes up to the window's batches from the source before the server sees the first, then one
  // more per ack, as a stream with that many unacknowledged batches would.
  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override;
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override;
  // Called from on_batch, on the thread of Pull, which holds the lock.
  bool NextPullBatchReady() const override { return next_pull_batch_ready_; }
  core::Result<v1::StatusResponse> GetStatus() override;
  void Cancel() override { cancelled_ = true; }

  void SetFaults(const Faults& faults);
  void SetWindow(size_t window) {
    std::lock_guard lock(mu_);
    window_ = std::max<size_t>(1, window);
  }
  int calls() const;
  int push_calls() const;                  // streams opened: Push calls with a batch to send
  std::vector<size_t> push_sizes() const;  // batches taken from the source on each stream
  // Runs `fn` on the server under the transport's lock (safe while an engine is running).
  template <typename Fn>
  auto WithServer(Fn fn) {
    std::lock_guard lock(mu_);
    return fn(*server_);
  }

 private:
  core::Status StartCall();

  mutable std::mutex mu_;
  std::shared_ptr<FakeServer> server_;
  Faults faults_;
  int calls_ = 0;
  static constexpr int64_t kMaxBatchesPerPush = 100'000;

  int batches_ = 0;
  size_t window_ = 3;
  std::vector<size_t> push_sizes_;
  std::atomic<bool> cancelled_{false};
  bool next_pull_batch_ready_ = false;
};

// Hands the engine a transport that forwards to a FakeTransport the test keeps.
std::unique_ptr<sync::Transport> Forwarding(std::shared_ptr<FakeTransport> target);

}  // namespace kitsync::testing

#include "fake_transport.h"

#include "kitsync/core/canonical.h"
#include "kitsync/sync/client_read_ahead.h"
#include "kitsync/sync/wire.h"

namespace kitsync::testing {

using core::Status;

core::Result<v1::PushAck> FakeServer::Apply(const v1::PushBatch& batch) {
  for (const v1::Change& c : batch.records().changes()) {
    if (!c.has_handover() || c.handover().proof_digest().empty()) continue;
    if (!reads_proof_digests_) return Status::InvalidArgument("a handover without proof");
    ++proof_digests_received_;
  }
  ASSIGN_OR_RETURN(auto wire, sync::ReadRecordBatch(batch.records()));
  if (wire.empty()) return Status::InvalidArgument("empty batch");
  const int64_t first = static_cast<int64_t>(batch.first_seq());
  ASSIGN_OR_RETURN(auto entries, sync::ToChangeEntries(wire, first));
  for (const auto& e : entries) ++receipts_[e.seq];
  const int64_t last = entries.back().seq;
  v1::PushAck ack;
  if (last <= acked_seq()) {  // a repeat: acknowledged again, applied once
    if (log_[last - 1].hash != batch.tip_hash()) {
      return Status::FailedPrecondition("repeat does not match the held chain");
    }
    ack.set_acked_seq(acked_seq());
    return ack;
  }
  if (first != acked_seq() + 1) {
    return Status::FailedPrecondition("gap: batch starts at " + std::to_string(first) +
                                      ", held up to " + std::to_string(acked_seq()));
  }
  std::string prev = log_.empty() ? core::GenesisHash(device_id_) : log_.back().hash;
  for (auto& e : entries) {
    e.prev_hash = prev;
    e.hash = core::ChainHash(e, prev);
    prev = e.hash;
  }
  if (prev != batch.tip_hash()) return Status::FailedPrecondition("hash chain broken");
  for (size_t i = 0; i < entries.size(); ++i) {
    log_.push_back(entries[i]);
    feed_.push_back({wire[i].hlc, wire[i].record});  // the device's post channel holds its own
  }
  applied_ += static_cast<int64_t>(entries.size());
  ack.set_acked_seq(acked_seq());
  ack.set_applied(entries.size());
  return ack;
}

v1::StatusResponse FakeServer::Status() const {
  v1::StatusResponse s;
  s.set_device_id(sync::UuidToBytes(device_id_));
  s.set_acked_seq(claimed_acked_ ? *claimed_acked_ : acked_seq());
  if (!log_.empty()) s.set_tip_hash(log_.back().hash);
  s.set_feed_head(feed_.size());
  if (reads_proof_digests_) s.add_wire_features(sync::kProofDigestFeature);
  for (size_t i = 0; i < epochs_.size(); ++i) {
    if (i + 1 == epochs_.size()) {
      s.set_feed_epoch(epochs_[i].first);
      s.set_feed_epoch_start_seq(static_cast<uint64_t>(epochs_[i].second));
    } else {
      v1::FeedEpoch* earlier = s.add_earlier_feed_epochs();
      earlier->set_id(epochs_[i].first);
      earlier->set_start_seq(static_cast<uint64_t>(epochs_[i].second));
    }
  }
  return s;
}

Status FakeServer::CheckPullEpoch(const std::string& epoch) const {
  if (epochs_.empty()) return Status::Ok();
  const std::string& named = epoch.empty() ? epochs_.front().first : epoch;
  if (named == epochs_.back().first) return Status::Ok();
  return Status::FailedPrecondition("pull cursor of feed epoch '" + epoch + "', the feed is " +
                                    epochs_.back().first);
}

std::vector<v1::PullBatch> FakeServer::FeedAfter(uint64_t cursor, uint32_t batch_size) const {
  std::vector<v1::PullBatch> out;
  const uint64_t size = batch_size ? batch_size : 500;
  for (uint64_t begin = cursor; begin < feed_.size(); begin += size) {
    const uint64_t end = std::min<uint64_t>(feed_.size(), begin + size);
    v1::PullBatch& batch = out.emplace_back();
    sync::RecordBatchWriter writer(batch.mutable_records());
    for (uint64_t i = begin; i < end; ++i) writer.Add(feed_[i].hlc, feed_[i].record);
    batch.set_cursor(end);
    batch.set_remaining(feed_.size() - end);
  }
  return out;
}

void FakeServer::AddToFeed(const core::Hlc& hlc, const core::Record& record) {
  feed_.push_back({hlc, record});
}

void FakeServer::RestoreTo(int64_t seq) {
  if (seq < acked_seq()) log_.resize(static_cast<size_t>(seq));
}

void FakeTransport::SetFaults(const Faults& faults) {
  std::lock_guard lock(mu_);
  faults_ = faults;
  batches_ = 0;
}

int FakeTransport::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int FakeTransport::push_calls() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(push_sizes_.size());
}

std::vector<size_t> FakeTransport::push_sizes() const {
  std::lock_guard lock(mu_);
  return push_sizes_;
}

Status FakeTransport::StartCall() {
  ++calls_;
  if (cancelled_) return Status(core::Code::kCancelled, "cancelled");
  if (faults_.unauthenticated) return Status::Unauthenticated("device credential revoked");
  if (faults_.unavailable_calls > 0) {
    --faults_.unavailable_calls;
    return Status::Unavailable("outcome unknown: connection refused");
  }
  return Status::Ok();
}

Status FakeTransport::Push(const BatchSource& next, const AckHandler& on_ack) {
  std::lock_guard lock(mu_);
  // As over gRPC: the source is asked before a stream opens, and nothing to send opens none.
  ASSIGN_OR_RETURN(std::optional<v1::PushBatch> first, next());
  if (!first) return Status::Ok();
  RETURN_IF_ERROR(StartCall());
  push_sizes_.push_back(1);
  // Up to `window_` batches taken from the source and not yet acknowledged, as on a stream.
  sync::ReadAhead ahead(next, window_, std::move(*first));
  for (int64_t delivered = 0; delivered < kMaxBatchesPerPush; ++delivered) {
    ahead.Fill();
    push_sizes_.back() = ahead.taken();
    if (ahead.empty()) return ahead.source_error();
    const v1::PushBatch batch = ahead.Pop();
    const int n = ++batches_;
    if (n == faults_.lose_batch) return Status::Unavailable("outcome unknown: link dropped");
    if (n == faults_.gap_at_batch) return Status::FailedPrecondition("gap (injected)");
    if (n == faults_.refuse_batch) return Status::InvalidArgument("malformed record (injected)");
    if (n == faults_.restore_before_batch) server_->RestoreTo(faults_.restore_to);
    ASSIGN_OR_RETURN(v1::PushAck ack, server_->Apply(batch));
    if (n == faults_.lose_ack_after_commit) {
      return Status::Unavailable("outcome unknown: link dropped after commit");
    }
    RETURN_IF_ERROR(on_ack(ack));
    if (faults_.duplicate_acks) RETURN_IF_ERROR(on_ack(ack));
    if (cancelled_) return Status(core::Code::kCancelled, "cancelled");
  }
  return Status::Internal("push did not end in " + std::to_string(kMaxBatchesPerPush) + " batches");
}

Status FakeTransport::Pull(const v1::PullRequest& request, const PullHandler& on_batch) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(StartCall());
  RETURN_IF_ERROR(server_->CheckPullEpoch(request.feed_epoch()));
  int sent = 0;
  const std::vector<v1::PullBatch> batches =
      server_->FeedAfter(request.cursor(), request.batch_size());
  for (size_t i = 0; i < batches.size(); ++i) {
    if (faults_.cut_pull_after_batches > 0 && sent == faults_.cut_pull_after_batches) {
      faults_.cut_pull_after_batches = 0;
      return Status::Unavailable("outcome unknown: link dropped during download");
    }
    next_pull_batch_ready_ = faults_.pull_batches_waiting && i + 1 < batches.size();
    Status handled = on_batch(batches[i]);
    if (handled.ok() && faults_.duplicate_pull_batches) handled = on_batch(batches[i]);
    next_pull_batch_ready_ = false;
    RETURN_IF_ERROR(handled);
    ++sent;
  }
  return Status::Ok();
}

core::Result<v1::StatusResponse> FakeTransport::GetStatus() {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(StartCall());
  return server_->Status();
}

namespace {

class ForwardingTransport final : public sync::Transport {
 public:
  explicit ForwardingTransport(std::shared_ptr<FakeTransport> target)
      : target_(std::move(target)) {}
  core::Status Push(const BatchSource& b, const AckHandler& a) override {
    return target_->Push(b, a);
  }
  core::Status Pull(const v1::PullRequest& r, const PullHandler& h) override {
    return target_->Pull(r, h);
  }
  bool NextPullBatchReady() const override { return target_->NextPullBatchReady(); }
  core::Result<v1::StatusResponse> GetStatus() override { return target_->GetStatus(); }
  void Cancel() override { target_->Cancel(); }

 private:
  std::shared_ptr<FakeTransport> target_;
};

}  // namespace

std::unique_ptr<sync::Transport> Forwarding(std::shared_ptr<FakeTransport> target) {
  return std::make_unique<ForwardingTransport>(std::move(target));
}

}  // namespace kitsync::testing

#include "server_pull_reactor.h"

#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/wire.h"
#include "kitsync/sync/wire_zstd.h"

namespace kitsync::sync {

PullReactor::PullReactor(ServerLogic* logic, boost::asio::thread_pool& workers,
                         StreamLimits& limits, std::string token, v1::PullRequest request,
                         int max_batches)
    : logic_(logic),
      workers_(workers),
      limits_(limits),
      token_(std::move(token)),
      max_batches_(max_batches),
      zstd_(ReadWireFeatures(request.wire_features()).zstd_records),
      next_(std::move(request)) {
  Lock lock(mu_);
  ReadNextLocked();
}

PullReactor::~PullReactor() {
  if (!counted_device_.empty()) limits_.Close(counted_device_);
}

void PullReactor::ReadNextLocked() {
  PostLocked(workers_.get_executor(), [this] { ReadNext(); });
}

void PullReactor::ReadNext() {
  v1::PullRequest request;
  std::optional<int64_t> remaining_after;
  {
    Lock lock(mu_);
    if (finished_) return;
    if (cancelled_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    request = next_;
    remaining_after = remaining_after_;
  }
  if (counted_device_.empty()) {
    // The first read: the call counts against its device's pulls once the credential holds.
    auto device = limits_.Admit(*logic_, token_);
    if (!device.ok()) {
      Lock lock(mu_);
      FinishLocked(ToGrpc(device.status()));
      return;
    }
    counted_device_ = std::move(device).value();
  }
  // The store read runs without the lock, so a cancellation is taken in meanwhile.
  auto batch = logic_->Pull(token_, request, remaining_after);
  // Compressed here, off the lock, rather than by gRPC on whichever thread writes.
  int changes = 0;
  if (batch.ok()) {
    changes = batch->records().changes_size();
    if (zstd_) PackRecords(*batch);
  }
  Lock lock(mu_);
  if (finished_) return;
  if (!batch.ok()) {
    FinishLocked(ToGrpc(batch.status()));
    return;
  }
  batch_ = std::move(batch).value();
  batch_changes_ = changes;
  grpc::WriteOptions write;
  if (!batch_.records_zstd().empty()) write.set_no_compression();
  StartWrite(&batch_, write);
}

void PullReactor::OnWriteDone(bool ok) {
  Lock lock(mu_);
  if (!ok) {
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "tablet went away"));
    return;
  }
  ++written_;
  if (batch_.remaining() == 0 || batch_changes_ == 0 ||
      written_ >= max_batches_) {
    FinishLocked(grpc::Status::OK);
    return;
  }
  next_.set_cursor(batch_.cursor());
  remaining_after_ = static_cast<int64_t>(batch_.remaining());
  ReadNextLocked();
}

void PullReactor::OnCancel() {
  Lock lock(mu_);
  // A write under way ends with OnWriteDone(false); a read under way sees this when it is done.
  cancelled_ = true;
}

void PullReactor::OnDone() { CallDone(); }

void PullReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

}  // namespace kitsync::sync

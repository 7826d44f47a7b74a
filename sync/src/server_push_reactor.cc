#include "server_push_reactor.h"

#include <boost/asio/post.hpp>

#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/wire_zstd.h"

namespace kitsync::sync {
namespace {

// Batches read and not yet applied, the one being applied included: as many as the tablet keeps
// unacknowledged by default (GrpcTransportOptions::window). With two, the applying strand sat
// idle for about a quarter of a fast push, waiting for the next batch to be read and decoded
// behind it. The batches wait decoded: the benchmark's server peaked 4-6 MiB higher with four.
constexpr int kReadAhead = 4;

}  // namespace

PushReactor::PushReactor(ServerLogic* logic, boost::asio::thread_pool& workers,
                         StreamLimits& limits, std::string token)
    : logic_(logic),
      limits_(limits),
      token_(std::move(token)),
      workers_(workers.get_executor()),
      strand_(boost::asio::make_strand(workers)) {
  // A bad credential fails the call before anything the tablet sends is read.
  Lock lock(mu_);
  Post([this] { Authenticate(); });
}

PushReactor::~PushReactor() {
  if (!counted_device_.empty()) limits_.Close(counted_device_);
}

void PushReactor::Authenticate() {
  auto device = limits_.Admit(*logic_, token_);
  Lock lock(mu_);
  if (!device.ok()) {
    FinishLocked(ToGrpc(device.status()));
    return;
  }
  counted_device_ = std::move(device).value();
  ReadNextLocked();
}

void PushReactor::OnReadDone(bool ok) {
  if (!ok) {
    Lock lock(mu_);
    reading_ = false;
    tablet_closed_ = true;
    EndIfDueLocked();
    return;
  }
  // No read is outstanding, so incoming_ and chain_from_ are this thread's alone.
  PreparedPush prepared;
  if (core::Status unpacked = UnpackRecords(incoming_); unpacked.ok()) {
    prepared = logic_->PreparePush(incoming_, chain_from_);
  } else {
    prepared.refused = std::move(unpacked);
    prepared.first_seq = incoming_.first_seq();
  }
  if (incoming_.records().changes_size() > 0) chain_from_ = incoming_.tip_hash();
  Lock lock(mu_);
  reading_ = false;
  if (finished_ || refusal_) return;
  ++unapplied_;
  ready_.push_back(std::move(prepared));
  if (!apply_posted_) {
    apply_posted_ = true;
    Post([this] { ApplyReady(); });
  }
  ReadNextLocked();
}

void PushReactor::ApplyReady() {
  std::vector<PreparedPush> batches;
  {
    Lock lock(mu_);
    apply_posted_ = false;
    if (finished_ || refusal_) {
      unapplied_ -= static_cast<int>(ready_.size());
      ready_.clear();
      return;
    }
    batches.reserve(ready_.size());
    for (PreparedPush& p : ready_) batches.push_back(std::move(p));
    ready_.clear();
  }
  const int taken = static_cast<int>(batches.size());
  auto acks = logic_->ApplyPreparedPushes(token_, std::move(batches));
  Lock lock(mu_);
  unapplied_ -= taken;
  if (finished_) return;
  for (auto& ack : acks) {
    if (!ack.ok()) {
      refusal_ = ToGrpc(ack.status());
      break;
    }
    // A lost ack loses nothing: the tablet re-sends and the batch is recognised as held.
    acks_.push_back(std::move(ack).value());
  }
  // Starting a write or a read runs gRPC's transport work on the calling thread, and a read of
  // a batch the tablet has already sent inflates it there. Both go to another worker, so that
  // the strand goes straight on to the next batches: applying is the push's slowest stage. A
  // refusal ends the call there once the acks before it are written.
  PostLocked(workers_, [this] {
    Lock lock(mu_);
    WriteNextLocked();
    ReadNextLocked();
    EndIfDueLocked();
  });
}

void PushReactor::OnWriteDone(bool ok) {
  Lock lock(mu_);
  writing_ = false;
  acks_.pop_front();
  if (!ok) {
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "tablet went away"));
    return;
  }
  WriteNextLocked();
  EndIfDueLocked();
}

void PushReactor::OnCancel() {
  Lock lock(mu_);
  FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "push cancelled"));
}

void PushReactor::OnDone() { CallDone(); }

void PushReactor::ReadNextLocked() {
  if (finished_ || refusal_ || tablet_closed_ || reading_ || unapplied_ >= kReadAhead) return;
  reading_ = true;
  StartRead(&incoming_);
}

void PushReactor::WriteNextLocked() {
  if (finished_ || writing_ || acks_.empty()) return;
  writing_ = true;
  // An ack is a dozen bytes, which gzip cannot shrink, and compressing one sets up and frees a
  // deflate window each time on the thread that applies batches, the push's slowest stage.
  StartWrite(&acks_.front(), grpc::WriteOptions().set_no_compression());
}

void PushReactor::EndIfDueLocked() {
  if (finished_ || writing_ || !acks_.empty()) return;
  if (refusal_) {
    FinishLocked(*refusal_);
  } else if (tablet_closed_ && unapplied_ == 0) {
    FinishLocked(grpc::Status::OK);
  }
}

void PushReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

}  // namespace kitsync::sync

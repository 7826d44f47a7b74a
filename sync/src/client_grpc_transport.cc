#include "kitsync/sync/client_grpc_transport.h"

#include <grpcpp/channel.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "kitsync/sync/grpc_status.h"
#include "kitsync/sync/wire.h"
#include "kitsync/sync/wire_zstd.h"

namespace kitsync::sync {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kAssumedPullBatch = 500;  // the server's default when the request says 0
// Pulled batches read ahead of the one being applied. On a fast link several wait, and the
// tablet applies them in one transaction; on a thin one the next has not arrived yet.
constexpr size_t kPullReadAhead = 8;

uint64_t LastSeq(const v1::PushBatch& batch) {
  return batch.first_seq() + static_cast<uint64_t>(batch.records().changes_size()) - 1;
}

// The Push stream's flow control: the writer may run `window` batches ahead of the acks. It also
// tells a stalled stream from a long one: a stream lasts as long as the backlog, so instead of
// one deadline for the whole call, each wait for an ack gets its own.
class PushWindow {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PushWindow(int window) : window_(static_cast<size_t>(std::max(1, window))) {}

  // Blocks until another batch may be written; false once the stream is over.
  bool WaitForRoom() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || unacked_.size() < window_; });
    return !closed_;
  }
  // Called before the batch is written: its ack may be read before Write() returns.
  void Sending(uint64_t last_seq) {
    std::lock_guard lock(mu_);
    if (unacked_.empty()) last_progress_ = Clock::now();
    unacked_.push_back(last_seq);
    Advance();
    cv_.notify_all();
  }
  // Counts batches by the sequence acknowledged, not by the number of acks: a duplicated or
  // late ack must not open the window further than the server's real progress.
  void Acked(uint64_t acked_seq) {
    std::lock_guard lock(mu_);
    if (acked_seq > max_acked_) max_acked_ = acked_seq;
    Advance();
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Nothing more will be written: from the last ack on, the stream's end is awaited.
  void WritesDone() {
    std::lock_guard lock(mu_);
    if (unacked_.empty()) last_progress_ = Clock::now();
    writes_done_ = true;
    cv_.notify_all();
  }
  bool AllAcked() {
    std::lock_guard lock(mu_);
    return unacked_.empty();
  }
  // Blocks until the stream is over (false) or has waited `limit` for an ack, or for its end
  // once every batch is acknowledged, without anything arriving (true).
  bool WaitForStall(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    while (!closed_) {
      if (unacked_.empty() && !writes_done_) {
        cv_.wait(lock);
        continue;
      }
      const Clock::time_point due = last_progress_ + limit;
      if (Clock::now() >= due) return true;
      cv_.wait_until(lock, due);
    }
    return false;
  }

 private:
  void Advance() {
    bool moved = false;
    while (!unacked_.empty() && unacked_.front() <= max_acked_) {
      unacked_.pop_front();
      moved = true;
    }
    if (moved) last_progress_ = Clock::now();
  }

  const size_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<uint64_t> unacked_;  // the last sequence of each batch written and not acked
  uint64_t max_acked_ = 0;
  Clock::time_point last_progress_;
  bool writes_done_ = false;
  bool closed_ = false;
};

}  // namespace

// Registers a call's context so Cancel() can reach it, for the call's lifetime.
class GrpcTransport::ActiveCall {
 public:
  ActiveCall(GrpcTransport& transport, grpc::ClientContext& context)
      : transport_(transport), context_(context) {
    std::lock_guard lock(transport_.mu_);
    if (transport_.cancelled_) return;
    transport_.active_.insert(&context_);
    registered_ = true;
  }
  ~ActiveCall() {
    std::lock_guard lock(transport_.mu_);
    transport_.active_.erase(&context_);
  }
  ActiveCall(const ActiveCall&) = delete;
  ActiveCall& operator=(const ActiveCall&) = delete;

  core::Status status() const {
    return registered_ ? core::Status::Ok()
                       : core::Status(core::Code::kCancelled, "sync was stopped");
  }

 private:
  GrpcTransport& transport_;
  grpc::ClientContext& context_;
  bool registered_ = false;
};

core::Status ValidateDeviceToken(const std::string& token) {
  if (token.empty()) return core::Status::InvalidArgument("the device credential is empty");
  for (unsigned char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return core::Status::InvalidArgument(
          "the device credential holds a character that cannot be sent (re-enrol the tablet)");
    }
  }
  return core::Status::Ok();
}

core::Status CallError(const char* what, const grpc::Status& status) {
  core::Status s = FromGrpc(status);
  switch (s.code()) {
    case core::Code::kUnavailable:
      return core::Status(s.code(), std::string(what) +
                                        ": outcome unknown, the server could not be reached (" +
                                        s.message() + ")");
    case core::Code::kDeadlineExceeded:
      return core::Status(s.code(), std::string(what) +
                                        ": outcome unknown, the server did not answer in time (" +
                                        s.message() + ")");
    default:
      return core::Status(s.code(), std::string(what) + ": " + s.message());
  }
}

core::Result<std::unique_ptr<GrpcTransport>> GrpcTransport::Create(const core::ServerLink& link,
                                                                   GrpcTransportOptions options) {
  RETURN_IF_ERROR(ValidateDeviceToken(link.device_token));
  ASSIGN_OR_RETURN(auto channel, MakeChannel(link.address, link.ca_file, options.channel));
  auto transport = std::make_unique<GrpcTransport>(std::move(channel), link.device_token, options);
  transport->remake_channel_ = [link, options] {
    auto channel = MakeChannel(link.address, link.ca_file, options.channel);
    return channel.ok() ? *channel : nullptr;
  };
  return transport;
}

void GrpcTransport::RenewFailedChannel() {
  // The sync engine paces its own retries. A channel whose last connection attempt failed waits
  // out gRPC's own reconnect backoff as well, failing every call at once with the old error as if
  // the link were still down: after a border post's link comes back, the tablet would stay
  // offline for up to that backoff. A new channel makes one real attempt for the next call.
  if (channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE) return;
  std::shared_ptr<grpc::Channel> fresh = remake_channel_ ? remake_channel_() : nullptr;
  if (!fresh) {
    grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
    return;
  }
  channel_ = std::move(fresh);
  stub_ = v1::Sync::NewStub(channel_);
}

GrpcTransport::GrpcTransport(std::shared_ptr<grpc::Channel> channel, std::string device_token,
                             GrpcTransportOptions options)
    : channel_(std::move(channel)),
      stub_(v1::Sync::NewStub(channel_)),
      authorization_("Bearer " + device_token),
      options_(options) {}

void GrpcTransport::Prepare(grpc::ClientContext& context,
                            std::optional<milliseconds> deadline) const {
  if (deadline) context.set_deadline(std::chrono::system_clock::now() + *deadline);
  context.AddMetadata("authorization", authorization_);
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
}

milliseconds GrpcTransport::PullDeadline(const v1::PullRequest& request) const {
  const uint64_t head = feed_head_.load();
  const uint64_t batch = request.batch_size() ? request.batch_size() : kAssumedPullBatch;
  const uint64_t newer = head > request.cursor() ? head - request.cursor() : 0;
  // The head is an upper bound (it counts every channel, not only this device's) and may have
  // grown since; one more batch covers the latter, and a pull cut by its deadline resumes from
  // the last batch applied.
  const uint64_t batches = std::min<uint64_t>((newer + batch - 1) / batch + 1, 10'000);
  return options_.call_deadline + options_.per_batch_deadline * static_cast<int64_t>(batches);
}

core::Status GrpcTransport::Push(const BatchSource& next, const AckHandler& on_ack) {
  // `next` and `on_ack` both use the caller's store, which is for one thread at a time.
  std::mutex callbacks;
  auto take = [&]() -> core::Result<std::optional<v1::PushBatch>> {
    std::lock_guard lock(callbacks);
    ASSIGN_OR_RETURN(std::optional<v1::PushBatch> batch, next());
    if (batch && batch->records().changes_size() == 0) {
      return core::Status::InvalidArgument("empty batch");
    }
    return batch;
  };
  // Nothing to send opens no stream.
  ASSIGN_OR_RETURN(std::optional<v1::PushBatch> first, take());
  if (!first) return core::Status::Ok();

  grpc::ClientContext context;
  ActiveCall call(*this, context);
  RETURN_IF_ERROR(call.status());
  Prepare(context, std::nullopt);
  RenewFailedChannel();
  auto stream = stub_->Push(&context);

  PushWindow window(options_.window);
  core::Status handler_error;
  // Acks are read on their own thread so writing never waits for them beyond the window.
  std::thread reader([&] {
    v1::PushAck ack;
    while (stream->Read(&ack)) {
      if (!handler_error.ok()) continue;  // draining after TryCancel
      core::Status s;
      {
        std::lock_guard lock(callbacks);
        s = on_ack(ack);
      }
      if (!s.ok()) {
        handler_error = std::move(s);
        context.TryCancel();
        window.Close();
        continue;
      }
      window.Acked(ack.acked_seq());
    }
    window.Close();
  });
  // The first ack waits for the connection as well as the batch; later ones for a batch each.
  std::atomic<bool> stalled{false};
  std::thread watchdog([&] {
    if (window.WaitForStall(options_.call_deadline + options_.per_batch_deadline)) {
      stalled = true;
      context.TryCancel();
    }
  });

  core::Status source_error;
  std::optional<v1::PushBatch> batch = std::move(first);
  const bool zstd = server_reads_zstd_.load();
  while (window.WaitForRoom()) {
    window.Sending(LastSeq(*batch));
    grpc::WriteOptions write;
    if (zstd) {
      PackRecords(*batch);
      write.set_no_compression();
    }
    if (!stream->Write(*batch, write)) break;
    auto more = take();
    if (!more.ok()) {
      source_error = more.status();
      break;
    }
    if (!*more) break;
    batch = std::move(*more);
  }
  // Ending the stream normally, even after a source error, lets the batches already sent be
  // acknowledged instead of sent again by the next pass.
  window.WritesDone();
  stream->WritesDone();
  reader.join();
  window.Close();
  watchdog.join();
  const grpc::Status status = stream->Finish();
  if (!handler_error.ok()) return handler_error;
  if (!source_error.ok()) return source_error;
  if (stalled) {
    return core::Status(core::Code::kDeadlineExceeded,
                        "upload: outcome unknown, the server did not acknowledge a batch in time");
  }
  if (!status.ok()) return CallError("upload", status);
  if (!window.AllAcked()) {
    return core::Status::Unavailable(
        "upload: outcome unknown, the server ended the stream before acknowledging every batch");
  }
  return core::Status::Ok();
}

// Batches read from a pull stream, and whether each could be unpacked, waiting for the caller:
// filled by one thread, emptied by another, holding at most `capacity`.
class GrpcTransport::PullQueue {
 public:
  struct Item {
    v1::PullBatch batch;
    core::Status unpacked;
  };

  explicit PullQueue(size_t capacity) : capacity_(capacity) {}

  // Waits for room; false once the caller stopped taking.
  bool Put(Item item) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || items_.size() < capacity_; });
    if (stopped_) return false;
    items_.push_back(std::move(item));
    cv_.notify_all();
    return true;
  }
  // Waits for a batch; false once the stream is over and everything read was taken.
  bool Take(Item& out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return false;
    out = std::move(items_.front());
    items_.pop_front();
    cv_.notify_all();
    return true;
  }
  bool Ready() const {
    std::lock_guard lock(mu_);
    return !items_.empty();
  }
  void Close() {  // nothing more will be put
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void Stop() {  // nothing more will be taken
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  bool closed_ = false;
  bool stopped_ = false;
};

core::Status GrpcTransport::Pull(const v1::PullRequest& request, const PullHandler& on_batch) {
  grpc::ClientContext context;
  ActiveCall call(*this, context);
  RETURN_IF_ERROR(call.status());
  Prepare(context, PullDeadline(request));
  RenewFailedChannel();
  auto reader = stub_->Pull(&context, request);
  // Batches are read and unpacked on their own thread while the caller applies earlier ones.
  PullQueue queue(kPullReadAhead);
  std::thread read_ahead([&] {
    v1::PullBatch batch;
    while (reader->Read(&batch)) {
      core::Status unpacked = UnpackRecords(batch);
      if (!queue.Put({std::move(batch), std::move(unpacked)})) break;
      batch.Clear();
    }
    queue.Close();
  });
  pulling_ = &queue;
  core::Status handler_error;
  PullQueue::Item item;
  while (queue.Take(item)) {
    handler_error = item.unpacked.ok()
                        ? on_batch(item.batch)
                        : core::Status(item.unpacked.code(),
                                       "download: the server sent a batch that cannot be read: " +
                                           item.unpacked.message());
    if (!handler_error.ok()) {
      context.TryCancel();
      queue.Stop();
      break;
    }
  }
  pulling_ = nullptr;
  read_ahead.join();
  const grpc::Status status = reader->Finish();
  if (!handler_error.ok()) return handler_error;
  if (!status.ok()) return CallError("download", status);
  return core::Status::Ok();
}

bool GrpcTransport::NextPullBatchReady() const { return pulling_ && pulling_->Ready(); }

core::Result<v1::StatusResponse> GrpcTransport::GetStatus() {
  // Every pass starts here, and its caller decided when to retry (its own backoff). gRPC would
  // otherwise fail this call at once while its channel waits out a reconnect backoff of its own
  // (up to ChannelOptions::max_reconnect_backoff), so a server that came back would be found
  // only after both backoffs had passed.
  if (channel_->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
  }
  grpc::ClientContext context;
  ActiveCall call(*this, context);
  RETURN_IF_ERROR(call.status());
  Prepare(context, options_.call_deadline);
  v1::StatusResponse response;
  RenewFailedChannel();
  const grpc::Status status = stub_->GetStatus(&context, v1::StatusRequest(), &response);
  if (!status.ok()) return CallError("server status", status);
  feed_head_.store(response.feed_head());
  server_reads_zstd_.store(ReadWireFeatures(response.wire_features()).zstd_records);
  return response;
}

void GrpcTransport::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
}

}  // namespace kitsync::sync

// Transport over gRPC: kitsync.v1.Sync with the device credential as bearer metadata, a deadline
// on every call (on every wait for an ack, for Push), gzip-compressed requests, and a pipelined
// Push stream.
//
// Thread-safety: one call at a time per transport, except Cancel(), which any thread may call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "kitsync/core/store.h"
#include "kitsync/sync/client_channel.h"
#include "kitsync/sync/client_transport.h"
#include "kitsync/v1/sync.grpc.pb.h"

namespace kitsync::sync {

struct GrpcTransportOptions {
  ChannelOptions channel;
  // GetStatus and Enroll; also the fixed part of a pull's deadline and of a push's wait for an
  // ack.
  std::chrono::milliseconds call_deadline{20'000};
  // Added to a pull's deadline per batch it is expected to bring. A push stream lasts as long as
  // the backlog, so it has no deadline of its own: it ends as DEADLINE_EXCEEDED when a batch
  // sent waits call_deadline + per_batch_deadline without any ack moving the server's cursor
  // (or, once every batch is acknowledged, for the stream's end).
  // 500 compressed records take seconds on a 2G link; this leaves room for a slow one.
  std::chrono::milliseconds per_batch_deadline{30'000};
  // Unacknowledged batches on the Push stream: enough to hide the wait for each ack.
  int window = 4;
};

class GrpcTransport final : public Transport {
 public:
  // The channel for `link` (see MakeChannel for the TLS and loopback rules).
  static core::Result<std::unique_ptr<GrpcTransport>> Create(const core::ServerLink& link,
                                                             GrpcTransportOptions options = {});

  GrpcTransport(std::shared_ptr<grpc::Channel> channel, std::string device_token,
                GrpcTransportOptions options);

  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override;
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override;
  bool NextPullBatchReady() const override;
  core::Result<v1::StatusResponse> GetStatus() override;
  void Cancel() override;

 private:
  class ActiveCall;
  class PullQueue;

  // Without a deadline, the call's own code bounds its waits (a push stream lasts as long as the
  // backlog).
  void Prepare(grpc::ClientContext& context,
               std::optional<std::chrono::milliseconds> deadline) const;
  // Replaces a channel stuck in TRANSIENT_FAILURE before a call (see the definition for why).
  // Only between calls, from the thread that makes them.
  void RenewFailedChannel();
  std::chrono::milliseconds PullDeadline(const v1::PullRequest& request) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Sync::Stub> stub_;
  std::function<std::shared_ptr<grpc::Channel>()> remake_channel_;  // set by Create
  std::string authorization_;
  GrpcTransportOptions options_;
  // The feed head from the last GetStatus sizes the next Pull's deadline: a pull of 50 batches
  // needs longer than a pull of one.
  std::atomic<uint64_t> feed_head_{0};
  // Whether the server of the last GetStatus reads PushBatch.records_zstd: batches then go as
  // one zstd frame each instead of gzip, which costs the tablet far less CPU.
  std::atomic<bool> server_reads_zstd_{false};
  // The batches of the pull under way read ahead of the caller; set by Pull on its own thread,
  // which is also the one that calls on_batch and so NextPullBatchReady.
  PullQueue* pulling_ = nullptr;

  std::mutex mu_;
  bool cancelled_ = false;                 // guarded by mu_
  std::set<grpc::ClientContext*> active_;  // guarded by mu_
};

// Checks what a device credential may be: printable ASCII, as HTTP/2 header values must be.
core::Status ValidateDeviceToken(const std::string& token);

// Turns a failed call into a core::Status that keeps gRPC's code and says what it means:
// UNAVAILABLE and DEADLINE_EXCEEDED read "outcome unknown".
core::Status CallError(const char* what, const grpc::Status& status);

}  // namespace kitsync::sync

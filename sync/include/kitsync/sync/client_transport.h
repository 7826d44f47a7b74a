// What the tablet's sync logic needs of the network: the three calls of kitsync.v1.Sync. The
// same SyncSession runs over gRPC (GrpcTransport) and over in-process fakes and simulations that
// drop, duplicate, delay or cut messages.
//
// Error meanings, as SyncSession relies on them:
//   UNAVAILABLE, DEADLINE_EXCEEDED  the outcome is unknown: the server may or may not have
//                                   applied what was sent. Retry with the same data.
//   UNAUTHENTICATED                 the device credential was refused (revoked, or not enrolled).
//   FAILED_PRECONDITION (Push)      the batches do not continue the server's copy of the log.
//   CANCELLED                       Cancel() was called.
//   anything a next/on_ack/on_batch callback returned, unchanged.
#pragma once

#include <functional>
#include <optional>

#include "kitsync/core/status.h"
#include "kitsync/v1/sync.pb.h"

namespace kitsync::sync {

class Transport {
 public:
  using AckHandler = std::function<core::Status(const v1::PushAck&)>;
  // The next batch to push, or nullopt when there is nothing more to send.
  using BatchSource = std::function<core::Result<std::optional<v1::PushBatch>>()>;
  using PullHandler = std::function<core::Status(const v1::PullBatch&)>;

  virtual ~Transport() = default;

  // Sends the batches `next` returns, in order, on one stream, and calls `on_ack` for each ack
  // as it arrives. `next` is called on the calling thread, only when a batch may be sent (a
  // transport bounds how many it has sent and not yet seen acknowledged), so the caller builds
  // each batch while earlier ones are with the server; it is not called again after returning
  // nullopt or an error. `on_ack` is called on any thread, but never concurrently with itself
  // or with `next`, and never after Push has returned. Acks may repeat or lag (each carries the
  // highest sequence held, so the caller keeps the maximum). When `next` returns nullopt before
  // any batch, no stream is opened. Stops at the first error, including one returned by `next`
  // (after waiting for the acks of what was already sent) or by `on_ack`, and returns it. OK means
  // `next` returned nullopt and every batch was acknowledged.
  virtual core::Status Push(const BatchSource& next, const AckHandler& on_ack) = 0;

  // Streams the feed after `request.cursor`, calling `on_batch` for each batch in order. OK
  // means the server finished the stream.
  virtual core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) = 0;
  // Whether the pull under way holds its next batch already, received and waiting for
  // `on_batch`. The caller may then apply the batches it holds together, in one transaction,
  // instead of committing each. Called only from within `on_batch`; a transport that cannot
  // tell says false.
  virtual bool NextPullBatchReady() const { return false; }

  virtual core::Result<v1::StatusResponse> GetStatus() = 0;

  // Ends calls in progress promptly and makes later ones fail with CANCELLED. Thread-safe; may
  // be called while another thread is inside Push or Pull.
  virtual void Cancel() {}
};

}  // namespace kitsync::sync

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
//   anything an on_ack/on_batch callback returned, unchanged.
#pragma once

#include <functional>
#include <vector>

#include "kitsync/core/status.h"
#include "kitsync/v1/sync.pb.h"

namespace kitsync::sync {

class Transport {
 public:
  using AckHandler = std::function<core::Status(const v1::PushAck&)>;
  using PullHandler = std::function<core::Status(const v1::PullBatch&)>;

  virtual ~Transport() = default;

  // Sends `batches` in order on one stream and calls `on_ack` for each ack as it arrives, on any
  // thread but never concurrently, and never after Push has returned. Acks may repeat or lag
  // (each carries the highest sequence held, so the caller keeps the maximum). Stops at the first error, including one returned by
  // `on_ack`, and returns it. OK means every batch was acknowledged.
  virtual core::Status Push(const std::vector<v1::PushBatch>& batches,
                            const AckHandler& on_ack) = 0;

  // Streams the feed after `request.cursor`, calling `on_batch` for each batch in order. OK
  // means the server finished the stream.
  virtual core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) = 0;

  virtual core::Result<v1::StatusResponse> GetStatus() = 0;

  // Ends calls in progress promptly and makes later ones fail with CANCELLED. Thread-safe; may
  // be called while another thread is inside Push or Pull.
  virtual void Cancel() {}
};

}  // namespace kitsync::sync

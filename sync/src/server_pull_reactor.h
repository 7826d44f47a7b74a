// One pull call, as a gRPC callback reactor: each batch of the feed is read from the store on the
// store workers and written to the tablet, and the next is read once gRPC has taken the one
// before. A tablet on a slow link (or one that stops reading) is held back by gRPC's flow
// control while the call holds no server thread, as a push stream does (server_push_reactor.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_services.h"
#include "kitsync/v1/sync.grpc.pb.h"
#include "server_reactor_work.h"

namespace kitsync::sync {

class PullReactor final : public grpc::ServerWriteReactor<v1::PullBatch>,
                          public ReactorWork<PullReactor> {
 public:
  // Streams batches from `request`'s cursor until nothing remains for the device, or
  // `max_batches` were written (the tablet then calls again); counted in `limits` while open.
  // Deletes itself once the call is done and none of its work is left on `workers`.
  PullReactor(ServerLogic* logic, boost::asio::thread_pool& workers, StreamLimits& limits,
              std::string token, v1::PullRequest request, int max_batches);
  ~PullReactor() override;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void ReadNextLocked();  // posts the store read of the next batch
  void ReadNext();        // on a worker
  void FinishLocked(const grpc::Status& status);

  ServerLogic* const logic_;
  boost::asio::thread_pool& workers_;
  StreamLimits& limits_;
  const std::string token_;
  const int max_batches_;
  const bool zstd_;  // the tablet reads records_zstd (PullRequest.wire_features)

  v1::PullRequest next_;  // the request for the next batch
  // What the batch before said remained, so the store need not count it again (ReadFeed).
  std::optional<int64_t> remaining_after_;
  v1::PullBatch batch_;    // the batch being written
  int batch_changes_ = 0;  // its changes, which records_zstd no longer shows
  int written_ = 0;
  std::string counted_device_;  // the device whose open pulls count this one; empty: none
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace kitsync::sync

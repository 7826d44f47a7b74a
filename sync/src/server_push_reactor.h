// One push stream, as a gRPC callback reactor: gRPC reads each batch on its own threads, where it
// is checked, decoded and hashed at once (ServerLogic::PreparePush); the store applies the
// prepared batches in order on the push workers, one transaction at a time per stream, and each
// batch's ack is written as soon as it has committed. The batches waiting when the store comes
// to them are applied in one transaction, one commit for all of them. So while the store applies
// one batch, the next are already being decoded, and a stream waiting on a slow link holds no
// thread at all.
//
// The first refused batch ends the call with its refusal, once the acks of the batches before it
// are written; batches read after it are dropped unapplied. What was acked stays acked.
#pragma once

#include <grpcpp/grpcpp.h>

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_services.h"
#include "kitsync/v1/sync.grpc.pb.h"
#include "server_reactor_work.h"

namespace kitsync::sync {

class PushReactor final : public grpc::ServerBidiReactor<v1::PushBatch, v1::PushAck>,
                          public ReactorWork<PushReactor> {
 public:
  // Deletes itself once the call is done and none of its work is left on `workers`.
  PushReactor(ServerLogic* logic, boost::asio::thread_pool& workers, StreamLimits& limits,
              std::string token);
  ~PushReactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Work on the strand: one at a time, in the order posted.
  void Post(std::function<void()> work) { PostLocked(strand_, std::move(work)); }  // mu_ held
  void Authenticate();
  // Applies the batches waiting in ready_, together.
  void ApplyReady();

  // With mu_ held.
  void ReadNextLocked();
  void WriteNextLocked();
  void EndIfDueLocked();
  void FinishLocked(const grpc::Status& status);

  ServerLogic* const logic_;
  StreamLimits& limits_;
  const std::string token_;
  std::string counted_device_;  // the device whose open streams count this one; empty: none
  boost::asio::thread_pool::executor_type workers_;  // gRPC calls made off the strand
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;

  // Touched only between a StartRead and its OnReadDone, one at a time.
  v1::PushBatch incoming_;
  std::string chain_from_;  // the tip hash of the last batch read

  int unapplied_ = 0;             // batches read and not yet applied
  std::deque<PreparedPush> ready_;  // read and prepared, not yet taken by ApplyReady
  bool apply_posted_ = false;      // an ApplyReady is on the strand and has not taken ready_
  bool reading_ = false;          // a read is outstanding
  bool tablet_closed_ = false;    // no batch will come any more
  std::deque<v1::PushAck> acks_;  // the front one is being written while writing_
  bool writing_ = false;
  std::optional<grpc::Status> refusal_;  // ends the call once the acks before it are out
  bool finished_ = false;
};

}  // namespace kitsync::sync

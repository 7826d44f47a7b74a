// For Transport implementations that hand batches over one at a time (in-process fakes and
// simulated links): what a push stream holds between the tablet and the server.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "kitsync/core/status.h"
#include "kitsync/sync/client_transport.h"

namespace kitsync::sync {

// The batches taken from the session's source and not yet delivered, at most `window`: as on a
// stream, the tablet reads and builds the next batches before the earlier ones are acknowledged.
class ReadAhead {
 public:
  ReadAhead(const Transport::BatchSource& next, size_t window, v1::PushBatch first)
      : next_(next), window_(window < 1 ? 1 : window) {
    held_.push_back(std::move(first));
  }

  // Takes batches until `window` are held, the source ends or it fails.
  void Fill() {
    while (!ended_ && source_error_.ok() && held_.size() < window_) {
      auto batch = next_();
      if (!batch.ok()) {
        source_error_ = batch.status();
      } else if (!*batch) {
        ended_ = true;
      } else {
        held_.push_back(std::move(**batch));
        ++taken_;
      }
    }
  }

  bool empty() const { return held_.empty(); }
  v1::PushBatch Pop() {
    v1::PushBatch batch = std::move(held_.front());
    held_.pop_front();
    return batch;
  }
  // In stream order, for a link that delivers some of them after the push was cut.
  const std::deque<v1::PushBatch>& held() const { return held_; }
  // What ended the source early, once nothing is held: the push reports it.
  const core::Status& source_error() const { return source_error_; }
  // Batches taken from the source so far, the first one included.
  size_t taken() const { return taken_; }

 private:
  const Transport::BatchSource& next_;
  const size_t window_;
  std::deque<v1::PushBatch> held_;
  core::Status source_error_;
  bool ended_ = false;
  size_t taken_ = 1;
};

}  // namespace kitsync::sync

// The end of a callback reactor that posts work to the store workers: gRPC is done with the call
// (OnDone) while work of the call may still be queued or running, so the reactor deletes itself
// when the second of the two is over, whichever that is.
#pragma once

#include <boost/asio/post.hpp>
#include <mutex>
#include <utility>

namespace kitsync::sync {

template <typename Reactor>
class ReactorWork {
 protected:
  using Lock = std::lock_guard<std::mutex>;

  // With mu_ held: runs `work` on `executor`, counted until it returns.
  template <typename Executor, typename Work>
  void PostLocked(const Executor& executor, Work work) {
    ++tasks_;
    boost::asio::post(executor, [this, work = std::move(work)]() mutable {
      work();
      bool last;
      {
        Lock lock(mu_);
        last = --tasks_ == 0 && done_;
      }
      if (last) delete static_cast<Reactor*>(this);
    });
  }

  // From the reactor's OnDone.
  void CallDone() {
    bool last;
    {
      Lock lock(mu_);
      done_ = true;
      last = tasks_ == 0;
    }
    if (last) delete static_cast<Reactor*>(this);
  }

  std::mutex mu_;  // guards the reactor's state as well

 private:
  int tasks_ = 0;      // posted and not yet run to the end
  bool done_ = false;  // gRPC is done with the call
};

}  // namespace kitsync::sync

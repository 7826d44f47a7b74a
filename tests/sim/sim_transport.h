// A Transport that calls the server's logic in the same process, over a link that misbehaves
// the way a border link does: requests lost, acks lost after the server committed, messages
// delivered twice, copies arriving late, streams cut with several batches on them unacknowledged.
// Every message is serialised and parsed again, as it would be on the wire. Driven by the
// caller's seeded generator, so a run is replayable.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "kitsync/sync/client_transport.h"
#include "kitsync/sync/server_logic.h"

namespace kitsync::simtest {

// Chances, each in [0, 1].
struct LinkFaults {
  double lose_request = 0;  // the server never sees the call
  double lose_reply = 0;    // the server applied it; the tablet never hears
  double duplicate = 0;     // the server receives the same message twice
  double delay = 0;         // a copy of the message reaches the server again, later
  double cut = 0;           // the stream breaks after a message got through

  static LinkFaults None() { return {}; }
};

// Copies of requests still on their way to the server, across calls and tablets.
struct LateMessages {
  struct Push {
    std::string token;
    v1::PushBatch batch;
  };
  std::vector<Push> pushes;
};

class SimTransport final : public sync::Transport {
 public:
  // A push keeps up to `window` batches on its stream ahead of the acks.
  SimTransport(sync::ServerLogic& server, std::string token, std::mt19937_64& rng,
               LinkFaults faults, LateMessages& late, size_t window = 1)
      : server_(server),
        token_(std::move(token)),
        rng_(rng),
        faults_(faults),
        late_(late),
        window_(std::max<size_t>(1, window)) {}

  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override;
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override;
  // Half the time while the feed has more: the session then holds the batch to apply it with
  // the next, so losses and cuts also fall between a batch received and its commit.
  bool NextPullBatchReady() const override { return next_pull_batch_ready_; }
  core::Result<v1::StatusResponse> GetStatus() override;

  // Faults this transport injected, for the test's report.
  int64_t faults_injected() const { return faults_injected_; }

 private:
  bool Chance(double p);
  // Some of the late copies arrive now, before this call's own messages.
  void DeliverSomeLateMessages();
  // A broken stream: some of the batches written after the last one read may still have
  // reached the server, unacknowledged.
  void DeliverSomeInFlight(const std::deque<v1::PushBatch>& in_flight);

  sync::ServerLogic& server_;
  std::string token_;
  std::mt19937_64& rng_;
  LinkFaults faults_;
  LateMessages& late_;
  const size_t window_;
  int64_t faults_injected_ = 0;
  bool next_pull_batch_ready_ = false;
};

}  // namespace kitsync::simtest

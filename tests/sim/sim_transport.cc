#include "sim_transport.h"

#include <algorithm>
#include <optional>

#include "kitsync/sync/client_read_ahead.h"

namespace kitsync::simtest {
namespace {

// What crosses the wire is bytes: serialise and parse, as a real link would.
template <typename Message>
Message OverTheWire(const Message& m) {
  Message copy;
  copy.ParseFromString(m.SerializeAsString());
  return copy;
}

core::Status Lost(const char* what) { return core::Status::Unavailable(what); }

}  // namespace

bool SimTransport::Chance(double p) {
  if (p <= 0) return false;
  const bool hit = std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  faults_injected_ += hit;
  return hit;
}

void SimTransport::DeliverSomeLateMessages() {
  auto& pushes = late_.pushes;
  for (size_t i = 0; i < pushes.size();) {
    if (std::uniform_int_distribution<int>(0, 2)(rng_) == 0) {
      // Whatever the server answers goes nowhere: the tablet stopped waiting long ago. The
      // checks at the end of the run show whether it did harm.
      (void)server_.Push(pushes[i].token, pushes[i].batch);
      pushes.erase(pushes.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

core::Status SimTransport::Push(const BatchSource& next, const AckHandler& on_ack) {
  DeliverSomeLateMessages();
  ASSIGN_OR_RETURN(std::optional<v1::PushBatch> first, next());
  if (!first) return core::Status::Ok();  // no stream opened
  // Batches the tablet has written to the stream and the server has not yet read, at most
  // `window_`.
  sync::ReadAhead ahead(next, window_, std::move(*first));
  for (int round = 0; round < 100'000; ++round) {
    ahead.Fill();
    if (ahead.empty()) return ahead.source_error();
    const v1::PushBatch sent = ahead.Pop();
    if (Chance(faults_.lose_request)) return Lost("push lost on the way to the server");
    const v1::PushBatch received = OverTheWire(sent);
    auto ack = server_.Push(token_, received);
    if (Chance(faults_.duplicate)) (void)server_.Push(token_, received);
    if (Chance(faults_.delay)) late_.pushes.push_back({token_, received});
    if (!ack.ok()) return ack.status();
    if (Chance(faults_.lose_reply)) {
      DeliverSomeInFlight(ahead.held());
      return Lost("ack lost after the server committed");
    }
    RETURN_IF_ERROR(on_ack(OverTheWire(*ack)));
    if (Chance(faults_.cut)) {
      DeliverSomeInFlight(ahead.held());
      return Lost("link cut after an ack");
    }
  }
  return core::Status::Internal("push did not end in 100000 batches");
}

void SimTransport::DeliverSomeInFlight(const std::deque<v1::PushBatch>& in_flight) {
  // The stream is ordered: the server reads a prefix of what was written, and its acks are lost.
  const size_t reached = std::uniform_int_distribution<size_t>(0, in_flight.size())(rng_);
  for (size_t i = 0; i < reached; ++i) (void)server_.Push(token_, OverTheWire(in_flight[i]));
}

core::Status SimTransport::Pull(const v1::PullRequest& request, const PullHandler& on_batch) {
  DeliverSomeLateMessages();
  v1::PullRequest next = OverTheWire(request);
  std::optional<int64_t> remaining;  // as the batch before said, within this stream
  for (int round = 0; round < 10'000; ++round) {
    if (Chance(faults_.lose_request)) return Lost("pull request lost");
    auto batch = server_.Pull(token_, next, remaining);
    if (!batch.ok()) return batch.status();
    if (Chance(faults_.lose_reply)) return Lost("pulled batch lost on the way");
    const v1::PullBatch received = OverTheWire(*batch);
    next_pull_batch_ready_ =
        batch->remaining() > 0 && std::bernoulli_distribution(0.5)(rng_);
    core::Status handled = on_batch(received);
    if (handled.ok() && Chance(faults_.duplicate)) handled = on_batch(received);
    next_pull_batch_ready_ = false;
    RETURN_IF_ERROR(handled);
    if (batch->remaining() == 0) return core::Status::Ok();
    if (Chance(faults_.cut)) return Lost("pull stream cut");
    next.set_cursor(batch->cursor());
    remaining = static_cast<int64_t>(batch->remaining());
  }
  return core::Status::Internal("pull did not finish in 10000 batches");
}

core::Result<v1::StatusResponse> SimTransport::GetStatus() {
  DeliverSomeLateMessages();
  if (Chance(faults_.lose_request)) return Lost("status request lost");
  auto status = server_.GetStatus(token_, v1::StatusRequest());
  if (!status.ok()) return status.status();
  if (Chance(faults_.lose_reply)) return Lost("status reply lost");
  return OverTheWire(*status);
}

}  // namespace kitsync::simtest

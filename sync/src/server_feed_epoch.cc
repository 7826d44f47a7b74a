#include "server_feed_epoch.h"

namespace kitsync::sync {

using core::Status;

void SetFeedEpochs(const std::vector<FeedEpoch>& epochs, v1::StatusResponse& out) {
  const FeedEpoch& current = epochs.back();
  out.set_feed_epoch(current.id);
  out.set_feed_epoch_start_seq(static_cast<uint64_t>(current.start_seq));
  for (size_t i = 0; i + 1 < epochs.size(); ++i) {
    v1::FeedEpoch* earlier = out.add_earlier_feed_epochs();
    earlier->set_id(epochs[i].id);
    earlier->set_start_seq(static_cast<uint64_t>(epochs[i].start_seq));
  }
}

Status CheckPullEpoch(const std::vector<FeedEpoch>& epochs, const std::string& requested) {
  if (requested.size() > kMaxFeedEpochLength) {
    return Status::InvalidArgument("feed_epoch is " + std::to_string(requested.size()) +
                                   " characters long; no server makes one longer than " +
                                   std::to_string(kMaxFeedEpochLength));
  }
  const FeedEpoch& current = epochs.back();
  const std::string& named = requested.empty() ? epochs.front().id : requested;
  if (named == current.id) return Status::Ok();
  // Reading on would hand out entries numbered after the tablet's cursor while the entries
  // before it, in this epoch, may be ones the tablet never saw.
  const std::string since =
      epochs.size() > 1
          ? " since entry " + std::to_string(current.start_seq) + " (it was restored from a copy)"
          : "";
  return Status::FailedPrecondition(
      "the pull cursor belongs to feed epoch " +
      (requested.empty() ? std::string("(none: a tablet from before feed epochs)") : requested) +
      ", but this server's feed is epoch " + current.id + since +
      "; ask for the status and line the cursor up first" +
      (requested.empty() ? "; this needs an up-to-date kitsync on the tablet" : ""));
}

}  // namespace kitsync::sync

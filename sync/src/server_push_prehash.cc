// A pushed batch's logged forms and chain hashes, worked out with nothing of the store, so that
// a push stream can do it for the next batch while the store applies the one before.
#include "kitsync/core/change_log.h"
#include "kitsync/sync/server_store.h"

namespace kitsync::sync {

std::optional<PrehashedChanges> PrehashChanges(int64_t first_seq,
                                               const std::vector<core::RemoteChange>& changes,
                                               const std::string& chain_from) {
  PrehashedChanges out;
  out.forms.reserve(changes.size());
  for (const core::RemoteChange& change : changes) {
    auto form = core::ToLoggedForm(change.record);
    if (!form.ok()) return std::nullopt;
    out.forms.push_back(std::move(form).value());
  }
  if (chain_from.empty()) return out;
  out.chain_from = chain_from;
  out.after.reserve(changes.size());
  const std::string* prev = &out.chain_from;
  for (size_t i = 0; i < changes.size(); ++i) {
    const core::LoggedForm& form = out.forms[i];
    out.after.push_back(core::ChainHash(first_seq + static_cast<int64_t>(i), changes[i].hlc,
                                        form.entity, form.entity_id, "create", form.payload,
                                        *prev));
    prev = &out.after.back();
  }
  return out;
}

}  // namespace kitsync::sync

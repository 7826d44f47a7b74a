// A tablet's backup: what an officer takes off the tablet before it can fail, so that handovers
// not yet uploaded survive the device.
#include <unistd.h>

#include "kitsync/core/snapshot.h"
#include "kitsync/core/store.h"
#include "store_impl.h"

namespace kitsync::core {

Result<TabletStatus> Store::WriteBackup(const std::string& path) {
  RETURN_IF_ERROR(WriteSnapshot(impl_->db(), path));
  // A backup is only worth keeping if it opens as a tablet: check now, while the original is
  // still at hand. Its chain is walked and reported, but a broken chain does not remove the
  // copy: the break was copied from the tablet, and a failing tablet is when a copy matters most.
  Result<TabletStatus> copy = [&]() -> Result<TabletStatus> {
    ASSIGN_OR_RETURN(auto store, Store::Open(path));
    return store->GetStatus(/*verify_chain=*/true);
  }();
  if (copy.ok()) return copy;
  ::unlink(path.c_str());
  return Status::DataLoss("the copy written to " + path + " does not open as a tablet (" +
                          copy.status().message() +
                          ") and was removed; the tablet's own database is unchanged");
}

}  // namespace kitsync::core

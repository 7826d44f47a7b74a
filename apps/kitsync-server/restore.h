// `kitsync-server restore`: a copy made by `backup` installed as a new data directory's
// database, under a new feed epoch.
#pragma once

#include <string>

namespace kitsync::server_app {

// Checks the copy at `from`, installs it in the new or empty directory `data_dir`, and prints
// what it holds and the feed epoch it starts. Returns the process exit code: 0 restored; 2
// refused, with nothing written (no copy there, not a usable server database, `data_dir` not
// empty); 1 failed while installing (what was written is removed).
int Restore(const std::string& from, const std::string& data_dir);

}  // namespace kitsync::server_app

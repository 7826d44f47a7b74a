// `kitsync-server backup`: a consistent copy of a running (or stopped) server's database.
#pragma once

#include <string>

namespace kitsync::server_app {

// Writes the copy to the new file `to`, checks it (SQLite's integrity check, and that it is a
// kitsync server database), and prints what it holds. Returns the process exit code.
int Backup(const std::string& data_dir, const std::string& to);

}  // namespace kitsync::server_app

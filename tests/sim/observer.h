// A tablet enrolled with no data of its own: all it will ever hold is what the server's feed gives
// its post. Convergence checks compare every real tablet of a post with it.
#pragma once

#include <string>

#include "sync_test_support.h"

namespace kitsync::simtest {

synctest::Tablet EnrolObserver(synctest::TestServer& server, const std::string& post_code);

}  // namespace kitsync::simtest

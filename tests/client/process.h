// The end-to-end tests run the real programs with the shared child-process helpers.
#pragma once

#include "kitsync/process/process.h"

namespace kitsync::testing {

using process::BackgroundProcess;
using process::ProcessResult;
using process::RunProcess;

}  // namespace kitsync::testing

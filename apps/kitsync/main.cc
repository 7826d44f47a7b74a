// kitsync: the field CLI for a border-post tablet. The command line itself is in app.cc; the
// exit-code contract lives in cli_context.h.
#include <string>
#include <vector>

#include "app.h"

int main(int argc, char** argv) {
  return kitsync::cli::RunKitsync(std::vector<std::string>(argv + 1, argv + argc));
}

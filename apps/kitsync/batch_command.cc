// `kitsync batch`: many commands through one process. A front-end (or a day's worth of paper
// forms keyed in) sends one command per line and reads one result per line; every command runs
// exactly as if typed, each committing on its own, and its result is printed only after it has
// returned, so a result line seen is a command done.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app.h"
#include "cli_context.h"
#include "commands.h"

namespace kitsync::cli {
namespace {

struct BatchOptions {
  bool stop_on_error = false;
};

// std::cout and std::cerr go to strings for as long as it lives.
class CapturedOutput {
 public:
  CapturedOutput()
      : out_saved_(std::cout.rdbuf(out_.rdbuf())), err_saved_(std::cerr.rdbuf(err_.rdbuf())) {}
  ~CapturedOutput() {
    std::cout.rdbuf(out_saved_);
    std::cerr.rdbuf(err_saved_);
  }
  CapturedOutput(const CapturedOutput&) = delete;
  CapturedOutput& operator=(const CapturedOutput&) = delete;

  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

 private:
  std::ostringstream out_;
  std::ostringstream err_;
  std::streambuf* out_saved_;
  std::streambuf* err_saved_;
};

std::string TrimEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// The arguments of one line, or why the line cannot run. Nothing from a refused line runs.
std::string ParseLine(const std::string& line, std::vector<std::string>& args) {
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array() || doc.empty()) {
    return "each line must be a JSON array of the command's arguments, e.g. "
           "[\"stock\", \"show\"]";
  }
  for (const nlohmann::json& arg : doc) {
    if (!arg.is_string()) return "every argument must be a JSON string";
    args.push_back(arg.get<std::string>());
  }
  if (args.front() == "batch") return "a batch cannot run another batch";
  for (const std::string& arg : args) {
    if (arg == "--db" || arg.rfind("--db=", 0) == 0) {
      return "a batch runs against the one database given to 'kitsync batch'; drop --db";
    }
    // Standard input is the batch itself: reading from it would swallow the next lines.
    if (arg.size() > 6 && arg.compare(arg.size() - 6, 6, "-stdin") == 0) {
      return "'" + arg + "' reads standard input, which carries the batch; give the value "
             "in the line instead";
    }
  }
  return {};
}

void PrintResult(int64_t line_number, int exit_code, const std::string& out,
                 const std::string& err) {
  nlohmann::json result = nullptr;
  if (!out.empty()) {
    result = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (result.is_discarded()) result = TrimEnd(out);
  }
  const nlohmann::json line = {
      {"line", line_number}, {"exit_code", exit_code}, {"result", result}, {"error", TrimEnd(err)}};
  std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

int RunBatch(const GlobalOptions& global, const BatchOptions& options) {
  // Held open for the whole batch so that each command's own connection is never the last one
  // to close: closing the last connection checkpoints the write-ahead log, which would cost every
  // command a second round of disk flushes. A batch that begins with `init` has no database yet.
  auto held = OpenStore(global);
  int first_failure = kExitOk;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    line = TrimEnd(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string> args;
    int exit_code = kExitOk;
    std::string out;
    std::string err;
    if (std::string refused = ParseLine(line, args); !refused.empty()) {
      exit_code = kExitBadInput;
      err = "Error: line " + std::to_string(line_number) + ": " + refused;
    } else {
      args.insert(args.begin(), {"--db", global.db_path, "--json"});
      CapturedOutput captured;
      exit_code = RunKitsync(args);
      out = captured.out();
      err = captured.err();
    }
    PrintResult(line_number, exit_code, out, err);
    if (exit_code != kExitOk && first_failure == kExitOk) first_failure = exit_code;
    if (exit_code != kExitOk && options.stop_on_error) break;
  }
  return first_failure;
}

}  // namespace

void AddBatchCommand(CLI::App& app, Cli& cli) {
  auto options = std::make_shared<BatchOptions>();
  CLI::App* batch = app.add_subcommand(
      "batch",
      "Run commands read from standard input, one per line as a JSON array of arguments "
      "(e.g. [\"stock\",\"show\"]); print one JSON result line per command");
  batch->add_flag("--stop-on-error", options->stop_on_error,
                  "Stop at the first command that does not succeed");
  batch->callback([&cli, options] {
    cli.action = [&cli, options] { return RunBatch(cli.global, *options); };
  });
}

}  // namespace kitsync::cli

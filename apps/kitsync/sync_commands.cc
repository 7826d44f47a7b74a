// enroll and sync: bringing a tablet onto the server, and exchanging records with it.
//
// The words the officer reads follow the sync model: a call whose outcome is unknown (server
// unreachable, no answer in time) is never called a failure, because the server may hold the
// records, and never a success. Records stay on the tablet and go out again at the next sync.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_context.h"
#include "commands.h"
#include "kitsync/core/validation.h"
#include "kitsync/sync/client_engine.h"
#include "kitsync/sync/client_enroll.h"
#include "kitsync/sync/client_failure.h"
#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/sync/client_probe.h"
#include "kitsync/sync/client_session.h"
#include "kitsync/sync/wire.h"
#include "output.h"

namespace kitsync::cli {
namespace {

using core::Status;
using std::chrono::milliseconds;

// Part of the exit-code contract (see cli_context.h).
constexpr int kExitOutcomeUnknown = 5;  // server unreachable or too slow: records kept, retried
constexpr int kExitEnrolment = 6;       // the server does not accept this tablet, or not enrolled

struct LinkOptions {
  int window = 4;
  int batch = 500;
  int timeout_s = 20;  // per call, plus time per batch on streams
};

struct EnrollOptions {
  std::string server;
  std::string code;
  std::string device_name;
  std::string ca_file;
  LinkOptions link;
};

struct SyncOptions {
  bool once = false;
  bool watch = false;
  int interval_s = 60;
  int max_backoff_s = 300;
  LinkOptions link;
};

// The sync library logs what operators may want to know (a restored server, a refused batch).
// On stderr, so that stdout stays the command's own output (JSON included).
void LogToStderr(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_mt("kitsync-sync");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

// --- Words for the officer -----------------------------------------------------------------

int SyncExitCode(const Status& status) {
  switch (sync::ClassifyFailure(status)) {
    case sync::SyncFailure::kNone:
      return kExitOk;
    case sync::SyncFailure::kOutcomeUnknown:
      return kExitOutcomeUnknown;
    case sync::SyncFailure::kEnrolment:
      return kExitEnrolment;
    case sync::SyncFailure::kOther:
      break;
  }
  return ExitCodeFor(status);
}

// What the officer reads about an unfinished call: a headline and what to do.
struct Words {
  std::string headline;
  std::string advice;
};

Words SyncWords(const Status& status) {
  switch (sync::ClassifyFailure(status)) {
    case sync::SyncFailure::kOutcomeUnknown:
      return {"Sync not finished",
              "Your records are safe on this tablet and will be sent again at the next sync; "
              "nothing is lost."};
    case sync::SyncFailure::kEnrolment:
      return {"Sync refused, enrolment problem",
              "Your records are safe on this tablet. Ask an admin to check this tablet's "
              "enrolment: it may have been revoked, or the tablet needs 'kitsync enroll'."};
    default:
      return {"Error: sync stopped", "Your records are safe on this tablet."};
  }
}

Words EnrollWords(const Status& status) {
  switch (sync::ClassifyFailure(status)) {
    case sync::SyncFailure::kOutcomeUnknown:
      return {"Enrolment not finished",
              "Run the same command again with the same code when the link is back: the "
              "server will recognise this tablet even if it already took the code."};
    case sync::SyncFailure::kEnrolment:
      return {"Enrolment refused",
              "The code is unknown, already used or expired: ask an admin for a new one."};
    default:
      return {"Error: tablet not enrolled", ""};
  }
}

std::string Records(int64_t n) { return std::to_string(n) + (n == 1 ? " record" : " records"); }

std::string Seconds(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

nlohmann::json ReportJson(const sync::SyncReport& r) {
  return {{"pushed", r.pushed},
          {"pulled", r.pulled},
          {"pending", r.pending},
          {"flagged", r.flagged},
          {"pull_cursor", r.pull_cursor},
          {"server_restored", r.server_restored},
          {"duration_ms", r.duration.count()}};
}

nlohmann::json ErrorJson(const Status& status, const Words& words) {
  const bool unknown = sync::ClassifyFailure(status) == sync::SyncFailure::kOutcomeUnknown;
  return {{"code", std::string(core::CodeName(status.code()))},
          {"message", status.message()},
          {"outcome", unknown ? "unknown" : "refused"},
          {"advice", words.advice}};
}

// An unknown outcome is told plainly first; gRPC's own text ("failed to connect ...") follows
// as details, so it is not read as the records having failed.
void PrintWords(const Status& status, const Words& words) {
  if (sync::ClassifyFailure(status) == sync::SyncFailure::kOutcomeUnknown) {
    std::cerr << words.headline << ": the server could not be reached, or did not answer in time.\n"
              << words.advice << "\nDetails: " << status.message() << "\n";
    return;
  }
  std::cerr << words.headline << ": " << status.message() << "\n";
  if (!words.advice.empty()) std::cerr << words.advice << "\n";
}

// For failures before any record moved (no report to show).
int ReportLinkError(const GlobalOptions& global, const Status& status, const Words& words) {
  const int exit_code = SyncExitCode(status);
  PrintWords(status, words);
  if (global.json) {
    PrintJson({{"ok", false}, {"exit_code", exit_code}, {"error", ErrorJson(status, words)}});
  }
  return exit_code;
}

void PrintSummary(const sync::SyncReport& r) {
  PrintFields(std::cout, {{"Sent", Records(r.pushed)},
                          {"Received", Records(r.pulled)},
                          {"Waiting to send", Records(r.pending)},
                          {"Took", Seconds(r.duration)}});
  if (r.flagged > 0) {
    std::cout << r.flagged
              << " sent records were flagged by the server for review "
                 "(e.g. this tablet's clock looked wrong).\n";
  }
}

// --- Progress --------------------------------------------------------------------------------

// One updating line on a terminal; plain lines, fewer of them, when stderr is a file or pipe.
class ProgressDisplay {
 public:
  // `quiet_unless_tty`: with --json, a script reads the output; plain progress lines would only
  // clutter its logs.
  explicit ProgressDisplay(bool quiet_unless_tty)
      : tty_(isatty(fileno(stderr)) == 1), quiet_(quiet_unless_tty && !tty_) {}
  ~ProgressDisplay() { Finish(); }

  void Update(const sync::SyncProgress& p) {
    if (quiet_) return;
    if (p.phase == sync::SyncPhase::kDone) return Finish();
    const auto now = std::chrono::steady_clock::now();
    const bool phase_changed = !shown_ || p.phase != last_phase_;
    if (!phase_changed && now - last_ < (tty_ ? milliseconds(100) : milliseconds(2000))) return;
    last_ = now;
    last_phase_ = p.phase;
    shown_ = true;
    const std::string line = Line(p);
    if (tty_) {
      std::cerr << "\r\033[K" << line << std::flush;
      on_line_ = true;
    } else {
      std::cerr << line << "\n";
    }
  }

  void Finish() {
    if (on_line_) std::cerr << "\r\033[K" << std::flush;
    on_line_ = false;
  }

 private:
  static std::string Line(const sync::SyncProgress& p) {
    switch (p.phase) {
      case sync::SyncPhase::kStatus:
        return "Sync: asking the server where it stands (" + Records(p.pending) + " to send)";
      case sync::SyncPhase::kPush:
        return "Sync: sent " + std::to_string(p.pushed) + ", " + std::to_string(p.pending) +
               " still to send";
      case sync::SyncPhase::kPull:
        return "Sync: sent " + std::to_string(p.pushed) + ", received " + std::to_string(p.pulled);
      case sync::SyncPhase::kDone:
        break;
    }
    return "Sync: done";
  }

  const bool tty_;
  const bool quiet_;
  bool shown_ = false;
  bool on_line_ = false;
  sync::SyncPhase last_phase_ = sync::SyncPhase::kStatus;
  std::chrono::steady_clock::time_point last_{};
};

// --- One pass --------------------------------------------------------------------------------

sync::GrpcTransportOptions TransportOptions(const LinkOptions& o) {
  sync::GrpcTransportOptions t;
  t.window = o.window;
  t.call_deadline = std::chrono::seconds(o.timeout_s);
  return t;
}

sync::SessionOptions SessionOptionsFor(const LinkOptions& o) {
  sync::SessionOptions s;
  s.batch_size = o.batch;
  return s;
}

sync::SyncReport RunOnePass(core::Store& store, const core::ServerLink& link,
                            const LinkOptions& options, bool json) {
  auto transport = sync::GrpcTransport::Create(link, TransportOptions(options));
  if (!transport.ok()) {
    sync::SyncReport report;
    report.status = transport.status();
    return report;
  }
  sync::SyncSession session(store, **transport, SessionOptionsFor(options));
  ProgressDisplay display(json);
  session.OnProgress([&](const sync::SyncProgress& p) { display.Update(p); });
  return session.Run();
}

// Prints the outcome of a pass; returns its exit code.
int ReportPass(const GlobalOptions& global, const sync::SyncReport& report) {
  const Status& status = report.status;
  const int exit_code = SyncExitCode(status);
  if (status.ok()) {
    if (global.json) {
      nlohmann::json doc = ReportJson(report);
      doc["ok"] = true;
      PrintJson(doc);
    } else {
      std::cout << "Sync complete.\n";
      PrintSummary(report);
    }
    return kExitOk;
  }
  const Words words = SyncWords(status);
  PrintWords(status, words);
  if (global.json) {
    nlohmann::json doc = ReportJson(report);
    doc["ok"] = false;
    doc["exit_code"] = exit_code;
    doc["error"] = ErrorJson(status, words);
    PrintJson(doc);
  } else {
    PrintSummary(report);
  }
  return exit_code;
}

core::Result<core::ServerLink> LoadLink(core::Store& store) {
  auto link = store.LoadServerLink();
  if (!link.ok() && link.status().code() == core::Code::kNotFound) {
    // Not being enrolled is an enrolment problem, whatever the store calls it.
    return Status::Unauthenticated(link.status().message());
  }
  return link;
}

int RunSyncOnce(const GlobalOptions& global, const SyncOptions& options) {
  LogToStderr(spdlog::level::warn);
  auto store = OpenStore(global);
  if (!store.ok()) return ReportError(global, "cannot sync", store.status());
  auto link = LoadLink(**store);
  if (!link.ok()) return ReportLinkError(global, link.status(), SyncWords(link.status()));
  return ReportPass(global, RunOnePass(**store, *link, options.link, global.json));
}

// --- Watch -----------------------------------------------------------------------------------

std::string Now() {
  return FormatWallMs(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Prints what the officer should know as the engine's state changes: each finished pass, the
// enrolment flag, and the backlog while nothing runs.
class WatchPrinter {
 public:
  explicit WatchPrinter(bool json) : json_(json) {}

  void Show(const sync::EngineState& s) {
    if (s.in_progress || !s.running) return;
    bool new_pass = s.passes != printed_passes_ && s.last_report.has_value();
    if (new_pass) {
      // A quiet pass (nothing moved, nothing wrong, nothing wrong before) is not news.
      const sync::SyncReport& r = *s.last_report;
      const bool news = !r.status.ok() || r.pushed > 0 || r.pulled > 0 || !last_pass_ok_;
      last_pass_ok_ = r.status.ok();
      if (!news) {
        printed_passes_ = s.passes;
        new_pass = false;
      }
    }
    const bool pending_changed = s.pending != printed_pending_;
    if (!new_pass && !pending_changed && s.enrolment_problem == printed_enrolment_) return;
    printed_passes_ = s.passes;
    printed_pending_ = s.pending;
    printed_enrolment_ = s.enrolment_problem;
    if (json_) return PrintJsonLine(s);
    const int64_t pending = s.pending.value_or(0);
    if (!new_pass) {
      std::cout << Now() << "  " << Records(pending) << " waiting to send\n" << std::flush;
      return;
    }
    const sync::SyncReport& r = *s.last_report;
    if (r.status.ok()) {
      std::cout << Now() << "  synced: sent " << r.pushed << ", received " << r.pulled << ", "
                << pending << " waiting\n";
    } else if (s.enrolment_problem) {
      std::cout << Now() << "  ENROLMENT PROBLEM: " << r.status.message() << ". "
                << SyncWords(Status::Unauthenticated("")).advice << " Next try in "
                << Seconds(s.next_retry) << ".\n";
    } else if (sync::ClassifyFailure(r.status) == sync::SyncFailure::kOutcomeUnknown) {
      std::cout << Now() << "  Sync not finished: the server could not be reached, or did not "
                << "answer in time. Records are safe on this tablet and will be sent at the "
                << "next try (" << Records(pending) << " waiting; next try in "
                << Seconds(s.next_retry) << ").\n";
      // The technical reason once, not at every retry.
      if (r.status.message() != printed_details_) {
        printed_details_ = r.status.message();
        std::cout << "    details: " << printed_details_ << "\n";
      }
    } else {
      const Words words = SyncWords(r.status);
      std::cout << Now() << "  " << words.headline << ": " << r.status.message() << ". "
                << words.advice << " " << Records(pending) << " waiting; next try in "
                << Seconds(s.next_retry) << ".\n";
    }
    if (r.status.ok()) printed_details_.clear();
    std::cout << std::flush;
  }

 private:
  static void PrintJsonLine(const sync::EngineState& s) {
    nlohmann::json doc = {{"time", Now()},
                          {"pending", s.pending.value_or(0)},
                          {"consecutive_failures", s.consecutive_failures},
                          {"enrolment_problem", s.enrolment_problem},
                          {"next_retry_ms", s.next_retry.count()}};
    if (s.last_report) {
      doc["last_pass"] = ReportJson(*s.last_report);
      doc["ok"] = s.last_report->status.ok();
      const Status& status = s.last_report->status;
      if (!status.ok()) doc["error"] = ErrorJson(status, SyncWords(status));
    }
    std::cout << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
              << std::flush;
  }

  const bool json_;
  bool last_pass_ok_ = false;  // so the first pass is always shown
  std::string printed_details_;
  int64_t printed_passes_ = 0;
  std::optional<int64_t> printed_pending_;
  bool printed_enrolment_ = false;
};

int RunWatch(const GlobalOptions& global, const SyncOptions& options) {
  // Failures are told in the officer's words below; the library's own lines would repeat them.
  LogToStderr(spdlog::level::err);
  // Refuse at once what no retry will fix: no database, or no enrolment in it.
  {
    auto store = OpenStore(global);
    if (!store.ok()) return ReportError(global, "cannot sync", store.status());
    auto link = LoadLink(**store);
    if (!link.ok()) return ReportLinkError(global, link.status(), SyncWords(link.status()));
  }
  boost::asio::io_context io;
  sync::EngineOptions engine_options;
  engine_options.db_path = global.db_path;
  engine_options.session = SessionOptionsFor(options.link);
  engine_options.interval = std::chrono::seconds(options.interval_s);
  engine_options.backoff.max = std::chrono::seconds(options.max_backoff_s);
  const sync::GrpcTransportOptions transport_options = TransportOptions(options.link);
  sync::SyncEngine engine(
      io, engine_options,
      [transport_options](
          const core::ServerLink& link) -> core::Result<std::unique_ptr<sync::Transport>> {
        ASSIGN_OR_RETURN(auto transport, sync::GrpcTransport::Create(link, transport_options));
        return std::unique_ptr<sync::Transport>(std::move(transport));
      },
      [](const std::string& address, milliseconds timeout) {
        return sync::TcpConnects(address, timeout);
      });
  WatchPrinter printer(global.json);
  engine.OnStateChange([&printer](const sync::EngineState& s) { printer.Show(s); });

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (!global.json) std::cout << Now() << "  stopping\n" << std::flush;
    engine.Stop();
  });
  if (!global.json) {
    std::cout << Now() << "  syncing " << global.db_path << " every " << options.interval_s
              << " s and whenever records wait; Ctrl-C stops\n"
              << std::flush;
  }
  engine.Start();
  io.run();
  return engine.Snapshot().enrolment_problem ? kExitEnrolment : kExitOk;
}

// --- Enrol -----------------------------------------------------------------------------------

// The files SQLite may leave beside a database that was never finished.
void RemoveDatabase(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::filesystem::remove(path + suffix, ec);
  }
}

int RunEnroll(const GlobalOptions& global, const EnrollOptions& options) {
  LogToStderr(spdlog::level::warn);
  std::error_code ec;
  if (std::filesystem::exists(global.db_path, ec)) {
    return ReportError(global, "tablet not enrolled",
                       Status::AlreadyExists("'" + global.db_path +
                                             "' already exists, and kitsync never overwrites a "
                                             "tablet database. Choose another --db path"));
  }
  // Checked before the server sees the one-time code, which it uses up.
  if (Status s = core::ValidateText("device name", options.device_name, core::kMaxNameLength, true);
      !s.ok()) {
    return ReportError(global, "tablet not enrolled", s);
  }
  std::string ca_file;
  if (!options.ca_file.empty()) ca_file = std::filesystem::absolute(options.ca_file, ec).string();

  // Kept until the tablet's database holds the credential, so that running this again with the
  // same code after a lost reply or a failure below finishes the same enrolment.
  const std::string attempt_file = sync::EnrolmentAttemptPath(global.db_path);
  auto answer = sync::Enroll(options.server, ca_file, options.code, options.device_name,
                             attempt_file, TransportOptions(options.link));
  if (!answer.ok()) {
    return ReportLinkError(global, answer.status(), EnrollWords(answer.status()));
  }

  core::TabletSetup setup;
  setup.post_code = answer->post_code();
  setup.device_name = options.device_name;
  setup.programme_key = answer->programme_key();
  auto device_id = sync::UuidFromBytes(answer->device_id());
  if (!device_id.ok()) return ReportError(global, "tablet not enrolled", device_id.status());
  setup.device_id = *device_id;
  const core::ServerLink link{options.server, answer->device_token(), ca_file};

  auto store = core::Store::Create(global.db_path, setup);
  Status saved = store.ok() ? (*store)->SaveServerLink(link) : store.status();
  if (!saved.ok()) {
    if (store.ok()) store->reset();
    RemoveDatabase(global.db_path);
    return ReportError(global,
                       "tablet not enrolled (run the same command again with the same code "
                       "to finish)",
                       saved);
  }
  if (Status forgotten = sync::ForgetEnrolmentAttempt(attempt_file); !forgotten.ok()) {
    spdlog::warn("{}", forgotten.message());
  }
  const core::DeviceIdentity identity = (*store)->identity();
  if (!global.json) {
    std::cout << "Tablet enrolled.\n";
    PrintFields(std::cout, {{"Database", global.db_path},
                            {"Device", identity.device_name + " (" + identity.device_id + ")"},
                            {"Post", identity.post_code},
                            {"Server", options.server}});
    std::cout << "Fetching master data from the server...\n";
  }
  const sync::SyncReport report = RunOnePass(**store, link, options.link, global.json);
  if (global.json) {
    nlohmann::json doc = {{"ok", report.status.ok()},
                          {"db", global.db_path},
                          {"device_id", identity.device_id},
                          {"device_name", identity.device_name},
                          {"post_code", identity.post_code},
                          {"server", options.server},
                          {"enrolled", true},
                          {"first_sync", ReportJson(report)}};
    if (!report.status.ok()) {
      doc["exit_code"] = SyncExitCode(report.status);
      doc["error"] = ErrorJson(report.status, SyncWords(report.status));
    }
    PrintJson(doc);
  }
  if (!report.status.ok()) {
    std::cerr << "The tablet is enrolled, but the first sync did not finish: "
              << report.status.message() << "\nRun 'kitsync sync' to fetch the master data "
              << "before recording.\n";
    // Nothing of the officer's is at stake yet; only the master data is missing.
    return SyncExitCode(report.status);
  }
  if (!global.json) {
    std::cout << "Master data received (" << Records(report.pulled) << ").\n";
  }
  return kExitOk;
}

void AddLinkOptions(CLI::App* command, LinkOptions& o) {
  command->add_option("--window", o.window, "Batches sent ahead of the server's acks (1-64)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  // 2000 records of the largest kind stay well under the server's message limit.
  command->add_option("--batch", o.batch, "Records per batch (1-2000)")
      ->check(CLI::Range(1, 2000))
      ->capture_default_str();
  command
      ->add_option("--timeout", o.timeout_s,
                   "Seconds a call may take, plus more per batch on long transfers (1-3600)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
}

}  // namespace

void AddSyncCommands(CLI::App& app, Cli& cli) {
  auto enroll_options = std::make_shared<EnrollOptions>();
  CLI::App* enroll = app.add_subcommand(
      "enroll",
      "Enrol this tablet with the server using an admin's one-time code; creates the "
      "tablet database at --db and fetches master data");
  enroll->add_option("--server", enroll_options->server, "Server address, HOST:PORT")->required();
  enroll->add_option("--code", enroll_options->code, "One-time enrolment code from an admin")
      ->required();
  enroll
      ->add_option("--device-name", enroll_options->device_name,
                   "A name people recognise, e.g. \"ENT tablet 2\"")
      ->required();
  enroll
      ->add_option("--ca", enroll_options->ca_file,
                   "PEM file of the CA that signed the server's certificate (without it, "
                   "only a server on this machine is allowed, unencrypted)")
      ->check(CLI::ExistingFile);
  AddLinkOptions(enroll, enroll_options->link);
  enroll->callback([&cli, enroll_options] {
    cli.action = [&cli, enroll_options] { return RunEnroll(cli.global, *enroll_options); };
  });

  auto sync_options = std::make_shared<SyncOptions>();
  CLI::App* sync = app.add_subcommand(
      "sync",
      "Send this tablet's records to the server and receive the others' (once, or "
      "continuously with --watch)");
  CLI::Option* once = sync->add_flag("--once", sync_options->once, "One sync, then exit (default)");
  CLI::Option* watch = sync->add_flag(
      "--watch", sync_options->watch,
      "Keep syncing: whenever records wait, every --interval seconds, and retrying after "
      "failures, until interrupted");
  once->excludes(watch);
  sync->add_option("--interval", sync_options->interval_s,
                   "With --watch: seconds between syncs when nothing waits (1-86400)")
      ->check(CLI::Range(1, 86400))
      ->needs(watch)
      ->capture_default_str();
  // A post whose link comes back for minutes at a time wants a short ceiling; the default spares
  // a server that is down for hours from every tablet retrying.
  sync->add_option("--max-backoff", sync_options->max_backoff_s,
                   "With --watch: the longest wait, in seconds, between retries after failures "
                   "(1-3600)")
      ->check(CLI::Range(1, 3600))
      ->needs(watch)
      ->capture_default_str();
  AddLinkOptions(sync, sync_options->link);
  sync->callback([&cli, sync_options] {
    cli.action = [&cli, sync_options] {
      return sync_options->watch ? RunWatch(cli.global, *sync_options)
                                 : RunSyncOnce(cli.global, *sync_options);
    };
  });
}

}  // namespace kitsync::cli

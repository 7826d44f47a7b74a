// kitsync-server: the central sync server. `init` creates a data directory; `serve` runs the
// gRPC services over it until SIGTERM or SIGINT; `backup` copies its database while it runs;
// `restore` makes a new data directory from such a copy.
#include <fcntl.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "backup.h"
#include "kitsync/core/hlc.h"
#include "kitsync/sync/server_grpc.h"
#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_store.h"
#include "restore.h"

namespace {

using kitsync::core::Status;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// Calls in flight get this long to finish once a shutdown signal arrives.
constexpr std::chrono::seconds kShutdownGrace{5};

struct ServeOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:7443";
  std::string port_file;
  std::string tls_cert;
  std::string tls_key;
  int64_t max_clock_skew_ms = 5 * 60 * 1000;
};

void SetUpLogging() {
  auto logger = spdlog::stderr_logger_mt("kitsync-server");
  // key=value lines: easy for people to read and for log shippers to parse.
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// Which allocator serves this process's malloc, for the start-up log: jemalloc is linked in
// (CMakeLists.txt), and its count of this thread's allocations shows whether it serves them
// ("system" when something else, such as a preloaded allocator, took its place).
std::string AllocatorName() {
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) return "system";
  uint64_t before = 0;
  uint64_t after = 0;
  size = sizeof(uint64_t);
  if (mallctl("thread.allocated", &before, &size, nullptr, 0) != 0) return "system";
  void* volatile probe = std::malloc(4096);  // volatile: the call may not be left out
  size = sizeof(uint64_t);
  const bool counted = mallctl("thread.allocated", &after, &size, nullptr, 0) == 0 &&
                       after >= before + 4096;
  std::free(probe);
  if (!counted) return "system";
  const std::string_view release(version);  // "5.3.0-0-g<commit>"
  return "jemalloc-" + std::string(release.substr(0, release.find('-')));
}

// Written under a temporary name and renamed, so a reader never sees a partial file.
Status WritePortFile(const std::string& path, int port) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Internal("cannot create " + temp + ": " + std::strerror(errno));
  const std::string text = std::to_string(port) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return Status::Internal("cannot write the port file " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

int Init(const std::string& data_dir) {
  auto result = kitsync::sync::InitSqliteServerStore(data_dir, kitsync::core::SystemWallClock()());
  if (!result.ok()) {
    std::cerr << "kitsync-server: " << result.status().ToString() << "\n";
    return kExitFailure;
  }
  std::cout << "Created a kitsync server in " << data_dir << ".\n"
            << "Admin credential (shown only now; also kept in " << result->admin_token_file
            << ", readable by you alone):\n"
            << result->admin_token << "\n";
  return kExitOk;
}

int NewAdminToken(const std::string& data_dir) {
  auto result = kitsync::sync::ReplaceAdminToken(data_dir, kitsync::core::SystemWallClock()());
  if (!result.ok()) {
    std::cerr << "kitsync-server: " << result.status().ToString() << "\n";
    return kExitFailure;
  }
  std::cout << "The admin credential of " << data_dir << " was replaced; the old one no longer "
            << "works.\nNew admin credential (shown only now; also kept in "
            << result->admin_token_file << ", readable by you alone):\n"
            << result->admin_token << "\n";
  return kExitOk;
}

int Serve(const ServeOptions& options) {
  // Blocked before any thread starts, so every thread inherits the mask and only the waiter
  // below ever receives these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  SetUpLogging();

  auto store = kitsync::sync::OpenSqliteServerStore(options.data_dir);
  if (!store.ok()) {
    spdlog::error("event=start_failed code={} message=\"{}\"",
                  kitsync::core::CodeName(store.status().code()), store.status().message());
    return kExitFailure;
  }
  kitsync::sync::ServerLogicOptions logic_options;
  logic_options.max_clock_skew_ms = options.max_clock_skew_ms;
  auto logic = std::make_unique<kitsync::sync::ServerLogic>(
      store->get(), kitsync::core::SystemWallClock(), logic_options);

  kitsync::sync::ServerConfig config;
  config.listen_address = options.listen;
  config.tls_cert_file = options.tls_cert;
  config.tls_key_file = options.tls_key;
  auto server = kitsync::sync::GrpcServer::Start(logic.get(), config);
  if (!server.ok()) {
    spdlog::error("event=start_failed code={} message=\"{}\"",
                  kitsync::core::CodeName(server.status().code()), server.status().message());
    return kExitFailure;
  }
  spdlog::info("event=listening address={} port={} tls={} max_clock_skew_ms={} allocator={}",
               options.listen, (*server)->port(), (*server)->tls(), options.max_clock_skew_ms,
               AllocatorName());
  if (!options.port_file.empty()) {
    Status written = WritePortFile(options.port_file, (*server)->port());
    if (!written.ok()) {
      spdlog::error("event=start_failed message=\"{}\"", written.message());
      (*server)->Shutdown(std::chrono::milliseconds(0));
      return kExitFailure;
    }
  }

  kitsync::sync::GrpcServer* running = server->get();
  std::thread waiter([&signals, running] {
    int signal = 0;
    while (sigwait(&signals, &signal) != 0) {
    }
    spdlog::info("event=shutdown signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    running->Shutdown(kShutdownGrace);
  });
  running->Wait();
  waiter.join();
  // Order matters: no call may be running when the logic and then the store go away.
  server->reset();
  logic.reset();
  store->reset();
  spdlog::info("event=stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kitsync-server: the central sync server for kitsync tablets."};
  app.require_subcommand(1);

  std::string init_dir;
  CLI::App* init =
      app.add_subcommand("init", "Create a data directory and print the admin credential (once)");
  init->add_option("--data", init_dir, "Data directory to create")->required();

  ServeOptions serve_options;
  CLI::App* serve = app.add_subcommand("serve", "Serve tablets and admins until SIGTERM/SIGINT");
  serve->add_option("--data", serve_options.data_dir, "Data directory made by 'init'")->required();
  serve
      ->add_option("--listen", serve_options.listen,
                   "host:port to listen on; port 0 picks a free one. Without TLS only a "
                   "loopback address is allowed")
      ->capture_default_str();
  serve->add_option("--port-file", serve_options.port_file,
                    "Write the port listened on here once listening");
  serve->add_option("--tls-cert", serve_options.tls_cert, "PEM certificate chain")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", serve_options.tls_key, "PEM private key")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--max-clock-skew-ms", serve_options.max_clock_skew_ms,
                   "How far ahead of this server's clock a tablet's clock may be")
      ->check(CLI::Range(int64_t{0}, int64_t{7} * 24 * 3600 * 1000))
      ->capture_default_str();

  std::string backup_dir;
  std::string backup_to;
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy the server's database to a new file, while the server runs or not");
  backup->add_option("--data", backup_dir, "Data directory made by 'init'")->required();
  backup->add_option("--to", backup_to, "The new file to write (never replaced if it exists)")
      ->required();

  std::string restore_from;
  std::string restore_dir;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Make a new data directory from a copy written by 'backup', under a new feed epoch");
  restore->add_option("--from", restore_from, "The copy written by 'backup'")->required();
  restore->add_option("--data", restore_dir, "The data directory to create (new or empty)")
      ->required();

  std::string token_dir;
  CLI::App* new_token = app.add_subcommand(
      "new-admin-token",
      "Replace the admin credential (lost, leaked, or not restored with a copy); the old one "
      "stops working at once, also on a running server");
  new_token->add_option("--data", token_dir, "Data directory made by 'init' or 'restore'")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (init->parsed()) return Init(init_dir);
  if (backup->parsed()) return kitsync::server_app::Backup(backup_dir, backup_to);
  if (restore->parsed()) return kitsync::server_app::Restore(restore_from, restore_dir);
  if (new_token->parsed()) return NewAdminToken(token_dir);
  return Serve(serve_options);
}

// kitsync_sync_bench: a tablet's backlog of handovers synced to the central server over loopback,
// end to end (tablet database to server database, durable on both sides), against an ideal
// pipeline measured in the same run.
//
//   kitsync  SyncSession over GrpcTransport in a client process, pushing the backlog to a real
//            `kitsync-server serve` process (credential, hash chain, validation, feed, acks,
//            the tablet's upload cursor committed per ack).
//   ideal    the same change-log rows read with a plain SELECT in a client process, streamed in
//            batches of plain protobuf (no compression) over one gRPC stream to a minimal sink
//            process that inserts each batch in one transaction (prepared statement, WAL,
//            synchronous=FULL) into a table of the same columns and acknowledges it once
//            committed. No credential, no chain, no validation. Run before and after kitsync; the
//            baseline is the mean of the two runs.
//
// The backlog is handovers only, so records are handovers: setup registers one beneficiary per
// handover and stock receipts, and syncs those (untimed) before recording the handovers, as a
// tablet has done before a distribution day.
//
// Every process connects through a TCP relay inside this bench, which counts the bytes each way
// as they are sent (compressed, with HTTP/2 framing). Each side runs in its own process, so the
// peak memory (VmHWM) of the client and of the server are measured separately.
//
// The bench is also its own helper: it re-executes itself as the sync client, the ideal client
// and the ideal sink (hidden subcommands), so that no process inherits another's memory.
//
// Output: a human-readable table, then one JSON line (the last line on stdout) for scripts. The
// exit status is 1 if a pipeline failed or its result did not check out; a missed target is
// reported, not treated as an error.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ideal_sink.grpc.pb.h"
#include "kitsync/core/domain.h"
#include "kitsync/core/hlc.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/status.h"
#include "kitsync/core/store.h"
#include "kitsync/sync/client_grpc_transport.h"
#include "kitsync/sync/client_session.h"
#include "kitsync/sync/client_transport.h"
#include "kitsync/sync/server_logic.h"
#include "kitsync/sync/server_store.h"
#include "kitsync/sync/wire.h"

#ifndef KITSYNC_SERVER_BINARY
#define KITSYNC_SERVER_BINARY "kitsync-server"
#endif

namespace kitsync::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr std::string_view kPostCode = "ENT";
constexpr std::string_view kKitCode = "HYG-KIT";
constexpr std::string_view kRoundCode = "HYG-2026-11";
constexpr std::string_view kOfficerCode = "ENT-OF-01";

constexpr double kRatioTarget = 0.5;
constexpr double kBytesTarget = 120;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MiB(int64_t kib) { return static_cast<double>(kib) / 1024.0; }

template <typename T>
T ValueOrThrow(core::Result<T> result, std::string_view what) {
  if (!result.ok()) throw std::runtime_error(std::string(what) + ": " + result.status().ToString());
  return std::move(result).value();
}

void OkOrThrow(const core::Status& status, std::string_view what) {
  if (!status.ok()) throw std::runtime_error(std::string(what) + ": " + status.ToString());
}

// ---------------------------------------------------------------------------------------------
// SQLite, owned handles.

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

void CheckSqlite(int rc, sqlite3* db, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

DbPtr OpenDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  CheckSqlite(rc, db.get(), "open " + path);
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

void Exec(sqlite3* db, const std::string& sql) {
  CheckSqlite(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), db, sql);
}

StmtPtr Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  CheckSqlite(rc, db, sql);
  return stmt;
}

int64_t QueryInt(sqlite3* db, const std::string& sql) {
  StmtPtr stmt = Prepare(db, sql);
  const int rc = sqlite3_step(stmt.get());
  CheckSqlite(rc, db, sql);
  return rc == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : 0;
}

std::string ColumnText(sqlite3_stmt* stmt, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
  return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, i))) : "";
}

// ---------------------------------------------------------------------------------------------
// Processes: /proc figures, files, children.

// A "Key:   123 kB" line of /proc/PID/status, in KiB; -1 when absent.
int64_t ProcStatusKib(pid_t pid, std::string_view key) {
  std::ifstream in(pid == 0 ? "/proc/self/status" : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() &&
        line[key.size()] == ':') {
      return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

// User + system CPU seconds of a process so far, from /proc/PID/stat.
double ProcCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> f;
  std::string field;
  while (fields >> field) f.push_back(field);
  // Fields after the command name start at field 3 (state); utime is field 14, stime 15.
  if (f.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Written under a temporary name and renamed, so a reader never sees a partial file.
void WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + temp);
  }
  fs::rename(temp, path);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f %.2f %.2f", a, b, c);
  return text;
}

std::string SelfExecutable() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this program's path: " + ec.message());
  return self.string();
}

// A child process, killed if still running when this object goes away. Its output goes to a log
// file; it dies with this process (PR_SET_PDEATHSIG), so an interrupted bench leaves nothing.
class Child {
 public:
  Child(const std::string& program, const std::vector<std::string>& args,
        const std::string& log_path)
      : name_(fs::path(program).filename().string()) {
    std::vector<std::string> argv_storage{program};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (in < 0 || out < 0) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(out, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() {
    if (reaped_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (reaped_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      Reaped(status);
      return false;
    }
    return true;
  }
  // The exit code (128 + signal when killed), or -1 when it outlived `timeout` and was killed.
  int Wait(std::chrono::duration<double> timeout) {
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    while (running()) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        reaped_ = true;
        exit_code_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
  }
  // SIGTERM, then SIGKILL if it has not ended within `grace`.
  int Stop(std::chrono::duration<double> grace) {
    if (!running()) return exit_code_;
    kill(pid_, SIGTERM);
    return Wait(grace);
  }
  const std::string& name() const { return name_; }

 private:
  void Reaped(int status) {
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string name_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
};

// The port a server wrote to `path` once listening.
int WaitForPortFile(Child& child, const std::string& path, const std::string& log_path) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    const std::string text = ReadFile(path);
    if (!text.empty() && text.back() == '\n') return std::stoi(text);
    if (!child.running()) {
      throw std::runtime_error(child.name() + " exited before listening; its log (" + log_path +
                               "):\n" + ReadFile(log_path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(child.name() + " did not listen within 60 s");
}

// ---------------------------------------------------------------------------------------------
// A TCP relay on loopback: accepts on 127.0.0.1:<port>, connects each connection to the server,
// copies both ways and counts the bytes. What it counts is the TCP payload each end sent:
// gRPC messages as compressed by the sender, with their HTTP/2 frames and headers.

class Relay {
 public:
  explicit Relay(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("relay: socket");
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = Loopback(0);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      close(listen_fd_);
      throw std::runtime_error("relay: cannot listen: " + std::string(std::strerror(errno)));
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~Relay() { Stop(); }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int64_t to_server() const { return to_server_.load(); }
  int64_t to_client() const { return to_client_.load(); }
  int connections() const { return connections_.load(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (auto& weak : conns_) {
        if (auto conn = weak.lock()) conn->ShutdownBoth();
      }
    }
    for (std::thread& t : pumps_) t.join();
    close(listen_fd_);
  }

 private:
  struct Conn {
    int client = -1;
    int server = -1;
    ~Conn() {
      close(client);
      close(server);
    }
    void ShutdownBoth() const {
      shutdown(client, SHUT_RDWR);
      shutdown(server, SHUT_RDWR);
    }
  };

  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    return addr;
  }

  static void NoDelay(int fd) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr = Loopback(upstream_port_);
      if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        if (server >= 0) close(server);
        close(client);
        continue;
      }
      NoDelay(client);
      NoDelay(server);
      auto conn = std::make_shared<Conn>();
      conn->client = client;
      conn->server = server;
      ++connections_;
      std::lock_guard lock(mu_);
      conns_.push_back(conn);
      pumps_.emplace_back([this, conn] { Pump(conn, conn->client, conn->server, to_server_); });
      pumps_.emplace_back([this, conn] { Pump(conn, conn->server, conn->client, to_client_); });
    }
  }

  // Copies `from` to `to` until end of stream, an error, or Stop().
  void Pump(std::shared_ptr<Conn> conn, int from, int to, std::atomic<int64_t>& counter) {
    std::vector<char> buffer(256 * 1024);
    bool clean_end = false;
    while (!stop_) {
      pollfd p{from, POLLIN, 0};
      const int ready = poll(&p, 1, 50);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) break;
      if (ready == 0) continue;
      const ssize_t n = read(from, buffer.data(), buffer.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n == 0) clean_end = true;
      if (n <= 0) break;
      counter += n;
      ssize_t done = 0;
      while (done < n) {
        const ssize_t w =
            send(to, buffer.data() + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          done = -1;
          break;
        }
        done += w;
      }
      if (done < 0) break;
    }
    if (clean_end) {
      shutdown(to, SHUT_WR);  // pass the end of stream on
    } else {
      conn->ShutdownBoth();
    }
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> to_server_{0};
  std::atomic<int64_t> to_client_{0};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::weak_ptr<Conn>> conns_;
  std::vector<std::thread> pumps_;
};

// ---------------------------------------------------------------------------------------------
// Setup: a server data directory with master data and one enrolled tablet, and that tablet's
// ledger. The beneficiaries and stock receipts are registered and synced first (as they are
// before a distribution day), so the backlog left to sync is handovers only.

core::MasterData MakeMasterData() {
  core::MasterData data;
  const std::string kit_id = core::NewUuidV7();
  const std::string post_id = core::NewUuidV7();
  data.kit_types.push_back({kit_id, std::string(kKitCode), "Hygiene kit", "kit"});
  data.kit_types.push_back({core::NewUuidV7(), "PPE-SET", "Protective equipment set", "set"});
  data.posts.push_back({core::NewUuidV7(), "HQ", "Central warehouse"});
  data.posts.push_back({post_id, std::string(kPostCode), "Entikong"});
  data.posts.push_back({core::NewUuidV7(), "NNK", "Nunukan"});
  data.officers.push_back({core::NewUuidV7(), std::string(kOfficerCode), "Officer Satu", post_id,
                           core::OfficerRole::kOfficer});
  core::Round round;
  round.id = core::NewUuidV7();
  round.code = std::string(kRoundCode);
  round.name = "Hygiene kits, November 2026";
  round.requires_proof = true;
  round.entitlements.push_back({kit_id, 1});
  data.rounds.push_back(round);
  return data;
}

// The server's logic called in-process, for the untimed setup pass only.
class LocalTransport final : public sync::Transport {
 public:
  LocalTransport(sync::ServerLogic& logic, std::string token)
      : logic_(logic), token_(std::move(token)) {}

  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override {
    for (int i = 0; i < 1'000'000; ++i) {
      ASSIGN_OR_RETURN(std::optional<v1::PushBatch> batch, next());
      if (!batch) return core::Status::Ok();
      ASSIGN_OR_RETURN(v1::PushAck ack, logic_.Push(token_, *batch));
      RETURN_IF_ERROR(on_ack(ack));
    }
    return core::Status::Internal("setup push did not end in 1,000,000 batches");
  }
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override {
    v1::PullRequest next = request;
    for (int i = 0; i < 10'000; ++i) {
      ASSIGN_OR_RETURN(v1::PullBatch batch, logic_.Pull(token_, next));
      RETURN_IF_ERROR(on_batch(batch));
      if (batch.remaining() == 0 || batch.records().changes_size() == 0) break;
      next.set_cursor(batch.cursor());
    }
    return core::Status::Ok();
  }
  core::Result<v1::StatusResponse> GetStatus() override {
    return logic_.GetStatus(token_, v1::StatusRequest());
  }

 private:
  sync::ServerLogic& logic_;
  std::string token_;
};

struct SetupResult {
  std::string server_dir;
  std::string tablet_path;
  std::string token_file;
  // A second tablet of the post, enrolled before the day and never synced: after the timed
  // sync it pulls everything the post's feed holds, as a replacement tablet would.
  std::string second_tablet_path;
  std::string second_token_file;
  int64_t beneficiaries = 0;
  int64_t receipts = 0;
  int64_t presynced_changes = 0;  // registrations and receipts, synced during setup
  int64_t first_seq = 0;          // the backlog: change-log entries first_seq..last_seq
  int64_t last_seq = 0;
  int64_t handovers = 0;
  double seconds = 0;
};

SetupResult Setup(const fs::path& scratch, int64_t handovers) {
  const auto start = Clock::now();
  SetupResult out;
  out.server_dir = (scratch / "server").string();
  out.tablet_path = (scratch / "tablet.db").string();
  out.token_file = (scratch / "device.token").string();
  out.second_tablet_path = (scratch / "tablet-2.db").string();
  out.second_token_file = (scratch / "device-2.token").string();
  const core::WallClock clock = core::SystemWallClock();

  // The server: data directory, master data, an enrolment code, the tablet's enrolment.
  const auto init =
      ValueOrThrow(sync::InitSqliteServerStore(out.server_dir, clock()), "InitSqliteServerStore");
  auto server_store =
      ValueOrThrow(sync::OpenSqliteServerStore(out.server_dir), "OpenSqliteServerStore");
  sync::ServerLogic logic(server_store.get(), clock);
  const core::MasterData master = MakeMasterData();
  {
    v1::LoadMasterDataRequest request;
    sync::RecordBatchWriter writer(request.mutable_records());
    const core::Hlc stamp{clock(), 0};
    for (const auto& k : master.kit_types) writer.Add(stamp, k);
    for (const auto& p : master.posts) writer.Add(stamp, p);
    for (const auto& o : master.officers) writer.Add(stamp, o);
    for (const auto& r : master.rounds) writer.Add(stamp, r);
    ValueOrThrow(logic.LoadMasterData(init.admin_token, request), "LoadMasterData");
  }
  auto enrol = [&](const std::string& name, const std::string& token_file) {
    v1::CreateEnrollmentCodeRequest code_request;
    code_request.set_post_code(std::string(kPostCode));
    const auto code =
        ValueOrThrow(logic.CreateEnrollmentCode(init.admin_token, code_request), "enrolment code");
    v1::EnrollRequest request;
    request.set_code(code.code());
    request.set_device_name(name);
    auto enrolled = ValueOrThrow(logic.Enroll(request), "Enroll");
    WriteFileAtomically(token_file, enrolled.device_token());
    fs::permissions(token_file, fs::perms::owner_read | fs::perms::owner_write);
    return enrolled;
  };
  const auto enrolled = enrol("bench-tablet-01", out.token_file);
  const std::string device_id =
      ValueOrThrow(sync::UuidFromBytes(enrolled.device_id()), "device ID");
  {
    const auto second = enrol("bench-tablet-02", out.second_token_file);
    const core::StoreOptions durable;
    ValueOrThrow(core::Store::Create(
                     out.second_tablet_path,
                     core::TabletSetup{std::string(kPostCode), "bench-tablet-02",
                                       second.programme_key(),
                                       ValueOrThrow(sync::UuidFromBytes(second.device_id()),
                                                    "device ID")},
                     durable),
                 "Store::Create (second tablet)");
  }

  // The tablet. Setup writes 100k+ records and is not what is measured, so it runs with
  // durable=false; the sync client opens the store with durable=true.
  core::StoreOptions fast;
  fast.durable = false;
  auto store =
      ValueOrThrow(core::Store::Create(out.tablet_path,
                                       core::TabletSetup{std::string(kPostCode), "bench-tablet-01",
                                                         enrolled.programme_key(), device_id},
                                       fast),
                   "Store::Create");
  OkOrThrow(store->ImportMasterData(master), "ImportMasterData");
  for (int64_t stocked = 0; stocked < handovers; stocked += core::kMaxQuantity) {
    core::MovementInput receipt;
    receipt.kind = core::MovementKind::kReceipt;
    receipt.kit_type_code = std::string(kKitCode);
    receipt.quantity = core::kMaxQuantity;
    receipt.reference = "WB-2026-" + std::to_string(1000 + stocked / core::kMaxQuantity);
    receipt.officer_code = std::string(kOfficerCode);
    ValueOrThrow(store->RecordMovement(receipt), "RecordMovement");
    ++out.receipts;
  }
  std::vector<std::string> beneficiary_ids;
  beneficiary_ids.reserve(static_cast<size_t>(handovers));
  for (int64_t i = 0; i < handovers; ++i) {
    core::BeneficiaryInput input;
    char doc[24];
    std::snprintf(doc, sizeof(doc), "B%08lld", static_cast<long long>(i));
    input.doc_number = doc;
    input.full_name = "Beneficiary " + std::to_string(i) + " binti Ahmad";
    input.phone = "+62812" + std::to_string(10'000'000 + i);
    input.household_size = 1 + i % 6;
    beneficiary_ids.push_back(
        ValueOrThrow(store->RegisterBeneficiary(input), "RegisterBeneficiary").id);
  }
  out.beneficiaries = handovers;

  // The registrations and receipts reach the server before the distribution day.
  {
    LocalTransport local(logic, enrolled.device_token());
    sync::SyncSession presync(*store, local);
    const sync::SyncReport report = presync.Run();
    OkOrThrow(report.status, "setup sync of registrations");
    if (report.pending != 0) throw std::runtime_error("setup sync left changes unsent");
    out.presynced_changes = report.pushed;
  }

  // The distribution day: one handover per beneficiary (the round entitles each to one kit),
  // signed for, in person, with consent.
  std::mt19937_64 rng(20261127);
  constexpr int64_t kImportChunk = 10'000;
  for (int64_t begin = 0; begin < handovers; begin += kImportChunk) {
    const int64_t end = std::min(handovers, begin + kImportChunk);
    std::vector<core::HandoverInput> inputs;
    inputs.reserve(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) {
      core::HandoverInput input;
      input.round_code = std::string(kRoundCode);
      input.beneficiary_id = beneficiary_ids[static_cast<size_t>(i)];
      input.kit_type_code = std::string(kKitCode);
      input.quantity = 1;
      input.officer_code = std::string(kOfficerCode);
      input.proof.kind = core::ProofKind::kSignature;
      // Stands in for the SHA-256 hex digest of a captured signature image.
      static constexpr char kHex[] = "0123456789abcdef";
      input.proof.ref.assign(64, '0');
      for (char& c : input.proof.ref) c = kHex[rng() & 15];
      input.collected_by = core::Collector::kSelf;
      input.consent = true;
      inputs.push_back(std::move(input));
    }
    const int64_t imported = ValueOrThrow(store->ImportHandovers(inputs), "ImportHandovers");
    if (imported != end - begin) throw std::runtime_error("ImportHandovers imported too few");
  }
  const core::TabletStatus status = ValueOrThrow(store->GetStatus(), "tablet status");
  out.first_seq = status.acked_seq + 1;
  out.last_seq = status.last_seq;
  out.handovers = status.pending;
  store.reset();
  server_store.reset();

  {
    DbPtr tablet = OpenDb(out.tablet_path, SQLITE_OPEN_READONLY);
    const int64_t backlog_handovers =
        QueryInt(tablet.get(), "SELECT count(*) FROM change_log WHERE seq >= " +
                                   std::to_string(out.first_seq) + " AND entity = 'handover'");
    if (backlog_handovers != handovers || out.handovers != handovers) {
      throw std::runtime_error("the tablet's backlog holds " + std::to_string(out.handovers) +
                               " changes of which " + std::to_string(backlog_handovers) +
                               " handovers; expected " + std::to_string(handovers));
    }
  }
  out.seconds = Seconds(Clock::now() - start);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Role: the kitsync sync client (a child process). One SyncSession::Run over GrpcTransport.

// Passes every call through, timing them and sizing what is pushed before compression.
class MeteredTransport final : public sync::Transport {
 public:
  explicit MeteredTransport(sync::Transport& inner) : inner_(inner) {}

  core::Status Push(const BatchSource& next, const AckHandler& on_ack) override {
    ++push_calls;
    bool first = true;
    const auto start = Clock::now();
    core::Status s = inner_.Push(
        [&]() -> core::Result<std::optional<v1::PushBatch>> {
          const auto source_start = Clock::now();
          auto batch = next();
          const double took = Seconds(Clock::now() - source_start);
          source_s += took;
          // The transport asks for the first batch before it opens a stream: the server has
          // nothing to do meanwhile. Later ones are built while earlier ones are in flight.
          if (first) first_batch_s += took;
          if (first && batch.ok() && *batch) ++push_streams;
          first = false;
          if (batch.ok() && *batch) {
            push_batches += 1;
            push_changes += (*batch)->records().changes_size();
            push_protobuf_bytes += static_cast<int64_t>((*batch)->ByteSizeLong());
          }
          return batch;
        },
        [&](const v1::PushAck& ack) {
          const auto ack_start = Clock::now();
          core::Status r = on_ack(ack);
          ack_handler_s += Seconds(Clock::now() - ack_start);
          ++acks;
          return r;
        });
    push_s += Seconds(Clock::now() - start);
    return s;
  }
  core::Status Pull(const v1::PullRequest& request, const PullHandler& on_batch) override {
    const auto start = Clock::now();
    core::Status s = inner_.Pull(request, on_batch);
    pull_s += Seconds(Clock::now() - start);
    return s;
  }
  bool NextPullBatchReady() const override { return inner_.NextPullBatchReady(); }
  core::Result<v1::StatusResponse> GetStatus() override {
    const auto start = Clock::now();
    auto r = inner_.GetStatus();
    status_s += Seconds(Clock::now() - start);
    return r;
  }
  void Cancel() override { inner_.Cancel(); }

  int64_t push_calls = 0;
  int64_t push_streams = 0;  // the calls that had something to send
  int64_t push_batches = 0;
  int64_t push_changes = 0;
  int64_t push_protobuf_bytes = 0;
  int64_t acks = 0;
  double push_s = 0;         // inside Transport::Push: the streams, source and acks included
  double source_s = 0;       // of which in the session's source, reading the log and building
  double first_batch_s = 0;  // of which in its first call of each Push, before a stream opens
  double ack_handler_s = 0;  // of which in the session's ack handler (the upload cursor commit)
  double pull_s = 0;
  double status_s = 0;

 private:
  sync::Transport& inner_;
};

struct SyncClientOptions {
  std::string tablet;
  std::string address;
  std::string token_file;
  std::string result;
  int batch_size = 500;
  int in_flight = 4;
};

int SyncClientMain(const SyncClientOptions& opt) {
  spdlog::set_level(spdlog::level::warn);
  json out;
  core::StoreOptions durable;
  durable.durable = true;
  auto store = core::Store::Open(opt.tablet, durable);
  if (!store.ok()) {
    out["error"] = "Store::Open: " + store.status().ToString();
    WriteFileAtomically(opt.result, out.dump());
    return 1;
  }
  std::string token = ReadFile(opt.token_file);
  sync::GrpcTransportOptions transport_options;
  transport_options.window = opt.in_flight;
  auto transport =
      sync::GrpcTransport::Create(core::ServerLink{opt.address, token, ""}, transport_options);
  if (!transport.ok()) {
    out["error"] = "GrpcTransport::Create: " + transport.status().ToString();
    WriteFileAtomically(opt.result, out.dump());
    return 1;
  }
  MeteredTransport metered(**transport);
  sync::SessionOptions session_options;
  session_options.batch_size = opt.batch_size;
  sync::SyncSession session(**store, metered, session_options);

  // The session reports its first progress once it has read the tablet's own state (cursor,
  // log end, chain check), before its first call to the server.
  const auto start = Clock::now();
  double local_state_s = -1;
  session.OnProgress([&](const sync::SyncProgress& progress) {
    if (local_state_s < 0 && progress.phase == sync::SyncPhase::kStatus) {
      local_state_s = Seconds(Clock::now() - start);
    }
  });
  const double cpu_before = SelfCpuSeconds();
  const sync::SyncReport report = session.Run();
  const double wall = Seconds(Clock::now() - start);
  const double cpu = SelfCpuSeconds() - cpu_before;

  out["ok"] = report.status.ok();
  out["status"] = report.status.ToString();
  out["pushed"] = report.pushed;
  out["pulled"] = report.pulled;
  out["pending"] = report.pending;
  out["wall_s"] = wall;
  out["cpu_s"] = cpu;
  out["peak_rss_kib"] = ProcStatusKib(0, "VmHWM");
  out["push_calls"] = metered.push_calls;
  out["push_streams"] = metered.push_streams;
  out["push_batches"] = metered.push_batches;
  out["push_changes"] = metered.push_changes;
  out["push_protobuf_bytes"] = metered.push_protobuf_bytes;
  out["acks"] = metered.acks;
  out["push_s"] = metered.push_s;
  out["ack_handler_s"] = metered.ack_handler_s;
  out["source_s"] = metered.source_s;
  out["first_batch_s"] = metered.first_batch_s;
  out["pull_s"] = metered.pull_s;
  out["status_s"] = metered.status_s;
  out["local_state_s"] = local_state_s;
  WriteFileAtomically(opt.result, out.dump());
  return report.status.ok() ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Role: the ideal sink (a child process). Inserts each received batch in one transaction and
// acknowledges it once committed.

// One column per field of HandoverRow.
constexpr int kIdealColumnCount = 21;

class IdealSinkService final : public IdealSink::Service {
 public:
  explicit IdealSinkService(const std::string& path)
      : db_(OpenDb(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) {
    Exec(db_.get(), "PRAGMA journal_mode=WAL");
    Exec(db_.get(), "PRAGMA synchronous=FULL");
    // The same columns as the tablet's change-log entry and handover row; one B-tree, keyed by
    // the device sequence, no secondary index.
    Exec(db_.get(),
         "CREATE TABLE IF NOT EXISTS handover_rows (seq INTEGER PRIMARY KEY, hlc INTEGER NOT "
         "NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL, op TEXT NOT NULL, hash BLOB NOT "
         "NULL, round_id TEXT NOT NULL, beneficiary_id TEXT NOT NULL, kit_type_id TEXT NOT NULL, "
         "quantity INTEGER NOT NULL, post_id TEXT NOT NULL, officer_id TEXT NOT NULL, device_id "
         "TEXT NOT NULL, wall_ms INTEGER NOT NULL, proof_kind TEXT NOT NULL, proof_ref TEXT NOT "
         "NULL, collected_by TEXT NOT NULL, proxy_relation TEXT NOT NULL, consent INTEGER NOT "
         "NULL, override_reason TEXT NOT NULL, overridden_warnings TEXT NOT NULL)");
    if (HandoverRow::descriptor()->field_count() != kIdealColumnCount) {
      throw std::runtime_error("HandoverRow and the sink's table disagree on the columns");
    }
    std::string sql = "INSERT INTO handover_rows VALUES (";
    for (int i = 1; i <= kIdealColumnCount; ++i) sql += (i > 1 ? ", ?" : "?") + std::to_string(i);
    insert_ = Prepare(db_.get(), sql + ")");
    begin_ = Prepare(db_.get(), "BEGIN IMMEDIATE");
    commit_ = Prepare(db_.get(), "COMMIT");
    rollback_ = Prepare(db_.get(), "ROLLBACK");
  }

  grpc::Status Push(grpc::ServerContext*,
                    grpc::ServerReaderWriter<RowsAck, HandoverRows>* stream) override {
    HandoverRows batch;
    while (stream->Read(&batch)) {
      if (batch.rows_size() == 0) continue;
      std::lock_guard lock(mu_);
      if (!Insert(batch)) return grpc::Status(grpc::StatusCode::INTERNAL, error_);
      RowsAck ack;
      ack.set_last_seq(batch.rows(batch.rows_size() - 1).seq());
      ack.set_rows(batch.rows_size());
      if (!stream->Write(ack)) return grpc::Status(grpc::StatusCode::CANCELLED, "client left");
    }
    return grpc::Status::OK;
  }

 private:
  static void Text(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }

  bool Step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return true;
    error_ = sqlite3_errmsg(db_.get());
    return false;
  }

  bool Insert(const HandoverRows& batch) {
    if (!Step(begin_.get())) return false;
    sqlite3_stmt* s = insert_.get();
    for (const HandoverRow& r : batch.rows()) {
      sqlite3_bind_int64(s, 1, r.seq());
      sqlite3_bind_int64(s, 2, r.hlc());
      Text(s, 3, r.entity());
      Text(s, 4, r.entity_id());
      Text(s, 5, r.op());
      sqlite3_bind_blob(s, 6, r.hash().data(), static_cast<int>(r.hash().size()), SQLITE_STATIC);
      Text(s, 7, r.round_id());
      Text(s, 8, r.beneficiary_id());
      Text(s, 9, r.kit_type_id());
      sqlite3_bind_int64(s, 10, r.quantity());
      Text(s, 11, r.post_id());
      Text(s, 12, r.officer_id());
      Text(s, 13, r.device_id());
      sqlite3_bind_int64(s, 14, r.wall_ms());
      Text(s, 15, r.proof_kind());
      Text(s, 16, r.proof_ref());
      Text(s, 17, r.collected_by());
      Text(s, 18, r.proxy_relation());
      sqlite3_bind_int64(s, 19, r.consent() ? 1 : 0);
      Text(s, 20, r.override_reason());
      Text(s, 21, r.overridden_warnings());
      if (!Step(s)) {
        Step(rollback_.get());
        return false;
      }
    }
    return Step(commit_.get());
  }

  std::mutex mu_;
  DbPtr db_;
  StmtPtr insert_;
  StmtPtr begin_;
  StmtPtr commit_;
  StmtPtr rollback_;
  std::string error_;
};

int IdealServerMain(const std::string& db_path, const std::string& port_file) {
  // Blocked before any thread starts, so that only the wait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  IdealSinkService service(db_path);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "ideal sink: cannot listen\n");
    return 1;
  }
  WriteFileAtomically(port_file, std::to_string(port) + "\n");
  int signal = 0;
  while (sigwait(&signals, &signal) != 0) {
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Role: the ideal client (a child process). A plain SELECT of the backlog's change-log entries
// and the handover rows they stand for, streamed in batches as they are read.

struct IdealClientOptions {
  std::string tablet;
  std::string address;
  std::string result;
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  int batch_size = 500;
  bool compress = false;
  double max_seconds = 600;
};

int IdealClientMain(const IdealClientOptions& opt) {
  json out;
  DbPtr db = OpenDb(opt.tablet, SQLITE_OPEN_READONLY);
  StmtPtr select = Prepare(
      db.get(),
      "SELECT c.seq, c.hlc, c.entity, c.entity_id, c.op, c.hash, h.round_id, h.beneficiary_id, "
      "h.kit_type_id, h.quantity, h.post_id, h.officer_id, h.device_id, h.wall_ms, h.proof_kind, "
      "h.proof_ref, h.collected_by, h.proxy_relation, h.consent, h.override_reason, "
      "h.overridden_warnings FROM change_log c JOIN handovers h ON h.id = c.entity_id "
      "WHERE c.seq BETWEEN ?1 AND ?2 ORDER BY c.seq");
  sqlite3_bind_int64(select.get(), 1, opt.first_seq);
  sqlite3_bind_int64(select.get(), 2, opt.last_seq);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(opt.address, grpc::InsecureChannelCredentials(), args);
  auto stub = IdealSink::NewStub(channel);

  const double cpu_before = SelfCpuSeconds();
  const auto start = Clock::now();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(opt.max_seconds * 1000)));
  if (opt.compress) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  auto stream = stub->Push(&context);
  std::atomic<int64_t> acked_seq{0};
  std::atomic<int64_t> acked_rows{0};
  std::thread reader([&] {
    RowsAck ack;
    while (stream->Read(&ack)) {
      acked_seq = ack.last_seq();
      acked_rows += ack.rows();
    }
  });

  HandoverRows batch;
  int64_t rows = 0;
  int64_t batches = 0;
  int64_t protobuf_bytes = 0;
  bool written = true;
  auto send = [&] {
    if (batch.rows_size() == 0) return;
    protobuf_bytes += static_cast<int64_t>(batch.ByteSizeLong());
    ++batches;
    written = stream->Write(batch);
    batch.Clear();
  };
  sqlite3_stmt* s = select.get();
  int rc = SQLITE_ROW;
  while (written && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    HandoverRow* r = batch.add_rows();
    r->set_seq(sqlite3_column_int64(s, 0));
    r->set_hlc(sqlite3_column_int64(s, 1));
    r->set_entity(ColumnText(s, 2));
    r->set_entity_id(ColumnText(s, 3));
    r->set_op(ColumnText(s, 4));
    r->set_hash(sqlite3_column_blob(s, 5), static_cast<size_t>(sqlite3_column_bytes(s, 5)));
    r->set_round_id(ColumnText(s, 6));
    r->set_beneficiary_id(ColumnText(s, 7));
    r->set_kit_type_id(ColumnText(s, 8));
    r->set_quantity(sqlite3_column_int64(s, 9));
    r->set_post_id(ColumnText(s, 10));
    r->set_officer_id(ColumnText(s, 11));
    r->set_device_id(ColumnText(s, 12));
    r->set_wall_ms(sqlite3_column_int64(s, 13));
    r->set_proof_kind(ColumnText(s, 14));
    r->set_proof_ref(ColumnText(s, 15));
    r->set_collected_by(ColumnText(s, 16));
    r->set_proxy_relation(ColumnText(s, 17));
    r->set_consent(sqlite3_column_int64(s, 18) != 0);
    r->set_override_reason(ColumnText(s, 19));
    r->set_overridden_warnings(ColumnText(s, 20));
    ++rows;
    if (batch.rows_size() >= opt.batch_size) send();
  }
  if (written) send();
  std::string read_error;
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) read_error = sqlite3_errmsg(db.get());
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  const double wall = Seconds(Clock::now() - start);
  const double cpu = SelfCpuSeconds() - cpu_before;

  const int64_t expected = opt.last_seq - opt.first_seq + 1;
  const bool ok = status.ok() && read_error.empty() && rows == expected &&
                  acked_rows.load() == rows && acked_seq.load() == opt.last_seq;
  out["ok"] = ok;
  out["status"] =
      status.ok() ? (read_error.empty() ? "OK" : "read: " + read_error)
                  : "gRPC " + std::to_string(status.error_code()) + ": " + status.error_message();
  out["rows"] = rows;
  out["acked_rows"] = acked_rows.load();
  out["batches"] = batches;
  out["protobuf_bytes"] = protobuf_bytes;
  out["wall_s"] = wall;
  out["cpu_s"] = cpu;
  out["peak_rss_kib"] = ProcStatusKib(0, "VmHWM");
  WriteFileAtomically(opt.result, out.dump());
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// The orchestrator.

struct Options {
  int64_t handovers = 100'000;
  std::string dir = fs::temp_directory_path().string();
  bool keep = false;
  int batch_size = 500;  // SessionOptions::batch_size
  int in_flight = 4;     // GrpcTransportOptions::window
  int ideal_batch = 500;
  bool ideal_compress = false;
  double max_seconds = 900;
  std::string server_binary = KITSYNC_SERVER_BINARY;
};

// One pipeline's figures.
struct PipelineRun {
  std::string name;
  bool ok = false;
  std::string status;
  double wall_s = 0;
  double client_cpu_s = 0;
  double server_cpu_s = 0;
  int64_t client_peak_kib = 0;
  int64_t server_peak_kib = 0;
  int64_t to_server_bytes = 0;
  int64_t to_client_bytes = 0;
  int connections = 0;
  json client;  // what the client process reported
};

// Runs a server process and a client process through a relay, and collects the figures.
PipelineRun RunPipeline(
    const std::string& name, const std::string& scratch, const std::string& server_program,
    const std::vector<std::string>& server_args,
    const std::function<std::vector<std::string>(const std::string&, const std::string&)>&
        client_args,
    const std::string& port_file, double max_seconds,
    const std::function<void(int server_port)>& after_measured = {}) {
  PipelineRun run;
  run.name = name;
  const std::string server_log = scratch + "/" + name + "-server.log";
  const std::string client_log = scratch + "/" + name + "-client.log";
  const std::string result_file = scratch + "/" + name + "-result.json";
  Child server(server_program, server_args, server_log);
  const int port = WaitForPortFile(server, port_file, server_log);
  Relay relay(port);
  const double server_cpu_before = ProcCpuSeconds(server.pid());
  int client_exit = -1;
  {
    Child client(SelfExecutable(), client_args(relay.address(), result_file), client_log);
    client_exit = client.Wait(std::chrono::duration<double>(max_seconds));
  }
  run.server_cpu_s = ProcCpuSeconds(server.pid()) - server_cpu_before;
  run.server_peak_kib = ProcStatusKib(server.pid(), "VmHWM");
  relay.Stop();
  run.to_server_bytes = relay.to_server();
  run.to_client_bytes = relay.to_client();
  run.connections = relay.connections();
  if (after_measured) after_measured(port);
  const int server_exit = server.Stop(std::chrono::seconds(15));

  const std::string result_text = ReadFile(result_file);
  if (!result_text.empty()) run.client = json::parse(result_text, nullptr, false);
  if (run.client.is_object() && run.client.contains("wall_s")) {
    run.ok = run.client.value("ok", false) && client_exit == 0;
    run.status = run.client.value("status", std::string());
    run.wall_s = run.client.value("wall_s", 0.0);
    run.client_cpu_s = run.client.value("cpu_s", 0.0);
    run.client_peak_kib = run.client.value("peak_rss_kib", int64_t{0});
  } else {
    run.status = client_exit == -1 ? "client timed out" : "client failed";
    if (run.client.is_object() && run.client.contains("error")) {
      run.status += ": " + run.client["error"].get<std::string>();
    }
    run.status += " (log: " + client_log + ")";
  }
  if (server_exit != 0) {
    run.ok = false;
    run.status +=
        "; server exited with " + std::to_string(server_exit) + " (log: " + server_log + ")";
  }
  return run;
}

std::string FilesystemType(const fs::path& path) {
  struct statfs info {};
  if (statfs(path.c_str(), &info) != 0) return "unknown";
  switch (static_cast<uint32_t>(info.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x01021994:
      return "tmpfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794C7630:
      return "overlayfs";
    default: {
      char hex[16];
      std::snprintf(hex, sizeof(hex), "0x%x", static_cast<uint32_t>(info.f_type));
      return hex;
    }
  }
}

class ScratchDir {
 public:
  ScratchDir(const fs::path& parent, bool keep) : keep_(keep) {
    fs::create_directories(parent);
    std::string pattern = (parent / "kitsync-sync-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("cannot create a directory under " + parent.string());
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    if (keep_) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool keep_;
};

std::string Verdict(bool met) { return met ? "ok" : "MISSED"; }

int64_t FileBytes(const std::string& path) {
  int64_t total = 0;
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    const auto size = fs::file_size(path + suffix, ec);
    if (!ec) total += static_cast<int64_t>(size);
  }
  return total;
}

int Run(const Options& opt) {
  spdlog::set_level(spdlog::level::warn);
  if (!fs::exists(opt.server_binary)) {
    throw std::runtime_error("no kitsync-server at " + opt.server_binary +
                             " (build the kitsync-server target, or give --server-binary)");
  }
  ScratchDir scratch_dir(opt.dir, opt.keep);
  const std::string scratch = scratch_dir.path().string();
  const std::string fs_type = FilesystemType(scratch_dir.path());
  const std::string load_start = LoadAverage();
  std::printf(
      "kitsync_sync_bench: %lld handovers, SQLite %s, gRPC %s, scratch %s (%s), load average "
      "%s\n",
      static_cast<long long>(opt.handovers), sqlite3_libversion(), grpc::Version().c_str(),
      scratch.c_str(), fs_type.c_str(), load_start.c_str());
  if (fs_type == "tmpfs") {
    std::printf("warning: tmpfs makes fdatasync free; durable figures here mean nothing\n");
  }
  std::fflush(stdout);

  // --- Setup (not timed) ------------------------------------------------------------------------
  const SetupResult setup = Setup(scratch_dir.path(), opt.handovers);
  const std::string server_db = sync::ServerDatabasePath(setup.server_dir);
  std::printf(
      "setup (%.1f s): %lld beneficiaries and %lld stock receipts registered and synced "
      "beforehand (%lld changes); backlog: change-log entries %lld..%lld, %lld handovers and "
      "nothing else\n",
      setup.seconds, static_cast<long long>(setup.beneficiaries),
      static_cast<long long>(setup.receipts), static_cast<long long>(setup.presynced_changes),
      static_cast<long long>(setup.first_seq), static_cast<long long>(setup.last_seq),
      static_cast<long long>(setup.handovers));
  std::printf("        tablet database %.1f MiB, server database %.1f MiB before the sync\n",
              static_cast<double>(FileBytes(setup.tablet_path)) / (1 << 20),
              static_cast<double>(FileBytes(server_db)) / (1 << 20));
  std::fflush(stdout);

  const std::string self = SelfExecutable();
  auto ideal = [&](const std::string& name) {
    const std::string port_file = scratch + "/" + name + ".port";
    const std::string db = scratch + "/" + name + ".db";
    PipelineRun run = RunPipeline(
        name, scratch, self, {"ideal-server", "--db", db, "--port-file", port_file},
        [&](const std::string& address, const std::string& result) {
          std::vector<std::string> args = {"ideal-client",
                                           "--tablet",
                                           setup.tablet_path,
                                           "--address",
                                           address,
                                           "--result",
                                           result,
                                           "--first-seq",
                                           std::to_string(setup.first_seq),
                                           "--last-seq",
                                           std::to_string(setup.last_seq),
                                           "--batch",
                                           std::to_string(opt.ideal_batch),
                                           "--max-seconds",
                                           std::to_string(opt.max_seconds)};
          if (opt.ideal_compress) args.push_back("--compress");
          return args;
        },
        port_file, opt.max_seconds);
    if (run.ok) {
      DbPtr sink = OpenDb(db, SQLITE_OPEN_READONLY);
      const int64_t rows = QueryInt(sink.get(), "SELECT count(*) FROM handover_rows");
      if (rows != setup.handovers) {
        run.ok = false;
        run.status = "the sink holds " + std::to_string(rows) + " rows";
      }
    }
    std::printf("  %s: %s in %.2f s\n", name.c_str(), run.ok ? "done" : run.status.c_str(),
                run.wall_s);
    std::fflush(stdout);
    return run;
  };

  // --- Timed: ideal, kitsync, ideal ------------------------------------------------------------
  std::printf("\nruns:\n");
  std::fflush(stdout);
  const PipelineRun ideal_before = ideal("ideal-before");
  const std::string kitsync_port_file = scratch + "/kitsync-server.port";
  auto sync_client_args = [&](const std::string& address, const std::string& result,
                              bool second_tablet = false) {
    return std::vector<std::string>{"sync-client",
                                    "--tablet",
                                    second_tablet ? setup.second_tablet_path : setup.tablet_path,
                                    "--address",
                                    address,
                                    "--token-file",
                                    second_tablet ? setup.second_token_file : setup.token_file,
                                    "--result",
                                    result,
                                    "--batch-size",
                                    std::to_string(opt.batch_size),
                                    "--in-flight",
                                    std::to_string(opt.in_flight)};
  };
  // Diagnostics, once the sync's figures are taken: a second pass with nothing left to send,
  // which costs what every pass costs whatever the backlog; then the post's second tablet pulls
  // the whole feed of its post (the registrations and the handovers just synced).
  double empty_pass_s = -1;
  json second_pull;
  auto after_sync = [&](int server_port) {
    const std::string address = "127.0.0.1:" + std::to_string(server_port);
    auto run = [&](const std::string& name, bool second_tablet) {
      const std::string result = scratch + "/" + name + "-result.json";
      Child client(self, sync_client_args(address, result, second_tablet),
                   scratch + "/" + name + "-client.log");
      if (client.Wait(std::chrono::duration<double>(opt.max_seconds)) != 0) return json();
      const json r = json::parse(ReadFile(result), nullptr, false);
      return r.is_object() && r.value("ok", false) ? r : json();
    };
    const json empty = run("kitsync-empty-pass", false);
    if (!empty.is_null()) empty_pass_s = empty.value("wall_s", -1.0);
    second_pull = run("kitsync-second-tablet", true);
  };
  PipelineRun kitsync =
      RunPipeline("kitsync", scratch, opt.server_binary,
                  {"serve", "--data", setup.server_dir, "--listen", "127.0.0.1:0", "--port-file",
                   kitsync_port_file},
                  [&](const std::string& address, const std::string& result) {
                    return sync_client_args(address, result);
                  },
                  kitsync_port_file, opt.max_seconds, after_sync);
  // Durable on both sides: the server holds every handover and the tablet's cursor says so.
  if (kitsync.ok) {
    DbPtr server = OpenDb(server_db, SQLITE_OPEN_READONLY);
    const int64_t held = QueryInt(server.get(), "SELECT count(*) FROM handovers");
    const int64_t acked = QueryInt(server.get(), "SELECT max(acked_seq) FROM devices");
    core::StoreOptions read_options;
    auto tablet = ValueOrThrow(core::Store::Open(setup.tablet_path, read_options), "Store::Open");
    const core::TabletStatus status = ValueOrThrow(tablet->GetStatus(), "tablet status");
    if (held != setup.handovers || acked != setup.last_seq || status.acked_seq != setup.last_seq ||
        kitsync.client.value("pushed", int64_t{0}) != setup.handovers) {
      kitsync.ok = false;
      kitsync.status = "after the sync the server holds " + std::to_string(held) +
                       " handovers, acked up to " + std::to_string(acked) +
                       "; the tablet's cursor is at " + std::to_string(status.acked_seq);
    }
  }
  std::printf("  kitsync: %s in %.2f s\n", kitsync.ok ? "done" : kitsync.status.c_str(),
              kitsync.wall_s);
  std::fflush(stdout);
  const PipelineRun ideal_after = ideal("ideal-after");
  const std::string load_end = LoadAverage();

  // --- Figures -------------------------------------------------------------------------------
  const double n = static_cast<double>(setup.handovers);
  auto rate = [&](const PipelineRun& r) { return r.ok && r.wall_s > 0 ? n / r.wall_s : 0.0; };
  const double ideal_rate =
      ideal_before.ok && ideal_after.ok ? n / ((ideal_before.wall_s + ideal_after.wall_s) / 2) : 0;
  const double kitsync_rate = rate(kitsync);
  const double ratio = ideal_rate > 0 ? kitsync_rate / ideal_rate : 0;
  const double bytes_per_handover = static_cast<double>(kitsync.to_server_bytes) / n;
  const double protobuf_per_handover =
      kitsync.client.is_object()
          ? static_cast<double>(kitsync.client.value("push_protobuf_bytes", int64_t{0})) / n
          : 0.0;

  std::printf(
      "\nEnd-to-end sync of %lld handovers over loopback, durable on both sides "
      "(records = handovers)\n",
      static_cast<long long>(setup.handovers));
  std::printf("  %-24s %10s %8s %11s %11s %11s %11s %9s %9s\n", "", "records/s", "seconds",
              "client cpu", "server cpu", "to server", "to client", "client", "server");
  std::printf("  %-24s %10s %8s %11s %11s %11s %11s %9s %9s\n", "", "", "", "us/record",
              "us/record", "B/record", "B/record", "peak MiB", "peak MiB");
  for (const PipelineRun* r :
       {&ideal_before, static_cast<const PipelineRun*>(&kitsync), &ideal_after}) {
    const char* label = r == &kitsync        ? "kitsync SyncSession"
                        : r == &ideal_before ? "ideal (run before)"
                                             : "ideal (run after)";
    std::printf("  %-24s %10.0f %8.2f %11.1f %11.1f %11.1f %11.1f %9.1f %9.1f\n", label, rate(*r),
                r->wall_s, r->client_cpu_s * 1e6 / n, r->server_cpu_s * 1e6 / n,
                static_cast<double>(r->to_server_bytes) / n,
                static_cast<double>(r->to_client_bytes) / n, MiB(r->client_peak_kib),
                MiB(r->server_peak_kib));
  }
  std::printf(
      "  ratio kitsync/ideal (ideal = mean of both runs, %.0f records/s): %.3f "
      "(target >= %.1f: %s)\n",
      ideal_rate, ratio, kRatioTarget, Verdict(ratio >= kRatioTarget).c_str());
  std::printf(
      "  bytes on the wire per handover, client to server, as sent (compressed, HTTP/2 framing "
      "included): %.1f B (target <= %.0f: %s); protobuf before compression %.1f B\n",
      bytes_per_handover, kBytesTarget, Verdict(bytes_per_handover <= kBytesTarget).c_str(),
      protobuf_per_handover);
  if (kitsync.client.is_object() && kitsync.client.contains("push_s")) {
    const json& c = kitsync.client;
    const double push_s = c.value("push_s", 0.0);
    const double local_state_s = std::max(0.0, c.value("local_state_s", 0.0));
    const double outside =
        kitsync.wall_s - push_s - c.value("pull_s", 0.0) - c.value("status_s", 0.0) - local_state_s;
    const double first_batch_s = c.value("first_batch_s", 0.0);
    std::printf(
        "  kitsync client: %lld changes in %lld batches over %lld push streams "
        "(batch_size %d, in flight %d). Where the wall time went: %.2f s reading the tablet's "
        "state before the first call (Store::GetStatus), %.2f s status call, %.2f s outside "
        "any call, %.2f s inside Transport::Push (of which %.2f s reading and building the "
        "first batch before a stream opened (the server idle), %.2f s reading the log and "
        "building the later batches while earlier ones were with the server, %.2f s in the ack "
        "handler, committing the upload cursor), %.2f s pull. (diag) A second pass with nothing "
        "to send took %.2f s\n",
        static_cast<long long>(c.value("push_changes", int64_t{0})),
        static_cast<long long>(c.value("push_batches", int64_t{0})),
        static_cast<long long>(c.value("push_streams", int64_t{0})), opt.batch_size, opt.in_flight,
        local_state_s, c.value("status_s", 0.0), outside, push_s, first_batch_s,
        c.value("source_s", 0.0) - first_batch_s, c.value("ack_handler_s", 0.0),
        c.value("pull_s", 0.0), empty_pass_s);
  }
  if (!second_pull.is_null()) {
    // The second tablet must now hold every registration and handover of the post.
    DbPtr second = OpenDb(setup.second_tablet_path, SQLITE_OPEN_READONLY);
    const int64_t families = QueryInt(second.get(), "SELECT count(*) FROM beneficiaries");
    const int64_t handed = QueryInt(second.get(), "SELECT count(*) FROM handovers");
    second_pull["holds_beneficiaries"] = families;
    second_pull["holds_handovers"] = handed;
    if (families != setup.beneficiaries || handed != setup.handovers) {
      std::printf("  (diag) INCOMPLETE: the post's second tablet holds %lld of %lld families and "
                  "%lld of %lld handovers after its pull\n",
                  static_cast<long long>(families), static_cast<long long>(setup.beneficiaries),
                  static_cast<long long>(handed), static_cast<long long>(setup.handovers));
    }
    const double pull_s = second_pull.value("pull_s", 0.0);
    const int64_t pulled = second_pull.value("pulled", int64_t{0});
    std::printf(
        "  (diag) the post's second tablet pulled its post's whole feed: %lld changes in %.2f s "
        "(%.0f changes/s; pass %.2f s, client CPU %.2f s, peak %.1f MiB)\n",
        static_cast<long long>(pulled), pull_s, pull_s > 0 ? pulled / pull_s : 0.0,
        second_pull.value("wall_s", 0.0), second_pull.value("cpu_s", 0.0),
        MiB(second_pull.value("peak_rss_kib", int64_t{0})));
  } else {
    std::printf("  (diag) the post's second tablet's pull did not finish\n");
  }
  std::printf("  load average: %s at start, %s at end (2 vCPU shared)\n", load_start.c_str(),
              load_end.c_str());
  for (const PipelineRun* r :
       {&ideal_before, static_cast<const PipelineRun*>(&kitsync), &ideal_after}) {
    if (!r->ok) std::printf("  FAILED %s: %s\n", r->name.c_str(), r->status.c_str());
  }
  std::printf("\n");

  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
  auto pipeline_json = [&](const PipelineRun& r) {
    return json{{"ok", r.ok},
                {"status", r.status},
                {"records_per_s", round1(rate(r))},
                {"seconds", round3(r.wall_s)},
                {"client_cpu_us_per_record", round1(r.client_cpu_s * 1e6 / n)},
                {"server_cpu_us_per_record", round1(r.server_cpu_s * 1e6 / n)},
                {"to_server_bytes", r.to_server_bytes},
                {"to_client_bytes", r.to_client_bytes},
                {"to_server_bytes_per_record", round1(static_cast<double>(r.to_server_bytes) / n)},
                {"client_peak_rss_mib", round1(MiB(r.client_peak_kib))},
                {"server_peak_rss_mib", round1(MiB(r.server_peak_kib))},
                {"connections", r.connections},
                {"client", r.client}};
  };
  const json result = {
      {"bench", "kitsync_sync_bench"},
      {"sqlite", sqlite3_libversion()},
      {"grpc", grpc::Version()},
      {"filesystem", fs_type},
      {"load_average_start", load_start},
      {"load_average_end", load_end},
      {"setup",
       {{"handovers", setup.handovers},
        {"beneficiaries_presynced", setup.beneficiaries},
        {"receipts_presynced", setup.receipts},
        {"presynced_changes", setup.presynced_changes},
        {"backlog_first_seq", setup.first_seq},
        {"backlog_last_seq", setup.last_seq},
        {"backlog_changes", setup.last_seq - setup.first_seq + 1},
        {"seconds", round1(setup.seconds)}}},
      {"options",
       {{"batch_size", opt.batch_size},
        {"in_flight", opt.in_flight},
        {"ideal_batch", opt.ideal_batch},
        {"ideal_compress", opt.ideal_compress}}},
      {"kitsync", pipeline_json(kitsync)},
      {"ideal_before", pipeline_json(ideal_before)},
      {"ideal_after", pipeline_json(ideal_after)},
      {"ideal_records_per_s", round1(ideal_rate)},
      {"ratio", round3(ratio)},
      {"ratio_target", kRatioTarget},
      {"ratio_met", ratio >= kRatioTarget},
      {"wire_bytes_per_handover", round1(bytes_per_handover)},
      {"protobuf_bytes_per_handover", round1(protobuf_per_handover)},
      {"wire_bytes_target", kBytesTarget},
      {"wire_bytes_met", bytes_per_handover <= kBytesTarget},
      {"empty_pass_seconds", round3(empty_pass_s)},
      {"second_tablet_pull", second_pull},
      {"client_peak_rss_mib", round1(MiB(kitsync.client_peak_kib))},
      {"server_peak_rss_mib", round1(MiB(kitsync.server_peak_kib))},
  };
  std::printf("%s\n", result.dump().c_str());
  return ideal_before.ok && kitsync.ok && ideal_after.ok ? 0 : 1;
}

}  // namespace
}  // namespace kitsync::bench

int main(int argc, char** argv) {
  using namespace kitsync::bench;
  CLI::App app{
      "kitsync_sync_bench: a tablet's backlog of handovers synced to a kitsync-server process "
      "over loopback, against an ideal pipeline measured in the same run."};
  Options opt;
  app.add_option("--handovers", opt.handovers, "Handovers in the tablet's backlog")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--dir", opt.dir,
                 "Parent of the scratch directory; must be on the disk under test")
      ->capture_default_str();
  app.add_flag("--keep", opt.keep, "Keep the scratch directory (databases, logs)");
  app.add_option("--batch-size", opt.batch_size, "SessionOptions::batch_size (changes per batch)")
      ->check(CLI::Range(1, 2000))
      ->capture_default_str();
  app.add_option("--in-flight", opt.in_flight,
                 "GrpcTransportOptions::window (unacknowledged batches on a stream)")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--ideal-batch", opt.ideal_batch, "Rows per message of the ideal pipeline")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_flag("--ideal-compress", opt.ideal_compress,
               "Diagnostic: gzip the ideal pipeline's messages too");
  app.add_option("--max-seconds", opt.max_seconds, "Each pipeline is stopped after this long")
      ->check(CLI::Range(1.0, 7200.0))
      ->capture_default_str();
  app.add_option("--server-binary", opt.server_binary, "The kitsync-server program")
      ->capture_default_str();

  // Helper roles: this program re-executed as a child process.
  SyncClientOptions client;
  CLI::App* sync_client = app.add_subcommand("sync-client", "")->group("");
  sync_client->add_option("--tablet", client.tablet)->required();
  sync_client->add_option("--address", client.address)->required();
  sync_client->add_option("--token-file", client.token_file)->required();
  sync_client->add_option("--result", client.result)->required();
  sync_client->add_option("--batch-size", client.batch_size);
  sync_client->add_option("--in-flight", client.in_flight);

  std::string sink_db;
  std::string sink_port_file;
  CLI::App* ideal_server = app.add_subcommand("ideal-server", "")->group("");
  ideal_server->add_option("--db", sink_db)->required();
  ideal_server->add_option("--port-file", sink_port_file)->required();

  IdealClientOptions ideal;
  CLI::App* ideal_client = app.add_subcommand("ideal-client", "")->group("");
  ideal_client->add_option("--tablet", ideal.tablet)->required();
  ideal_client->add_option("--address", ideal.address)->required();
  ideal_client->add_option("--result", ideal.result)->required();
  ideal_client->add_option("--first-seq", ideal.first_seq)->required();
  ideal_client->add_option("--last-seq", ideal.last_seq)->required();
  ideal_client->add_option("--batch", ideal.batch_size);
  ideal_client->add_option("--max-seconds", ideal.max_seconds);
  ideal_client->add_flag("--compress", ideal.compress);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (sync_client->parsed()) return SyncClientMain(client);
    if (ideal_server->parsed()) return IdealServerMain(sink_db, sink_port_file);
    if (ideal_client->parsed()) return IdealClientMain(ideal);
    return Run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kitsync_sync_bench: %s\n", e.what());
    return 1;
  }
}

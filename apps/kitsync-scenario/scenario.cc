#include "scenario.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "kitsync/core/store.h"
#include "kitsync/process/process.h"

namespace kitsync::scenario {
namespace {

using nlohmann::json;
using process::BackgroundProcess;
using process::ProcessResult;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kAdminName[] = "Dewi Anggraini (central office)";
constexpr auto kCommandTimeout = 120s;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the driver knows of one tablet while the scenario runs.
struct Tablet {
  const TabletPlan* plan = nullptr;
  int post_index = 0;
  std::string db;  // absolute path
  std::unique_ptr<BackgroundProcess> watch;
  std::set<std::string> recorded;  // handover IDs the tablet reported committed
  std::map<std::string, std::string> registered;   // document number -> beneficiary ID
  std::map<std::string, std::string> handed_to;    // document number -> handover ID
  std::string mistaken_handover;
};

// A tablet's state read straight from its database file, as its own store reads it.
struct TabletView {
  int64_t pending = -1;
  bool chain_ok = false;
  std::string chain_problem;
  core::FactsDigest digest;
  int64_t resolutions = 0;
  std::string error;
};

TabletView ReadTablet(const std::string& db, bool verify_chain) {
  TabletView view;
  auto store = core::Store::Open(db);
  if (!store.ok()) {
    view.error = store.status().ToString();
    return view;
  }
  auto status = (*store)->GetStatus(verify_chain);
  if (!status.ok()) {
    view.error = status.status().ToString();
    return view;
  }
  view.pending = status->pending;
  view.chain_ok = status->chain.ok;
  view.chain_problem = status->chain.problem;
  auto digest = (*store)->DigestFacts();
  if (!digest.ok()) {
    view.error = digest.status().ToString();
    return view;
  }
  view.digest = *digest;
  auto resolutions = (*store)->ListResolutions();
  if (!resolutions.ok()) {
    view.error = resolutions.status().ToString();
    return view;
  }
  view.resolutions = static_cast<int64_t>(resolutions->size());
  return view;
}

std::string DeviceOf(const std::string& db) {
  auto store = core::Store::Open(db);
  if (!store.ok()) return {};
  auto status = (*store)->GetStatus(/*verify_chain=*/false);
  return status.ok() ? status->identity.device_id : std::string();
}

int64_t PendingOf(const std::string& db) {
  auto store = core::Store::Open(db);
  if (!store.ok()) return -1;
  auto status = (*store)->GetStatus(/*verify_chain=*/false);
  return status.ok() ? status->pending : -1;
}

// Handover ID -> voided, as the tablet at `db` holds them.
std::map<std::string, bool> HandoversOn(const std::string& db, std::string& error) {
  std::map<std::string, bool> out;
  auto store = core::Store::Open(db);
  if (!store.ok()) {
    error = store.status().ToString();
    return out;
  }
  core::HandoverFilter all;
  all.limit = 10'000'000;
  auto list = (*store)->ListHandovers(all);
  if (!list.ok()) {
    error = list.status().ToString();
    return out;
  }
  for (const core::HandoverView& h : *list) {
    if (!out.emplace(h.handover.id, h.void_record.has_value()).second) {
      error = "handover " + h.handover.id + " is listed twice";
    }
  }
  return out;
}

class Scenario {
 public:
  Scenario(const Plan& plan, const RunOptions& options) : plan_(plan), options_(options) {}

  int Run() {
    start_ = Clock::now();
    if (!Prepare()) return 2;
    const bool done = StartServer() && LoadCentralData() && EnrolTablets() &&
                      RegisterBeforeTheDay() && OfflineDay() && Afternoon() &&
                      CentreCorrects() && Reconnect() && WaitForUploads() && ResolveConflicts() &&
                      WaitForConvergence();
    if (done) CheckFinalState();
    StopTablets();
    Summary();
    return broken_.empty() ? 0 : 1;
  }

 private:
  // --- output ----------------------------------------------------------------------------------

  void Say(const std::string& text) {
    const double s = std::chrono::duration<double>(Clock::now() - start_).count();
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "[%6.1fs] ", s);
    std::cout << stamp << text << std::endl;
  }

  // Records a broken invariant; returns false so that a step can `return Broken(...)`.
  bool Broken(const std::string& invariant) {
    broken_.push_back(invariant);
    Say("BROKEN: " + invariant);
    return false;
  }

  bool Check(bool holds, const std::string& invariant) { return holds || Broken(invariant); }

  // --- programs --------------------------------------------------------------------------------

  std::string Bin(const std::string& name) const {
    return (std::filesystem::path(options_.bin_dir) / name / name).string();
  }

  ProcessResult Kitsync(const Tablet& tablet, std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", tablet.db});
    return process::RunProcess(Bin("kitsync"), args, runs_dir_, kCommandTimeout);
  }

  ProcessResult Admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_address_, "--token-file", token_file_});
    return process::RunProcess(Bin("kitsync-admin"), args, runs_dir_, kCommandTimeout);
  }

  // A command with --json that must succeed: its parsed output, or null after naming the failure.
  json MustJson(const std::string& what, const ProcessResult& run) {
    if (run.exit_code != 0) {
      Broken(what + " failed (exit " + std::to_string(run.exit_code) + "): " + Trim(run.err));
      return nullptr;
    }
    json doc = json::parse(run.out, nullptr, false);
    if (doc.is_discarded()) {
      Broken(what + " printed no JSON: " + run.out.substr(0, 200));
      return nullptr;
    }
    return doc;
  }

  json AdminJson(const std::string& what, std::vector<std::string> args) {
    return MustJson(what, Admin(std::move(args)));
  }

  // --- steps -----------------------------------------------------------------------------------

  bool Prepare() {
    std::error_code ec;
    std::filesystem::create_directories(options_.work_dir, ec);
    if (ec) {
      std::cerr << "Error: cannot create " << options_.work_dir << ": " << ec.message() << "\n";
      return false;
    }
    if (std::filesystem::exists(std::filesystem::path(options_.work_dir) / "central")) {
      std::cerr << "Error: " << options_.work_dir
                << " holds a previous run; give an empty or new --work-dir\n";
      return false;
    }
    for (const char* program : {"kitsync", "kitsync-server", "kitsync-admin"}) {
      if (!std::filesystem::exists(Bin(program))) {
        std::cerr << "Error: no " << program << " at " << Bin(program)
                  << " (build first, or point --bin-dir at the build's apps directory)\n";
        return false;
      }
    }
    runs_dir_ = File("runs");
    std::filesystem::create_directories(runs_dir_);
    for (size_t i = 0; i < plan_.tablets.size(); ++i) {
      Tablet t;
      t.plan = &plan_.tablets[i];
      t.post_index = static_cast<int>(i) / plan_.options.tablets_per_post;
      t.db = File(t.plan->file);
      tablets_.push_back(std::move(t));
    }
    Say("kitsync field scenario, seed " + std::to_string(plan_.options.seed) + ": " +
        std::to_string(plan_.posts.size()) + " posts, " + std::to_string(tablets_.size()) +
        " tablets, about " + std::to_string(plan_.options.handovers) + " handovers");
    Say("work dir: " + options_.work_dir);
    return true;
  }

  std::string File(const std::string& name) const {
    return (std::filesystem::path(options_.work_dir) / name).string();
  }

  bool StartServer() {
    const std::string data = File("central");
    const ProcessResult init = process::RunProcess(Bin("kitsync-server"), {"init", "--data", data},
                                                   runs_dir_, kCommandTimeout);
    if (init.exit_code != 0) return Broken("kitsync-server init failed: " + Trim(init.err));
    token_file_ = data + "/admin.token";
    const std::string port_file = File("server.port");
    server_ = BackgroundProcess::Start(
        Bin("kitsync-server"),
        {"serve", "--data", data, "--listen", "127.0.0.1:0", "--port-file", port_file},
        File("server.log"));
    if (!server_) return Broken("kitsync-server could not be started");
    const auto deadline = Clock::now() + 30s;
    while (!std::filesystem::exists(port_file)) {
      if (server_->Exited()) return Broken("kitsync-server stopped at start; see server.log");
      if (Clock::now() > deadline) return Broken("kitsync-server wrote no port file in 30 s");
      std::this_thread::sleep_for(20ms);
    }
    int port = 0;
    std::ifstream(port_file) >> port;
    if (port <= 0) return Broken("kitsync-server's port file holds no port");
    server_address_ = "127.0.0.1:" + std::to_string(port);
    Say("central server up at " + server_address_ + " (data in central/, log in server.log)");

    const LinkProfile clean{1ms, 3ms, 0, 0.0, 0ms, 0.0};
    for (const PostPlan& post : plan_.posts) {
      auto proxy = FaultProxy::Start(server_address_, clean, plan_.options.seed + links_.size());
      if (!proxy.ok()) return Broken("the link of " + post.code + ": " + proxy.status().ToString());
      links_.push_back(std::move(proxy).value());
    }
    return true;
  }

  bool LoadCentralData() {
    const std::string master = File("master.json");
    std::ofstream(master) << plan_.master_json;
    const ProcessResult loaded = Admin({"master", "load", master});
    if (loaded.exit_code != 0) return Broken("master load failed: " + Trim(loaded.err));
    std::string posts;
    for (const PostPlan& p : plan_.posts) posts += (posts.empty() ? "" : ", ") + p.name;
    Say("master data loaded: round " + std::string(kRound) + " (one hygiene kit per "
        "beneficiary), kit types HYG-KIT and PPE-SET, posts " + posts);
    const ProcessResult received =
        Admin({"stock", "receive", "--post", kCentralPost, "--kit", kHygieneKit, "--quantity",
               std::to_string(plan_.options.kits), "--officer", kCentralOfficer, "--reference",
               "WB-HQ-2026-11-001"});
    if (received.exit_code != 0) return Broken("central receipt failed: " + Trim(received.err));
    std::string dispatched;
    for (const PostPlan& p : plan_.posts) {
      const ProcessResult sent =
          Admin({"stock", "dispatch", "--from", kCentralPost, "--to", p.code, "--kit", kHygieneKit,
                 "--quantity", std::to_string(p.dispatched), "--officer", kCentralOfficer,
                 "--reference", "WB-" + p.code + "-2026-11"});
      if (sent.exit_code != 0) return Broken("dispatch to " + p.code + ": " + Trim(sent.err));
      dispatched += (dispatched.empty() ? "" : ", ") + p.code + " " + std::to_string(p.dispatched);
    }
    Say("the centre received " + std::to_string(plan_.options.kits) +
        " hygiene kits and dispatched " + dispatched);
    return true;
  }

  bool EnrolTablets() {
    for (Tablet& t : tablets_) {
      const ProcessResult code = Admin({"enrol-code", "--post", t.plan->post_code});
      if (code.exit_code != 0) return Broken("enrol-code for " + t.plan->name + ": " + code.err);
      const json enrolled = MustJson(
          "enrolling " + t.plan->name,
          Kitsync(t, {"enroll", "--server", links_[t.post_index]->address(), "--code",
                      Trim(code.out), "--device-name", t.plan->name, "--json"}));
      if (enrolled.is_null()) return false;
    }
    Say("enrolled " + std::to_string(tablets_.size()) + " tablets (" +
        std::to_string(plan_.options.tablets_per_post) +
        " per post); each pulled the master data and its post's dispatch");
    return true;
  }

  // The family whose record is corrected twice is known to the server before the day.
  bool RegisterBeforeTheDay() {
    const CorrectionPlan& c = plan_.correction;
    Tablet& t = tablets_[c.tablet_index];
    const json person = MustJson(
        "registering " + c.name,
        Kitsync(t, {"register", "--doc-number", c.doc_number, "--name", c.name, "--phone",
                    "+62 800 0000 0000", "--json"}));
    if (person.is_null()) return false;
    correction_beneficiary_ = person.value("/beneficiary/id"_json_pointer, std::string());
    const json synced = MustJson("first sync of " + t.plan->name, Kitsync(t, {"sync", "--json"}));
    if (synced.is_null()) return false;
    if (!Check(synced.value("pending", -1) == 0, t.plan->name + " still had changes to send "
                                                 "after its sync before the day")) {
      return false;
    }
    Say(c.name + " registered at " + c.post_code + " and synced while the link was up");
    return true;
  }

  bool OfflineDay() {
    for (auto& link : links_) link->SetUp(false);
    Say("all links down: every post works offline");
    for (Tablet& t : tablets_) StartWatch(t);
    Say("each tablet runs 'kitsync sync --watch': it retries by itself, backing off");

    std::vector<std::unique_ptr<BackgroundProcess>> batches;
    int64_t total_lines = 0;
    for (Tablet& t : tablets_) {
      const std::string input = t.db + ".day.jsonl";
      std::ofstream in(input);
      for (const DayLine& line : t.plan->day) {
        std::vector<std::string> args = line.args;
        for (std::string& a : args) {
          if (a == "{correction-beneficiary}") a = correction_beneficiary_;
        }
        in << json(args).dump() << "\n";
        ++total_lines;
      }
      in.close();
      auto batch = BackgroundProcess::Start(Bin("kitsync"), {"--db", t.db, "batch"},
                                            t.db + ".day.out", input);
      if (!batch) return Broken("kitsync batch could not be started for " + t.plan->name);
      batches.push_back(std::move(batch));
    }
    Say("recording the day offline: " + std::to_string(total_lines) +
        " commands on " + std::to_string(tablets_.size()) + " tablets at once");
    const auto deadline = Clock::now() + options_.step_timeout;
    auto last_report = Clock::now();
    while (true) {
      bool all_done = true;
      for (auto& b : batches) all_done = b->Exited() && all_done;
      if (all_done) break;
      if (Clock::now() > deadline) return Broken("the offline day did not finish in time");
      if (Clock::now() - last_report > 3s) {
        int64_t done = 0;
        for (const Tablet& t : tablets_) done += CountLines(t.db + ".day.out");
        Say("  " + std::to_string(done) + " of " + std::to_string(total_lines) + " commands done");
        last_report = Clock::now();
      }
      std::this_thread::sleep_for(50ms);
    }
    int64_t handovers = 0;
    for (size_t i = 0; i < tablets_.size(); ++i) {
      if (!CheckDay(tablets_[i], batches[i]->exit_code())) return false;
      handovers += static_cast<int64_t>(tablets_[i].recorded.size());
    }
    Say("day recorded: " + std::to_string(handovers) + " handovers, " +
        std::to_string(plan_.overrides) + " of them at " + plan_.short_post +
        " past the stock warning with a supervisor's reason");
    return true;
  }

  static int64_t CountLines(const std::string& path) {
    std::ifstream in(path);
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  }

  // Every line answered, each as planned; the handovers it reported are noted.
  bool CheckDay(Tablet& t, int batch_exit) {
    const std::string out = Slurp(t.db + ".day.out");
    std::istringstream lines(out);
    std::string text;
    size_t index = 0;
    while (std::getline(lines, text)) {
      const json result = json::parse(text, nullptr, false);
      if (result.is_discarded() || !result.is_object()) {
        return Broken(t.plan->name + ": the batch printed a line that is not a result: " + text);
      }
      if (index >= t.plan->day.size()) return Broken(t.plan->name + ": more results than lines");
      const DayLine& line = t.plan->day[index++];
      const int expected = line.expect == DayLine::Expect::kNeedsOverride ? 3 : 0;
      const int got = result.value("exit_code", -1);
      if (got != expected) {
        return Broken(t.plan->name + " line " + std::to_string(index) + " (" + line.args[0] +
                      ") exited " + std::to_string(got) + ", expected " +
                      std::to_string(expected) + ": " + result.value("error", ""));
      }
      if (line.is_handover) {
        const std::string id =
            result.value("/result/handover/id"_json_pointer, std::string());
        if (id.empty()) return Broken(t.plan->name + ": a recorded handover has no ID");
        if (!t.recorded.insert(id).second) return Broken(t.plan->name + ": handover ID twice");
        if (line.mistaken) t.mistaken_handover = id;
        t.handed_to[line.args[4]] = id;  // record --round R --doc-number DOC ...
      }
      if (line.args[0] == "register") {
        t.registered[line.args[2]] =
            result.value("/result/beneficiary/id"_json_pointer, std::string());
      }
    }
    if (index != t.plan->day.size()) {
      return Broken(t.plan->name + ": the batch answered " + std::to_string(index) + " of " +
                    std::to_string(t.plan->day.size()) + " lines (exit " +
                    std::to_string(batch_exit) + ")");
    }
    return true;
  }

  // The kit recorded under the wrong family is voided, and recorded for the right one.
  bool Afternoon() {
    for (Tablet& t : tablets_) {
      if (t.mistaken_handover.empty()) continue;
      const DayLine* mistaken = nullptr;
      for (const DayLine& line : t.plan->day) {
        if (line.mistaken) mistaken = &line;
      }
      const std::string supervisor = t.plan->post_code + "-SV-01";
      const json voided = MustJson(
          "voiding the mistaken handover on " + t.plan->name,
          Kitsync(t, {"void", t.mistaken_handover, "--reason", "recorded under the wrong family",
                      "--officer", supervisor, "--json"}));
      if (voided.is_null()) return false;
      const json again = MustJson(
          "recording the kit for the right family on " + t.plan->name,
          Kitsync(t, {"record", "--round", kRound, "--doc-number", mistaken->meant_for, "--kit",
                      kHygieneKit, "--officer", t.plan->officer, "--proof",
                      "signature:sig-" + mistaken->meant_for, "--consent", "--json"}));
      if (again.is_null()) return false;
      const std::string id = again.value("/handover/id"_json_pointer, std::string());
      if (id.empty()) return Broken("the corrected handover has no ID");
      t.recorded.insert(id);
      voided_.insert(t.mistaken_handover);
      Say("afternoon at " + t.plan->post_code + ": a kit recorded under the wrong family is "
          "voided and recorded again for the right one");
    }
    return true;
  }

  bool CentreCorrects() {
    const CorrectionPlan& c = plan_.correction;
    const ProcessResult fixed =
        Admin({"beneficiary", "correct", correction_beneficiary_, "--phone", c.phone_at_centre,
               "--officer", kCentralOfficer, "--by", kAdminName});
    if (fixed.exit_code != 0) return Broken("the centre's correction failed: " + Trim(fixed.err));
    Say("meanwhile the centre corrects " + c.name + "'s phone to " + c.phone_at_centre +
        "; " + c.post_code + " corrected it offline to " + c.phone_at_post);
    return true;
  }

  void StartWatch(Tablet& t) {
    t.watch = BackgroundProcess::Start(
        Bin("kitsync"),
        {"--db", t.db, "sync", "--watch", "--interval", "1", "--max-backoff", "2", "--batch", "20"},
        t.db + ".sync.log");
  }

  void StopTablets() {
    for (Tablet& t : tablets_) {
      if (t.watch) t.watch->Stop();
    }
  }

  bool Reconnect() {
    std::string order;
    for (int p : plan_.reconnect_order) order += (order.empty() ? "" : ", ") + plan_.posts[p].code;
    const LinkProfile& l = options_.degraded;
    char profile[200];
    std::snprintf(profile, sizeof profile,
                  "%lld-%lld ms each way, %lld KiB/s, %.1f%% of chunks stalled %lld ms, %.2f%% "
                  "cut",
                  static_cast<long long>(l.min_latency.count()),
                  static_cast<long long>(l.max_latency.count()),
                  static_cast<long long>(l.bytes_per_second / 1024), l.stall_probability * 100,
                  static_cast<long long>(l.stall.count()), l.cut_probability * 100);
    Say("links come back in the order " + order + ", degraded: " + profile);
    for (size_t k = 0; k < plan_.reconnect_order.size(); ++k) {
      const int p = plan_.reconnect_order[k];
      links_[p]->SetProfile(options_.degraded);
      links_[p]->SetUp(true);
      Say("link up at " + plan_.posts[p].name);
      if (k == 0 && !KillMidSync(tablets_[plan_.kill_tablet])) return false;
      if (k + 1 < plan_.reconnect_order.size()) std::this_thread::sleep_for(options_.reconnect_gap);
    }
    return true;
  }

  // SIGKILL the tablet's sync while part of its backlog is acknowledged and part is not.
  bool KillMidSync(Tablet& t) {
    const int64_t backlog = PendingOf(t.db);
    const auto deadline = Clock::now() + 60s;
    int64_t pending = backlog;
    while (Clock::now() < deadline) {
      pending = PendingOf(t.db);
      if (pending > 0 && pending < backlog) break;
      if (pending <= 0) break;  // sent already, or the file cannot be read: kill now
      std::this_thread::sleep_for(10ms);
    }
    t.watch->Kill();
    const int64_t after = PendingOf(t.db);
    if (pending > 0 && pending < backlog) {
      killed_mid_sync_ = true;
      Say("SIGKILL " + t.plan->name + "'s sync in the middle: " + std::to_string(backlog - after) +
          " of " + std::to_string(backlog) + " changes acknowledged, " + std::to_string(after) +
          " still waiting");
    } else {
      Say("SIGKILL " + t.plan->name + "'s sync, but it had " +
          (pending == 0 ? std::string("already sent everything") : "not started sending") +
          " (" + std::to_string(after) + " of " + std::to_string(backlog) + " waiting)");
    }
    std::this_thread::sleep_for(200ms);
    StartWatch(t);
    Say("  " + t.plan->name + "'s sync restarted");
    return true;
  }

  bool WaitForUploads() {
    const auto deadline = Clock::now() + options_.step_timeout;
    auto last_report = Clock::now();
    while (true) {
      int64_t waiting = 0;
      int busy = 0;
      for (const Tablet& t : tablets_) {
        const int64_t pending = PendingOf(t.db);
        if (pending != 0) ++busy;
        waiting += std::max<int64_t>(pending, 0);
      }
      if (busy == 0) break;
      if (Clock::now() > deadline) {
        return Broken(std::to_string(busy) + " tablets still had " + std::to_string(waiting) +
                      " changes to send when the time ran out");
      }
      if (Clock::now() - last_report > 3s) {
        Say("  uploading: " + std::to_string(waiting) + " changes waiting on " +
            std::to_string(busy) + " tablets");
        last_report = Clock::now();
      }
      std::this_thread::sleep_for(100ms);
    }
    int64_t cuts = 0;
    int64_t stalls = 0;
    int64_t up = 0;
    for (const auto& link : links_) {
      const ProxyCounters c = link->Counters();
      cuts += c.cuts;
      stalls += c.stalls;
      up += c.bytes_to_target;
    }
    Say("every tablet has sent everything; on the links so far: " + std::to_string(cuts) +
        " connections cut, " + std::to_string(stalls) + " stalls, " + std::to_string(up / 1024) +
        " KiB sent to the server");
    return true;
  }

  // The conflicts of `kind` in a `conflicts list --json` answer.
  static std::vector<json> OfKind(const json& list, const std::string& kind) {
    std::vector<json> out;
    for (const json& c : list) {
      if (c.value("kind", "") == kind) out.push_back(c);
    }
    return out;
  }

  bool ResolveConflicts() {
    const json open = AdminJson("conflicts list", {"conflicts", "list", "--json"});
    if (open.is_null()) return false;
    const ProcessResult table = Admin({"conflicts", "list"});
    Say("the office lists the conflicts:\n" + table.out);
    const int families = static_cast<int>(plan_.two_post_docs.size());
    const std::map<std::string, size_t> expected = {{"entitlement-exceeded", families},
                                                    {"duplicate-beneficiary", families + 1},
                                                    {"stock-deficit", 1},
                                                    {"concurrent-update", 1}};
    size_t total = 0;
    for (const auto& [kind, count] : expected) {
      const size_t listed = OfKind(open, kind).size();
      Check(listed == count, "the server lists " + std::to_string(listed) + " " + kind +
                                 " conflicts; the day produced " + std::to_string(count));
      total += count;
    }
    Check(open.size() == total, "the server lists " + std::to_string(open.size()) +
                                    " conflicts in all; the day produced " +
                                    std::to_string(total));
    if (!broken_.empty()) return false;

    int decided = 0;
    const auto excess = OfKind(open, "entitlement-exceeded");
    for (size_t i = 0; i < excess.size(); ++i) {
      const json& c = excess[i];
      if (i % 2 == 0) {
        decided += Resolve(c, {"--action", "justify", "--note",
                               "family crossed twice this month; second kit approved"});
      } else {
        // The later post's handover is voided: the family was already served.
        const json& side = c["sides"].back();
        const std::string post = side.value("post", "");
        decided += Resolve(c, {"--action", "void", "--handover", side.value("id", ""),
                               "--officer", post + "-SV-01", "--note",
                               "already served at another post this round"});
        voided_.insert(side.value("id", ""));
      }
    }
    // The family registered at both counters of one post is one family: the office merges the
    // registration that was served into the other, and the handover follows. The families
    // registered at two posts keep both registrations, linked.
    const std::string served_twice = tablets_[0].registered[plan_.duplicate_doc];
    merged_keep_ = tablets_[1].registered[plan_.duplicate_doc];
    int merged = 0;
    for (const json& c : OfKind(open, "duplicate-beneficiary")) {
      std::set<std::string> ids;
      for (const json& side : c["sides"]) ids.insert(side.value("id", ""));
      if (ids == std::set<std::string>{served_twice, merged_keep_}) {
        merged += Resolve(c, {"--action", "merge", "--keep", merged_keep_, "--note",
                              "one family registered at both counters on a busy morning"});
      } else {
        decided += Resolve(c, {"--action", "keep-both", "--note",
                               "registered at two posts; both records kept, linked"});
      }
    }
    if (!Check(merged == 1, "the duplicate registration at " + plan_.posts[0].code +
                                " was not among the conflicts to merge")) {
      return false;
    }
    decided += merged;
    const int64_t deficit = ExpectedDeficit();
    for (const json& c : OfKind(open, "stock-deficit")) {
      if (!CheckShortPostBalance(-deficit)) return false;
      decided += Resolve(c, {"--action", "adjustment", "--quantity", std::to_string(deficit),
                             "--officer", plan_.short_post + "-SV-01", "--note",
                             "count found an undocumented carton from the last delivery"});
    }
    for (const json& c : OfKind(open, "concurrent-update")) {
      // The post's correction is the one its tablet made.
      const std::string device = DeviceOf(tablets_[plan_.correction.tablet_index].db);
      std::string post_side;
      for (const json& side : c["sides"]) {
        if (side.value("entity", "") == "correction" && side.value("device_id", "") == device) {
          post_side = side.value("id", "");
        }
      }
      if (!Check(!post_side.empty(), "the concurrent-update conflict has no side from " +
                                         plan_.correction.post_code)) {
        return false;
      }
      decided += Resolve(c, {"--action", "pick", "--correction", post_side, "--officer",
                             kCentralOfficer, "--note", "the family confirmed the post's number"});
    }
    if (decided != static_cast<int>(total)) return false;
    const json still_open =
        AdminJson("conflicts list --status open", {"conflicts", "list", "--status", "open", "--json"});
    if (still_open.is_null()) return false;
    if (!Check(still_open.empty(), std::to_string(still_open.size()) +
                                       " conflicts are still open after every decision")) {
      return false;
    }
    Say("the office resolved all " + std::to_string(decided) + " conflicts: " +
        std::to_string((excess.size() + 1) / 2) + " extra kits justified, " +
        std::to_string(excess.size() / 2) + " voided, " + std::to_string(families) +
        " double registrations at two posts kept and linked, one at " + plan_.posts[0].code +
        " merged, " + plan_.short_post +
        "'s deficit of " + std::to_string(deficit) +
        " settled by an adjustment, the post's phone number picked");
    return true;
  }

  // 1 when the decision was accepted.
  int Resolve(const json& conflict, std::vector<std::string> args) {
    const std::string id = conflict.value("id", "");
    args.insert(args.begin(), {"conflicts", "resolve", id});
    args.insert(args.end(), {"--by", kAdminName, "--json"});
    const json done = AdminJson("resolving " + conflict.value("kind", "") + " " + id, args);
    if (done.is_null()) return 0;
    if (!Check(done.value("status", "") == "resolved",
               "conflict " + id + " is " + done.value("status", "") + " after its decision")) {
      return 0;
    }
    for (const std::string& post : conflict.value("posts", std::vector<std::string>{})) {
      ++decisions_for_[post];
    }
    return 1;
  }

  // Kits the short post handed out (not voided, by the post or the office) beyond its dispatch.
  int64_t ExpectedDeficit() const {
    int64_t handed = 0;
    int64_t dispatched = 0;
    for (const Tablet& t : tablets_) {
      if (t.plan->post_code != plan_.short_post) continue;
      for (const std::string& id : t.recorded) handed += voided_.count(id) == 0 ? 1 : 0;
    }
    for (const PostPlan& p : plan_.posts) {
      if (p.code == plan_.short_post) dispatched = p.dispatched;
    }
    return handed - dispatched;
  }

  bool CheckShortPostBalance(int64_t expected) {
    const json stock = AdminJson("report stock", {"report", "stock", "--post", plan_.short_post,
                                                  "--kit", kHygieneKit, "--format", "json"});
    if (stock.is_null()) return false;
    const json rows = stock.value("rows", json::array());
    const int64_t balance = rows.empty() ? 0 : rows[0].value("balance", int64_t{0});
    return Check(balance == expected, "the server's balance at " + plan_.short_post + " is " +
                                          std::to_string(balance) + "; the tablets recorded " +
                                          std::to_string(expected) + " (" + rows.dump() + ")");
  }

  // Each post's view on the server, as a tablet enrolled now and synced once holds it.
  bool EnrolObservers() {
    for (const PostPlan& post : plan_.posts) {
      const ProcessResult code = Admin({"enrol-code", "--post", post.code});
      if (code.exit_code != 0) return Broken("enrol-code for the check of " + post.code);
      Tablet observer;
      observer.db = File("check-" + post.code + ".db");
      const json enrolled = MustJson(
          "enrolling a check tablet at " + post.code,
          Kitsync(observer, {"enroll", "--server", server_address_, "--code", Trim(code.out),
                             "--device-name", post.code + " check", "--json"}));
      if (enrolled.is_null()) return false;
      observers_.push_back(observer.db);
    }
    return true;
  }

  bool WaitForConvergence() {
    if (!EnrolObservers()) return false;
    std::vector<TabletView> truth;
    for (const std::string& db : observers_) {
      truth.push_back(ReadTablet(db, false));
      if (!truth.back().error.empty()) return Broken("reading " + db + ": " + truth.back().error);
    }
    Say("a fresh tablet per post pulled what the server holds for it; waiting for the field "
        "tablets to pull the decisions and match it");
    const auto deadline = Clock::now() + options_.step_timeout;
    auto last_report = Clock::now();
    while (true) {
      int matching = 0;
      for (const Tablet& t : tablets_) {
        const TabletView v = ReadTablet(t.db, false);
        const TabletView& want = truth[t.post_index];
        if (v.error.empty() && v.pending == 0 && v.digest.sha256_hex == want.digest.sha256_hex &&
            v.resolutions == want.resolutions) {
          ++matching;
        }
      }
      if (matching == static_cast<int>(tablets_.size())) break;
      if (Clock::now() > deadline) {
        return Broken(std::to_string(tablets_.size() - matching) +
                      " tablets never came to hold what the server holds for their post");
      }
      if (Clock::now() - last_report > 3s) {
        Say("  " + std::to_string(matching) + " of " + std::to_string(tablets_.size()) +
            " tablets match the server");
        last_report = Clock::now();
      }
      std::this_thread::sleep_for(200ms);
    }
    Say("every tablet holds exactly what the server holds for its post");
    return true;
  }

  void CheckFinalState() {
    // Per post: the handovers the officers recorded are the server's, once each; the voided
    // ones are the mistaken one and the office's.
    int64_t handed_out = 0;
    for (size_t p = 0; p < plan_.posts.size(); ++p) {
      const std::string& code = plan_.posts[p].code;
      std::string error;
      const std::map<std::string, bool> on_server = HandoversOn(observers_[p], error);
      if (!error.empty()) {
        Broken(code + ": " + error);
        continue;
      }
      std::set<std::string> recorded;
      for (const Tablet& t : tablets_) {
        if (t.plan->post_code == code) recorded.insert(t.recorded.begin(), t.recorded.end());
      }
      int64_t missing = 0;
      for (const std::string& id : recorded) missing += on_server.count(id) == 0;
      int64_t unknown = 0;
      for (const auto& [id, voided] : on_server) {
        unknown += recorded.count(id) == 0;
        Check(voided == (voided_.count(id) == 1),
              code + ": handover " + id + (voided ? " is voided" : " is not voided") +
                  " at the server, against what the post and the office decided");
        handed_out += voided ? 0 : 1;
      }
      Check(missing == 0, code + ": " + std::to_string(missing) +
                              " handovers recorded on its tablets are not at the server");
      Check(unknown == 0, code + ": the server holds " + std::to_string(unknown) +
                              " handovers that no tablet of the post recorded");
      for (const Tablet& t : tablets_) {
        if (t.plan->post_code != code) continue;
        const TabletView v = ReadTablet(t.db, /*verify_chain=*/true);
        Check(v.error.empty() && v.chain_ok,
              t.plan->name + ": its change log does not verify: " + v.error + v.chain_problem);
        Check(v.resolutions == decisions_for_[code],
              t.plan->name + " holds " + std::to_string(v.resolutions) +
                  " of the office's decisions; " + std::to_string(decisions_for_[code]) +
                  " concern " + code);
      }
    }
    CheckCorrectionOutcome();
    CheckMergeOutcome();
    PrintTablets();
    CheckReconciliation(handed_out);
  }

  // What each tablet holds next to what the server holds for its post.
  void PrintTablets() {
    std::ostringstream table;
    char row[200];
    std::snprintf(row, sizeof row, "%-14s %10s %8s %10s %-14s %s\n", "TABLET", "RECORDED",
                  "FACTS", "DECISIONS", "DIGEST", "SERVER'S VIEW OF THE POST");
    table << row;
    for (const Tablet& t : tablets_) {
      const TabletView v = ReadTablet(t.db, /*verify_chain=*/false);
      const TabletView server = ReadTablet(observers_[t.post_index], false);
      const bool same = v.error.empty() && v.digest.sha256_hex == server.digest.sha256_hex &&
                        v.resolutions == server.resolutions;
      std::snprintf(row, sizeof row, "%-14s %10zu %8lld %10lld %-14s %s\n", t.plan->name.c_str(),
                    t.recorded.size(), static_cast<long long>(v.digest.facts),
                    static_cast<long long>(v.resolutions), v.digest.sha256_hex.substr(0, 12).c_str(),
                    same ? "equal" : "DIFFERENT");
      table << row;
      Check(same, t.plan->name + " differs from the server's view of " + t.plan->post_code);
    }
    Say("each tablet against the server (facts digest of beneficiaries, handovers, voids, stock "
        "movements and corrections; decisions received):\n" + table.str());
  }

  // The merged family's kit is listed under the registration the office kept, on every tablet
  // of the post.
  void CheckMergeOutcome() {
    const std::string handover = tablets_[0].handed_to[plan_.duplicate_doc];
    for (const Tablet& t : tablets_) {
      if (t.post_index != 0) continue;
      auto store = core::Store::Open(t.db);
      if (!store.ok()) {
        Broken(t.plan->name + ": " + store.status().ToString());
        continue;
      }
      core::HandoverFilter of_kept;
      of_kept.beneficiary_id = merged_keep_;
      auto listed = (*store)->ListHandovers(of_kept);
      const bool found =
          listed.ok() && listed->size() == 1 && listed->front().handover.id == handover &&
          listed->front().merged_into == merged_keep_;
      Check(found, t.plan->name + " does not list the merged family's handover " + handover +
                       " under the kept registration " + merged_keep_);
    }
  }

  void CheckCorrectionOutcome() {
    for (const Tablet& t : tablets_) {
      if (t.plan->post_code != plan_.correction.post_code) continue;
      auto store = core::Store::Open(t.db);
      if (!store.ok()) {
        Broken(t.plan->name + ": " + store.status().ToString());
        continue;
      }
      auto person = (*store)->GetBeneficiary(correction_beneficiary_);
      Check(person.ok() && person->phone == plan_.correction.phone_at_post,
            t.plan->name + " shows phone '" + (person.ok() ? person->phone : std::string("?")) +
                "' for " + plan_.correction.name + "; the office picked '" +
                plan_.correction.phone_at_post + "'");
    }
  }

  void CheckReconciliation(int64_t handed_out) {
    const ProcessResult table = Admin({"report", "reconcile", "--kit", kHygieneKit});
    const ProcessResult run =
        Admin({"report", "reconcile", "--kit", kHygieneKit, "--format", "json"});
    Check(run.exit_code == 0, "the reconciliation does not balance (exit " +
                                  std::to_string(run.exit_code) + ")");
    const json doc = json::parse(run.out, nullptr, false);
    if (doc.is_discarded()) {
      Broken("the reconciliation printed no JSON: " + Trim(run.err));
      return;
    }
    Check(doc.value("balanced", false), "the server says the reconciliation is not balanced");
    const json* central = nullptr;
    for (const json& line : doc["lines"]) {
      if (line.value("scope", "") == "central") central = &line;
    }
    if (central == nullptr) {
      Broken("the reconciliation has no central line");
      return;
    }
    const int64_t received = central->value("received", int64_t{-1});
    const int64_t out = central->value("handed_out", int64_t{-1});
    const int64_t in_stock = central->value("in_stock", int64_t{-1});
    const int64_t adjusted = central->value("adjusted", int64_t{0});
    const int64_t transferred = central->value("transferred", int64_t{0});
    Check(received == plan_.options.kits,
          "centrally " + std::to_string(received) + " kits received; the centre received " +
              std::to_string(plan_.options.kits));
    Check(out == handed_out, "centrally " + std::to_string(out) +
                                 " kits handed out; the posts' ledgers hold " +
                                 std::to_string(handed_out) + " handovers not voided");
    Check(adjusted == -ExpectedDeficit(),
          "centrally " + std::to_string(adjusted) + " adjusted; the office adjusted by " +
              std::to_string(ExpectedDeficit()));
    Check(received == out + in_stock + transferred + adjusted,
          "received " + std::to_string(received) + " != handed out + in stock + transferred + "
          "adjusted");
    Say("reconciliation by the server (kitsync-admin report reconcile):\n" + table.out);
    Say("RECONCILED: " + std::to_string(received) + " received = " + std::to_string(out) +
        " handed out + " + std::to_string(in_stock) + " in stock + " +
        std::to_string(adjusted) + " adjusted + " + std::to_string(transferred) +
        " transferred");
  }

  void Summary() {
    const double s = std::chrono::duration<double>(Clock::now() - start_).count();
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.1f s", s);
    if (!killed_mid_sync_ && broken_.empty()) {
      Say("note: the kill did not land in the middle of a sync this time");
    }
    if (broken_.empty()) {
      Say(std::string("OK in ") + elapsed +
          ": nothing lost, nothing duplicated, every conflict resolved, every tablet equal to "
          "the server, the stock reconciled exactly (seed " +
          std::to_string(plan_.options.seed) + ")");
      return;
    }
    Say("FAILED after " + std::string(elapsed) + ": " + std::to_string(broken_.size()) +
        " invariant(s) broken (replay with --seed " + std::to_string(plan_.options.seed) +
        "; logs in " + options_.work_dir + "):");
    for (const std::string& b : broken_) std::cout << "  - " << b << "\n";
  }

  const Plan& plan_;
  const RunOptions options_;
  Clock::time_point start_;
  std::string runs_dir_;
  std::string server_address_;
  std::string token_file_;
  std::unique_ptr<BackgroundProcess> server_;
  std::vector<std::unique_ptr<FaultProxy>> links_;  // one per post, in plan order
  std::vector<Tablet> tablets_;
  std::vector<std::string> observers_;  // per post, in plan order
  std::string correction_beneficiary_;
  std::string merged_keep_;  // the registration the office kept for the family registered twice
  std::set<std::string> voided_;
  std::map<std::string, int64_t> decisions_for_;
  bool killed_mid_sync_ = false;
  std::vector<std::string> broken_;
};

}  // namespace

int RunScenario(const Plan& plan, const RunOptions& options) {
  Scenario scenario(plan, options);
  return scenario.Run();
}

}  // namespace kitsync::scenario

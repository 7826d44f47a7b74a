// The real kitsync-server binary as a child process: init, clean shutdown on signals, and a
// SIGKILL while a push batch is being applied, after which the batch is either wholly there or
// not at all, and a re-push completes it exactly once.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "child_process.h"
#include "kitsync/sync/server_store.h"
#include "kitsync/sync/wire.h"
#include "kitsync/v1/admin.grpc.pb.h"
#include "kitsync/v1/enrollment.grpc.pb.h"
#include "kitsync/v1/sync.grpc.pb.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kServer[] = KITSYNC_SERVER_BIN;
constexpr char kAdmin[] = KITSYNC_ADMIN_BIN;

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 30s);
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

bool ExitedWith(const std::optional<int>& status, int code) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

class ServerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.File("data");
    log_ = dir_.File("server.log");
    RunResult init = RunToCompletion(kServer, {"init", "--data", data_}, 60s);
    ASSERT_TRUE(ExitedWith(init.status, 0)) << init.output;
    std::string token = ReadFileBytes(data_ + "/admin.token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    ASSERT_FALSE(token.empty());
    admin_token_ = token;
    init_output_ = init.output;
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "--- server log ---\n" << ReadFileBytes(log_) << "---\n";
  }

  // Starts `serve` on 127.0.0.1 port 0 and connects to the port it reports.
  void StartServer() {
    const std::string port_file = dir_.File("port-" + std::to_string(++starts_));
    std::string error;
    server_ = ChildProcess::Spawn(
        kServer, {"serve", "--data", data_, "--listen", "127.0.0.1:0", "--port-file", port_file},
        log_, &error);
    ASSERT_NE(server_, nullptr) << error;
    int port = 0;
    for (int i = 0; i < 600 && port == 0; ++i) {
      const std::string text = ReadFileBytes(port_file);
      if (!text.empty()) {
        port = std::stoi(text);
        break;
      }
      ASSERT_FALSE(server_->Wait(0ms).has_value()) << "the server exited before listening";
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_GT(port, 0) << "no port file after 60 s";
    address_ = "127.0.0.1:" + std::to_string(port);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    sync_ = v1::Sync::NewStub(channel);
    admin_ = v1::Admin::NewStub(channel);
    enrollment_ = v1::Enrollment::NewStub(channel);
  }

  // With `hang_up` the test's connection is closed first. A connection left open makes a
  // graceful shutdown wait out its grace period: nothing in this process polls the idle channel,
  // so it never answers the server's GOAWAY.
  void StopServer(int signal, bool hang_up = true) {
    if (hang_up) {
      sync_.reset();
      admin_.reset();
      enrollment_.reset();
    }
    server_->Signal(signal);
    auto status = server_->Wait(30s);
    if (signal == SIGKILL) {
      ASSERT_TRUE(status && WIFSIGNALED(*status)) << "SIGKILL did not end the server";
    } else {
      EXPECT_TRUE(ExitedWith(status, 0)) << "status " << (status ? *status : -1);
    }
    server_.reset();
  }

  // Loads the test master data and enrols a tablet at ENT with a ledger in the temp dir.
  Tablet EnrolTablet() {
    Tablet t;
    v1::LoadMasterDataResponse loaded;
    grpc::Status s = admin_->LoadMasterData(Context(admin_token_).get(),
                                            MasterRequest(TestMasterData(), NowMs()), &loaded);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::CreateEnrollmentCodeRequest code_request;
    code_request.set_post_code("ENT");
    v1::CreateEnrollmentCodeResponse code;
    s = admin_->CreateEnrollmentCode(Context(admin_token_).get(), code_request, &code);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::EnrollRequest enrol;
    enrol.set_code(code.code());
    enrol.set_device_name("ENT tablet");
    v1::EnrollResponse enrolled;
    s = enrollment_->Enroll(Context("").get(), enrol, &enrolled);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) return t;
    t.device_id = *sync::UuidFromBytes(enrolled.device_id());
    t.post_code = "ENT";
    t.token = enrolled.device_token();
    t.db_path = dir_.File("tablet.db");
    core::StoreOptions options;
    options.durable = false;
    auto store = core::Store::Create(
        t.db_path, {"ENT", "ENT tablet", enrolled.programme_key(), t.device_id}, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return t;
    t.store = std::move(store).value();
    EXPECT_TRUE(t.store->ImportMasterData(TestMasterData()).ok());
    return t;
  }

  // One batch on one push stream; the ack, or the status the stream ended with.
  grpc::Status PushOne(const std::string& token, const v1::PushBatch& batch, v1::PushAck* ack,
                       bool* acked) {
    auto context = Context(token);
    auto stream = sync_->Push(context.get());
    *acked = stream->Write(batch) && stream->Read(ack);
    stream->WritesDone();
    return stream->Finish();
  }

  static int64_t NowMs() { return core::SystemWallClock()(); }

  TempDir dir_;
  std::string data_;
  std::string log_;
  std::string admin_token_;
  std::string init_output_;
  int starts_ = 0;
  std::string address_;  // of the running server
  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<v1::Sync::Stub> sync_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Enrollment::Stub> enrollment_;
};

TEST_F(ServerProcessTest, InitPrintsTheCredentialOnceAndRefusesASecondInit) {
  EXPECT_THAT(init_output_, HasSubstr(admin_token_));
  RunResult again = RunToCompletion(kServer, {"init", "--data", data_}, 60s);
  EXPECT_FALSE(ExitedWith(again.status, 0));
  EXPECT_THAT(again.output, ::testing::Not(HasSubstr("ksa_")));
  std::string token = ReadFileBytes(data_ + "/admin.token");
  EXPECT_EQ(token, admin_token_ + "\n");
}

TEST_F(ServerProcessTest, ANewAdminCredentialWorksAtOnceAndTheOldOneNoLonger) {
  StartServer();
  v1::ListDevicesResponse devices;
  ASSERT_TRUE(admin_->ListDevices(Context(admin_token_).get(), {}, &devices).ok());

  // While the server runs: the operator replaces the credential from the data directory.
  RunResult replaced = RunToCompletion(kServer, {"new-admin-token", "--data", data_}, 60s);
  ASSERT_TRUE(ExitedWith(replaced.status, 0)) << replaced.output;
  std::string token = ReadFileBytes(data_ + "/admin.token");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  ASSERT_EQ(token.rfind("ksa_", 0), 0u) << token;
  EXPECT_NE(token, admin_token_);
  EXPECT_THAT(replaced.output, HasSubstr(token));
  struct stat st {};
  ASSERT_EQ(::stat((data_ + "/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  grpc::Status old = admin_->ListDevices(Context(admin_token_).get(), {}, &devices);
  EXPECT_EQ(old.error_code(), grpc::StatusCode::UNAUTHENTICATED) << old.error_message();
  ASSERT_TRUE(admin_->ListDevices(Context(token).get(), {}, &devices).ok());
  v1::ListAuditResponse audit;
  ASSERT_TRUE(admin_->ListAudit(Context(token).get(), {}, &audit).ok());
  ASSERT_GE(audit.entries_size(), 1);
  EXPECT_EQ(audit.entries(audit.entries_size() - 1).action(), "new-admin-token");

  // Nothing to replace where there is no server.
  RunResult nowhere =
      RunToCompletion(kServer, {"new-admin-token", "--data", data_ + "/no-such-dir"}, 60s);
  EXPECT_TRUE(ExitedWith(nowhere.status, 1)) << nowhere.output;
  EXPECT_THAT(nowhere.output, ::testing::Not(HasSubstr("ksa_")));
  EXPECT_FALSE(std::filesystem::exists(data_ + "/no-such-dir"));
}

TEST_F(ServerProcessTest, SigtermAndSigintShutDownCleanly) {
  for (int signal : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(signal == SIGTERM ? "SIGTERM" : "SIGINT");
    StartServer();
    v1::ListDevicesResponse devices;
    grpc::Status s = admin_->ListDevices(Context(admin_token_).get(), {}, &devices);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // SIGTERM with a client still connected: the server still stops (within its grace period).
    StopServer(signal, /*hang_up=*/signal == SIGINT);
  }
  EXPECT_THAT(ReadFileBytes(log_), HasSubstr("event=stopped"));
  // The database was closed cleanly and opens again.
  auto store = sync::OpenSqliteServerStore(data_);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
}

// The push's slowest stage allocates a lot; the server is built to do it through jemalloc, and a
// build or a start that lost it would only show as a slower server.
TEST_F(ServerProcessTest, ServesItsAllocationsThroughJemalloc) {
  StartServer();
  StopServer(SIGTERM);
  EXPECT_THAT(ReadFileBytes(log_),
              ::testing::ContainsRegex("event=listening .* allocator=jemalloc-[0-9]"));
}

TEST_F(ServerProcessTest, RefusesPlaintextOffLoopback) {
  RunResult refused =
      RunToCompletion(kServer, {"serve", "--data", data_, "--listen", "0.0.0.0:0"}, 60s);
  EXPECT_TRUE(ExitedWith(refused.status, 1));
}

// Runs kitsync-admin against the running server with the admin credential.
RunResult Admin(const std::string& address, const std::string& token_file,
                std::vector<std::string> args) {
  std::vector<std::string> all = {"--server", address,     "--token-file",
                                  token_file, "--timeout", "30"};
  all.insert(all.end(), args.begin(), args.end());
  return RunToCompletion(kAdmin, all, 60s);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST_F(ServerProcessTest, AdminCliEnrolsListsRevokesLoadsMasterDataAndMovesStock) {
  StartServer();
  const std::string token_file = data_ + "/admin.token";
  // The server's master data, with its own IDs; the file below names records by code only.
  v1::LoadMasterDataResponse loaded;
  ASSERT_TRUE(admin_
                  ->LoadMasterData(Context(admin_token_).get(),
                                   MasterRequest(TestMasterData(), NowMs()), &loaded)
                  .ok());
  const std::string master_file = dir_.File("master.json");
  WriteFile(master_file, R"({
    "posts": [{"code": "ENT", "name": "Entikong crossing"}, {"code": "ATB", "name": "Atambua"}],
    "officers": [{"code": "ATB-OF-1", "name": "Officer Atambua", "post": "ATB",
                  "role": "officer"}]
  })");
  RunResult load = Admin(address_, token_file, {"master", "load", master_file});
  ASSERT_TRUE(ExitedWith(load.status, 0)) << load.output;
  EXPECT_THAT(load.output, HasSubstr("3 new or changed"));
  RunResult reload = Admin(address_, token_file, {"master", "load", master_file});
  ASSERT_TRUE(ExitedWith(reload.status, 0)) << reload.output;
  EXPECT_THAT(reload.output, HasSubstr("0 new or changed"));
  {
    RawDb db(sync::ServerDatabasePath(data_));
    EXPECT_EQ(db.QueryText("SELECT id FROM posts WHERE code = 'ENT'"), PostId("ENT"))
        << "a code the server knows keeps its ID";
    EXPECT_EQ(db.QueryText("SELECT name FROM posts WHERE code = 'ENT'"), "Entikong crossing");
    EXPECT_EQ(db.QueryInt("SELECT count(*) FROM officers o JOIN posts p ON p.id = o.post_id "
                          "WHERE o.code = 'ATB-OF-1' AND p.code = 'ATB'"),
              1);
  }

  RunResult code = Admin(address_, token_file, {"enrol-code", "--post", "ENT"});
  ASSERT_TRUE(ExitedWith(code.status, 0));
  const std::vector<std::string> code_lines = Lines(code.output);
  ASSERT_EQ(code_lines.size(), 1u) << code.output;
  v1::EnrollRequest enrol;
  enrol.set_code(code_lines[0]);
  enrol.set_device_name("ENT tablet");
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(enrollment_->Enroll(Context("").get(), enrol, &enrolled).ok());
  const std::string device_id = *sync::UuidFromBytes(enrolled.device_id());

  RunResult listed = Admin(address_, token_file, {"devices", "--json"});
  ASSERT_TRUE(ExitedWith(listed.status, 0)) << listed.output;
  nlohmann::json devices = nlohmann::json::parse(listed.output);
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0]["id"], device_id);
  EXPECT_EQ(devices[0]["post"], "ENT");
  EXPECT_EQ(devices[0]["revoked"], false);

  RunResult receive = Admin(address_, token_file,
                            {"stock", "receive", "--post", "HQ", "--kit", "HYG-KIT", "--quantity",
                             "100", "--officer", "HQ-OF-1", "--reference", "WB-9"});
  ASSERT_TRUE(ExitedWith(receive.status, 0));
  EXPECT_EQ(Lines(receive.output).size(), 1u);
  RunResult dispatch = Admin(address_, token_file,
                             {"stock", "dispatch", "--from", "HQ", "--to", "ENT", "--kit",
                              "HYG-KIT", "--quantity", "40", "--officer", "HQ-OF-1"});
  ASSERT_TRUE(ExitedWith(dispatch.status, 0));
  EXPECT_EQ(Lines(dispatch.output).size(), 2u) << "the transfer out and the transfer in";
  RunResult too_much = Admin(address_, token_file,
                             {"stock", "dispatch", "--from", "HQ", "--to", "ENT", "--kit",
                              "HYG-KIT", "--quantity", "61", "--officer", "HQ-OF-1"});
  EXPECT_TRUE(ExitedWith(too_much.status, 1));
  RunResult adjust = Admin(address_, token_file,
                           {"stock", "adjust", "--post", "HQ", "--kit", "HYG-KIT", "--quantity",
                            "-3", "--reason", "water damage", "--officer", "HQ-OF-1"});
  EXPECT_TRUE(ExitedWith(adjust.status, 0));

  RunResult revoke = Admin(address_, token_file, {"revoke", device_id, "--reason", "lost"});
  ASSERT_TRUE(ExitedWith(revoke.status, 0));
  listed = Admin(address_, token_file, {"devices", "--json"});
  devices = nlohmann::json::parse(listed.output);
  EXPECT_EQ(devices[0]["revoked"], true);
  EXPECT_EQ(devices[0]["revoke_reason"], "lost");
  v1::StatusResponse status;
  EXPECT_EQ(sync_->GetStatus(Context(enrolled.device_token()).get(), {}, &status).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // Errors: a wrong credential, none at all, no server.
  const std::string wrong = dir_.File("wrong.token");
  WriteFile(wrong, "ksa_wrong\n");
  EXPECT_TRUE(ExitedWith(Admin(address_, wrong, {"devices"}).status, 1));
  ::unsetenv("KITSYNC_ADMIN_TOKEN_FILE");
  EXPECT_TRUE(
      ExitedWith(RunToCompletion(kAdmin, {"--server", address_, "devices"}, 60s).status, 1));
  StopServer(SIGTERM);
  EXPECT_TRUE(ExitedWith(
      RunToCompletion(
          kAdmin, {"--server", address_, "--token-file", token_file, "--timeout", "2", "devices"},
          60s)
          .status,
      1));
}

// The reports through the real binaries: a receipt and a dispatch by the admin CLI, a tablet's
// receipt and handovers pushed over gRPC, then `report reconcile` as JSON and CSV. A handover
// written into the database by hand, of kits the post never had, makes it exit 3.
TEST_F(ServerProcessTest, AdminCliReportsReconcileAsJsonAndCsvAndExitsThreeWhenUnbalanced) {
  StartServer();
  const std::string token_file = data_ + "/admin.token";
  Tablet t = EnrolTablet();
  ASSERT_NE(t.store, nullptr);
  ASSERT_TRUE(ExitedWith(Admin(address_, token_file,
                               {"stock", "receive", "--post", "HQ", "--kit", "HYG-KIT",
                                "--quantity", "100", "--officer", "HQ-OF-1"})
                             .status,
                         0));
  ASSERT_TRUE(ExitedWith(Admin(address_, token_file,
                               {"stock", "dispatch", "--from", "HQ", "--to", "ENT", "--kit",
                                "HYG-KIT", "--quantity", "40", "--officer", "HQ-OF-1"})
                             .status,
                         0));
  core::MovementInput receipt;
  receipt.kind = core::MovementKind::kReceipt;
  receipt.kit_type_code = "HYG-KIT";
  receipt.quantity = 10;
  receipt.officer_code = "ENT-OF-1";
  ASSERT_TRUE(t.store->RecordMovement(receipt).ok());
  RecordHandover(t, "A 0000001");
  RecordHandover(t, "A 0000002");
  v1::PushAck ack;
  bool acked = false;
  ASSERT_TRUE(PushOne(t.token, NextPushBatch(*t.store, 100, NowMs()), &ack, &acked).ok());
  ASSERT_TRUE(acked);

  RunResult json = Admin(address_, token_file, {"report", "reconcile", "--format", "json"});
  ASSERT_TRUE(ExitedWith(json.status, 0)) << json.output;
  nlohmann::json doc = nlohmann::json::parse(json.output);
  EXPECT_EQ(doc["balanced"], true);
  ASSERT_EQ(doc["lines"].size(), 3u);  // HYG-KIT centrally, at ENT and at HQ
  EXPECT_EQ(doc["lines"][0]["scope"], "central");
  EXPECT_EQ(doc["lines"][0]["received"], 110);
  EXPECT_EQ(doc["lines"][0]["handed_out"], 2);
  EXPECT_EQ(doc["lines"][0]["in_stock"], 108);
  EXPECT_EQ(doc["lines"][0]["difference"], 0);
  EXPECT_EQ(doc["lines"][1]["post"], "ENT");
  EXPECT_EQ(doc["lines"][1]["received"], 50);

  RunResult csv = Admin(address_, token_file, {"report", "reconcile", "--format", "csv"});
  ASSERT_TRUE(ExitedWith(csv.status, 0)) << csv.output;
  std::vector<std::string> rows = Lines(csv.output);
  ASSERT_EQ(rows.size(), 4u) << csv.output;
  EXPECT_EQ(rows[0],
            "kit_type,scope,post,received,handed_out,in_stock,transferred,adjusted,difference,"
            "notes\r");
  RunResult handouts = Admin(address_, token_file, {"report", "handouts", "--format", "csv"});
  ASSERT_TRUE(ExitedWith(handouts.status, 0)) << handouts.output;
  rows = Lines(handouts.output);
  ASSERT_EQ(rows.size(), 2u) << handouts.output;
  EXPECT_EQ(rows[0], "round,post,kit_type,day,handovers,quantity\r");
  EXPECT_THAT(rows[1], HasSubstr("HYG-R1,ENT,HYG-KIT,"));
  for (const char* report : {"stock", "beneficiaries"}) {
    RunResult r = Admin(address_, token_file, {"report", report, "--format", "json"});
    ASSERT_TRUE(ExitedWith(r.status, 0)) << report << ": " << r.output;
    EXPECT_EQ(nlohmann::json::parse(r.output)["report"], report);
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("Beneficiary "))) << "no names in exports";
  }

  {
    RawDb db(sync::ServerDatabasePath(data_));
    db.Exec(
        "INSERT INTO handovers SELECT '01900000-0000-7000-8000-0000000000cc', round_id, "
        "beneficiary_id, '00000000-0000-7000-8000-000000000002', 3, post_id, officer_id, "
        "device_id, hlc, wall_ms, proof_kind, proof_ref, collected_by, proxy_relation, consent, "
        "override_reason, overridden_warnings, clock_ahead, server_seq FROM handovers LIMIT 1");
  }
  RunResult unbalanced = Admin(address_, token_file, {"report", "reconcile"});
  EXPECT_TRUE(ExitedWith(unbalanced.status, 3)) << unbalanced.output;
  EXPECT_THAT(unbalanced.output, HasSubstr("NOT BALANCED"));
  EXPECT_THAT(unbalanced.output, HasSubstr("deficit: 3 more left the post"));
}

TEST_F(ServerProcessTest, SigkillDuringAPushLeavesTheBatchWhollyThereOrNotAtAll) {
  constexpr int kBatch = 2000;
  // When to kill: a time after sending, from before the server has read the batch to well after
  // it should have committed; or (time 0 and a size) once the server's write-ahead log has grown
  // by that many bytes, which is while the batch's transaction is being written out. Where each
  // kill lands is not asserted; what every landing must leave behind is.
  struct Kill {
    std::chrono::milliseconds after;
    uintmax_t wal_growth = 0;
  };
  const std::vector<Kill> kill_after = {{0ms},    {20ms},          {60ms},
                                        {120ms},  {250ms},         {500ms},
                                        {1000ms}, {0ms, 64 << 10}, {0ms, 256 << 10}};
  const std::string wal = sync::ServerDatabasePath(data_) + "-wal";
  auto wal_size = [&] {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(wal, ec);
    return ec ? uintmax_t{0} : size;
  };

  StartServer();
  Tablet t = EnrolTablet();
  ASSERT_NE(t.store, nullptr);
  StopServer(SIGTERM);
  for (size_t i = 0; i < kill_after.size() * kBatch; ++i) {
    core::BeneficiaryInput b;
    b.doc_number = "P" + std::to_string(1'000'000 + i);
    b.full_name = "Beneficiary " + std::to_string(i);
    ASSERT_TRUE(t.store->RegisterBeneficiary(b).ok());
  }
  auto log = t.store->PendingChanges(static_cast<int64_t>(kill_after.size()) * kBatch);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), kill_after.size() * kBatch);

  auto held_by_server = [&](int64_t* acked, int64_t* facts, int64_t* feed) {
    RawDb db(sync::ServerDatabasePath(data_));
    EXPECT_EQ(db.QueryText("PRAGMA integrity_check"), "ok");
    const std::string device = "'" + t.device_id + "'";
    *acked = db.QueryInt("SELECT acked_seq FROM devices WHERE id = " + device);
    *facts = db.QueryInt("SELECT count(*) FROM beneficiaries WHERE device_id = " + device);
    *feed = db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = " + device);
  };

  int64_t before = 0;
  int landed_before_commit = 0;
  for (size_t round = 0; round < kill_after.size(); ++round) {
    const Kill& kill = kill_after[round];
    SCOPED_TRACE("kill after " + std::to_string(kill.after.count()) + " ms / WAL growth of " +
                 std::to_string(kill.wal_growth));
    const std::vector<core::ChangeEntry> entries(log->begin() + before,
                                                 log->begin() + before + kBatch);
    const v1::PushBatch batch = BuildPushBatch(entries, NowMs());

    StartServer();
    const uintmax_t wal_before = wal_size();
    v1::PushAck ack;
    bool acked = false;
    std::thread pusher([&] { (void)PushOne(t.token, batch, &ack, &acked); });
    std::this_thread::sleep_for(kill.after);
    for (int i = 0; kill.wal_growth > 0 && i < 10'000; ++i) {
      if (wal_size() >= wal_before + kill.wal_growth) break;
      std::this_thread::sleep_for(1ms);
    }
    StopServer(SIGKILL, /*hang_up=*/false);  // the pusher is still using the connection
    pusher.join();

    int64_t acked_seq = 0, facts = 0, feed = 0;
    held_by_server(&acked_seq, &facts, &feed);
    ASSERT_TRUE(acked_seq == before || acked_seq == before + kBatch)
        << "the server holds " << acked_seq << " of this device's changes: a partial batch";
    EXPECT_EQ(facts, acked_seq);
    EXPECT_EQ(feed, acked_seq);
    if (acked) {
      EXPECT_EQ(acked_seq, before + kBatch) << "an ack was sent for an uncommitted batch";
    }
    if (acked_seq == before) ++landed_before_commit;

    // The tablet never heard (or did hear) the ack; it re-sends the same batch.
    StartServer();
    bool reacked = false;
    grpc::Status status = PushOne(t.token, batch, &ack, &reacked);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(reacked);
    EXPECT_EQ(ack.acked_seq(), static_cast<uint64_t>(before + kBatch));
    EXPECT_EQ(ack.applied(), static_cast<uint64_t>(before + kBatch - acked_seq));
    StopServer(SIGTERM);

    held_by_server(&acked_seq, &facts, &feed);
    EXPECT_EQ(acked_seq, before + kBatch);
    EXPECT_EQ(facts, before + kBatch);
    EXPECT_EQ(feed, before + kBatch);
    before += kBatch;
  }
  // For the log: how many kills hit before the commit (the rest after it).
  std::cerr << landed_before_commit << " of " << kill_after.size()
            << " kills landed before the batch committed\n";
}

// A backup taken while a tablet pushes holds whole batches only, opens as a server database,
// and a restored copy serves the tablet from where the copy left off.
TEST_F(ServerProcessTest, BackupWhilePushingHoldsWholeBatchesAndNeverReplacesAFile) {
  constexpr int kBatch = 2000;
  constexpr int kBatches = 4;
  StartServer();
  Tablet t = EnrolTablet();
  ASSERT_NE(t.store, nullptr);
  for (int i = 0; i < kBatch * kBatches; ++i) {
    ASSERT_TRUE(t.store->RegisterBeneficiary(
                          {"P" + std::to_string(2'000'000 + i), "Family " + std::to_string(i), "", 3})
                    .ok());
  }
  auto log = t.store->PendingChanges(kBatch * kBatches);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), static_cast<size_t>(kBatch * kBatches));

  std::atomic<bool> pushed{false};
  std::thread pusher([&] {
    for (int b = 0; b < kBatches; ++b) {
      const std::vector<core::ChangeEntry> entries(log->begin() + b * kBatch,
                                                   log->begin() + (b + 1) * kBatch);
      v1::PushAck ack;
      bool acked = false;
      grpc::Status s = PushOne(t.token, BuildPushBatch(entries, NowMs()), &ack, &acked);
      EXPECT_TRUE(s.ok() && acked) << s.error_message();
    }
    pushed = true;
  });
  std::vector<std::string> copies;
  for (int i = 0; i < 40 && (i < 3 || !pushed); ++i) {
    copies.push_back(dir_.File("backup-" + std::to_string(i) + ".db"));
    RunResult backup = RunToCompletion(kServer, {"backup", "--data", data_, "--to", copies.back()},
                                       60s);
    ASSERT_TRUE(ExitedWith(backup.status, 0)) << backup.output;
    EXPECT_THAT(backup.output, HasSubstr("integrity check ok"));
  }
  pusher.join();
  copies.push_back(dir_.File("backup-final.db"));
  RunResult final_backup =
      RunToCompletion(kServer, {"backup", "--data", data_, "--to", copies.back()}, 60s);
  ASSERT_TRUE(ExitedWith(final_backup.status, 0)) << final_backup.output;
  std::set<int64_t> seen;
  for (const std::string& copy : copies) {
    RawDb db(copy);
    EXPECT_EQ(db.QueryText("PRAGMA integrity_check"), "ok");
    const std::string device = "'" + t.device_id + "'";
    const int64_t acked = db.QueryInt("SELECT acked_seq FROM devices WHERE id = " + device);
    EXPECT_EQ(acked % kBatch, 0) << copy << " holds part of a batch";
    EXPECT_EQ(db.QueryInt("SELECT count(*) FROM beneficiaries WHERE device_id = " + device), acked);
    EXPECT_EQ(db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = " + device),
              acked);
    seen.insert(acked);
  }
  std::cerr << copies.size() << " backups saw " << seen.size() << " distinct upload positions\n";

  // A backup never replaces a file, and the file is left as it was.
  const std::string existing = copies.front();
  const std::string before = ReadFileBytes(existing);
  RunResult again = RunToCompletion(kServer, {"backup", "--data", data_, "--to", existing}, 60s);
  EXPECT_TRUE(ExitedWith(again.status, 2)) << again.output;
  EXPECT_EQ(ReadFileBytes(existing), before);
  RunResult nowhere = RunToCompletion(
      kServer, {"backup", "--data", dir_.File("no-such-data"), "--to", dir_.File("x.db")}, 60s);
  EXPECT_TRUE(ExitedWith(nowhere.status, 2)) << nowhere.output;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("x.db")));
  StopServer(SIGTERM);

  // The copy taken after the pushes, restored into a data directory of its own, holds them all.
  const std::string restored = dir_.File("restored");
  RunResult restore =
      RunToCompletion(kServer, {"restore", "--from", copies.back(), "--data", restored}, 60s);
  ASSERT_TRUE(ExitedWith(restore.status, 0)) << restore.output;
  data_ = restored;
  StartServer();
  v1::StatusRequest request;
  v1::StatusResponse status;
  grpc::Status s = sync_->GetStatus(Context(t.token).get(), request, &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(status.acked_seq(), static_cast<uint64_t>(kBatch * kBatches));
  StopServer(SIGTERM);
}

// `restore` refuses, with exit code 2 and a message that names the problem, a data directory
// that is not empty, a file that is not a server's copy, and a copy that is not there; and it
// creates nothing when it refuses. What it accepts serves under a new feed epoch.
TEST_F(ServerProcessTest, RestoreRefusesADirectoryInUseABadCopyOrNoneAndCreatesNothing) {
  StartServer();
  Tablet t = EnrolTablet();
  ASSERT_NE(t.store, nullptr);
  v1::StatusResponse before;
  grpc::Status s = sync_->GetStatus(Context(t.token).get(), v1::StatusRequest(), &before);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string copy = dir_.File("copy.db");
  RunResult backup = RunToCompletion(kServer, {"backup", "--data", data_, "--to", copy}, 60s);
  ASSERT_TRUE(ExitedWith(backup.status, 0)) << backup.output;
  EXPECT_THAT(backup.output, HasSubstr("feed epoch " + before.feed_epoch()));
  StopServer(SIGTERM);

  auto refused = [&](const std::string& from, const std::string& dir, const std::string& words) {
    // Through a shell, for the message on standard error.
    RunResult run = RunToCompletion(
        "/bin/sh",
        {"-c", "exec \"$0\" restore --from \"$1\" --data \"$2\" 2>&1", kServer, from, dir}, 60s);
    EXPECT_TRUE(ExitedWith(run.status, 2)) << run.output;
    EXPECT_THAT(run.output, HasSubstr("not restored"));
    EXPECT_THAT(run.output, HasSubstr(words));
  };
  const std::set<std::string> in_use = [&] {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(data_)) names.insert(e.path());
    return names;
  }();
  refused(copy, data_, "is not empty");
  std::set<std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(data_)) after.insert(e.path());
  EXPECT_EQ(after, in_use);

  const std::string target = dir_.File("new-data");
  refused(dir_.File("no-such-copy.db"), target, "no file at");
  EXPECT_FALSE(std::filesystem::exists(target));
  WriteFile(dir_.File("notes.db"), "handover notes, not a database\n");
  refused(dir_.File("notes.db"), target, "not a usable kitsync server database");
  EXPECT_FALSE(std::filesystem::exists(target));
  refused(t.db_path, target, "not a kitsync server database");  // a tablet's, not a server's
  EXPECT_FALSE(std::filesystem::exists(target));

  RunResult restore = RunToCompletion(kServer, {"restore", "--from", copy, "--data", target}, 60s);
  ASSERT_TRUE(ExitedWith(restore.status, 0)) << restore.output;
  EXPECT_THAT(restore.output, HasSubstr("new feed epoch"));
  data_ = target;
  StartServer();
  v1::StatusResponse status;
  s = sync_->GetStatus(Context(t.token).get(), v1::StatusRequest(), &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(status.feed_epoch(), before.feed_epoch());
  EXPECT_EQ(status.feed_epoch_start_seq(), before.feed_head());
  ASSERT_EQ(status.earlier_feed_epochs_size(), 1);
  EXPECT_EQ(status.earlier_feed_epochs(0).id(), before.feed_epoch());
  // A pull whose cursor belongs to the copied server's epoch is refused.
  v1::PullRequest pull;
  pull.set_cursor(before.feed_head());
  pull.set_feed_epoch(before.feed_epoch());
  auto context = Context(t.token);
  auto reader = sync_->Pull(context.get(), pull);
  v1::PullBatch batch;
  EXPECT_FALSE(reader->Read(&batch));
  const grpc::Status pulled = reader->Finish();
  EXPECT_EQ(pulled.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << pulled.error_message();
  StopServer(SIGTERM);
}

TEST_F(ServerProcessTest, WhatASigkilledServerAcknowledgedIsThereAfterARestart) {
  // Batches are pushed one after another until the server is killed: a second or more of
  // pushes, so the kills land while the store's thread checkpoints the log (it copies the log
  // every second at least, and at start the log a killed server left behind).
  constexpr int kBatch = 2000;
  const std::vector<std::chrono::milliseconds> kill_after = {300ms, 700ms, 1100ms, 1500ms};
  constexpr size_t kChanges = 40'000;

  StartServer();
  Tablet t = EnrolTablet();
  ASSERT_NE(t.store, nullptr);
  StopServer(SIGTERM);
  for (size_t i = 0; i < kChanges; ++i) {
    core::BeneficiaryInput b;
    b.doc_number = "Q" + std::to_string(1'000'000 + i);
    b.full_name = "Beneficiary " + std::to_string(i);
    ASSERT_TRUE(t.store->RegisterBeneficiary(b).ok());
  }
  auto log = t.store->PendingChanges(static_cast<int64_t>(kChanges));
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), kChanges);
  auto batch_from = [&](int64_t done) {
    const size_t from = static_cast<size_t>(done);
    const size_t to = std::min(from + kBatch, log->size());
    return BuildPushBatch({log->begin() + from, log->begin() + to}, NowMs());
  };

  auto held_by_server = [&](int64_t* acked, int64_t* facts, int64_t* feed) {
    RawDb db(sync::ServerDatabasePath(data_));
    EXPECT_EQ(db.QueryText("PRAGMA integrity_check"), "ok");
    const std::string device = "'" + t.device_id + "'";
    *acked = db.QueryInt("SELECT acked_seq FROM devices WHERE id = " + device);
    *facts = db.QueryInt("SELECT count(*) FROM beneficiaries WHERE device_id = " + device);
    *feed = db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = " + device);
  };

  int64_t done = 0;  // changes the server acknowledged, as far as the tablet heard
  size_t killed_mid_push = 0;
  for (const auto after : kill_after) {
    SCOPED_TRACE("kill after " + std::to_string(after.count()) + " ms");
    StartServer();
    std::atomic<int64_t> heard{done};
    std::atomic<bool> stop{false};
    std::thread pusher([&] {
      while (!stop && heard < static_cast<int64_t>(kChanges)) {
        v1::PushAck ack;
        bool acked = false;
        (void)PushOne(t.token, batch_from(heard), &ack, &acked);
        if (!acked) return;
        heard = static_cast<int64_t>(ack.acked_seq());
      }
    });
    std::this_thread::sleep_for(after);
    StopServer(SIGKILL, /*hang_up=*/false);
    stop = true;
    pusher.join();

    int64_t acked_seq = 0, facts = 0, feed = 0;
    held_by_server(&acked_seq, &facts, &feed);
    EXPECT_GE(acked_seq, heard.load()) << "an acknowledged batch was lost";
    EXPECT_EQ(acked_seq % kBatch, 0) << "a partial batch";
    EXPECT_EQ(facts, acked_seq);
    EXPECT_EQ(feed, acked_seq);
    done = heard;
    if (acked_seq == static_cast<int64_t>(kChanges)) break;  // a fast machine: all pushed
    ++killed_mid_push;
  }
  std::cerr << killed_mid_push << " of " << kill_after.size()
            << " kills landed while batches were being pushed\n";

  // The tablet sends from where it last heard; what the server already holds is acknowledged
  // again, never applied twice.
  StartServer();
  while (done < static_cast<int64_t>(kChanges)) {
    v1::PushAck ack;
    bool acked = false;
    grpc::Status status = PushOne(t.token, batch_from(done), &ack, &acked);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(acked);
    done = static_cast<int64_t>(ack.acked_seq());
  }
  StopServer(SIGTERM);
  int64_t acked_seq = 0, facts = 0, feed = 0;
  held_by_server(&acked_seq, &facts, &feed);
  EXPECT_EQ(acked_seq, static_cast<int64_t>(kChanges));
  EXPECT_EQ(facts, static_cast<int64_t>(kChanges));
  EXPECT_EQ(feed, static_cast<int64_t>(kChanges));
}

}  // namespace
}  // namespace kitsync::synctest

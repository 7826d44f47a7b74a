// GrpcTransport and Enroll against a scripted gRPC server on loopback: what goes on the wire
// (credential, compression, pipelining), and how failures are reported (outcome unknown).
#include "kitsync/sync/client_grpc_transport.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "kitsync/sync/client_enroll.h"
#include "kitsync/sync/client_failure.h"
#include "kitsync/sync/client_probe.h"
#include "kitsync/sync/server_auth.h"
#include "kitsync/sync/wire.h"
#include "scripted_server.h"
#include "test_support.h"

namespace kitsync::testing {
namespace {

using namespace std::chrono_literals;

std::vector<v1::PushBatch> Batches(int n, int changes_each) {
  std::vector<v1::PushBatch> out;
  for (int i = 0; i < n; ++i) {
    v1::PushBatch& b = out.emplace_back();
    b.set_first_seq(static_cast<uint64_t>(i * changes_each + 1));
    for (int c = 0; c < changes_each; ++c) b.mutable_records()->add_changes()->set_hlc_delta(1);
  }
  return out;
}

// Hands out `batches` in order, then nullopt.
sync::Transport::BatchSource From(std::vector<v1::PushBatch> batches) {
  auto left = std::make_shared<std::deque<v1::PushBatch>>(batches.begin(), batches.end());
  return [left]() -> core::Result<std::optional<v1::PushBatch>> {
    if (left->empty()) return std::optional<v1::PushBatch>();
    std::optional<v1::PushBatch> next(std::move(left->front()));
    left->pop_front();
    return next;
  };
}

std::unique_ptr<sync::GrpcTransport> Connect(const std::string& address,
                                             sync::GrpcTransportOptions options = {},
                                             const std::string& ca_file = "") {
  auto t = sync::GrpcTransport::Create({address, "tok-123", ca_file}, options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

// A loopback port nothing listens on: bound, then released.
std::string DeadAddress() {
  auto server = std::make_unique<ScriptedServer>();
  std::string address = server->address();
  server.reset();
  return address;
}

// A border post's link comes back: the next call connects at once, instead of failing with the
// old error until gRPC's own reconnect backoff (about a second after a failed attempt) runs out.
TEST(GrpcTransportTest, CallAfterTheServerReturnsConnectsWithoutWaitingOutReconnectBackoff) {
  const std::string address = DeadAddress();
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  auto transport = Connect(address);
  ASSERT_NE(transport, nullptr);
  EXPECT_EQ(transport->GetStatus().status().code(), core::Code::kUnavailable);
  ScriptedServer server("", "", /*accept_gzip=*/true, port);
  ASSERT_EQ(server.address(), address);
  const auto status = transport->GetStatus();
  EXPECT_TRUE(status.ok()) << status.status().ToString();
}

TEST(GrpcTransportTest, PushKeepsTheWindowFullAndSendsTheCredential) {
  ScriptedServer server;
  server.sync.ack_lag = 3;
  sync::GrpcTransportOptions options;
  options.window = 3;
  auto transport = Connect(server.address(), options);
  std::vector<uint64_t> acks;
  core::Status s = transport->Push(From(Batches(10, 5)), [&](const v1::PushAck& ack) {
    acks.push_back(ack.acked_seq());
    return core::Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(acks, (std::vector<uint64_t>{5, 10, 15, 20, 25, 30, 35, 40, 45, 50}));
  // The server saw three batches waiting for acks at once: pipelined, and never more.
  EXPECT_EQ(server.sync.max_unacked(), 3u);
  EXPECT_EQ(server.sync.Authorization(), "Bearer tok-123");
}

TEST(GrpcTransportTest, RequestsAreGzipCompressed) {
  ScriptedServer server("", "", /*accept_gzip=*/false);
  auto transport = Connect(server.address());
  core::Status push =
      transport->Push(From(Batches(2, 3)), [](const v1::PushAck&) { return core::Status::Ok(); });
  EXPECT_EQ(push.code(), core::Code::kUnimplemented) << push.ToString();
  EXPECT_EQ(transport->GetStatus().status().code(), core::Code::kUnimplemented);
  EXPECT_EQ(server.sync.batches_read(), 0);
}

// A server that reads zstd frames gets each batch as one, so the tablet spends a tenth of gzip's
// CPU on it; any other server (an older one) still gets gzip, as the test above shows.
TEST(GrpcTransportTest, BatchesGoAsZstdFramesOnceTheServerSaysItReadsThem) {
  ScriptedServer server;
  server.sync.reads_zstd = true;
  auto transport = Connect(server.address());
  std::vector<uint64_t> acks;
  auto record_ack = [&](const v1::PushAck& ack) {
    acks.push_back(ack.acked_seq());
    return core::Status::Ok();
  };
  // Before any status call the transport cannot know what the server reads.
  ASSERT_TRUE(transport->Push(From(Batches(2, 3)), record_ack).ok());
  EXPECT_EQ(server.sync.zstd_batches_read(), 0);
  ASSERT_TRUE(transport->GetStatus().ok());
  core::Status s = transport->Push(From(Batches(3, 4)), record_ack);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server.sync.zstd_batches_read(), 3);
  // The acks are worked out from the inflated batches' sizes.
  EXPECT_EQ(acks, (std::vector<uint64_t>{3, 6, 4, 8, 12}));
}

TEST(GrpcTransportTest, PulledZstdFramesAreInflatedAndADamagedOneEndsThePull) {
  ScriptedServer server;
  server.sync.reads_zstd = true;
  server.sync.pull_batches = 4;
  server.sync.damaged_pull_batch = 3;
  auto transport = Connect(server.address());
  v1::PullRequest request;
  sync::AddWireFeatures(request);
  std::vector<int64_t> deltas;
  core::Status s = transport->Pull(request, [&](const v1::PullBatch& b) {
    EXPECT_TRUE(b.records_zstd().empty());
    for (const v1::Change& c : b.records().changes()) deltas.push_back(c.hlc_delta());
    return core::Status::Ok();
  });
  EXPECT_EQ(s.code(), core::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("the server sent a batch that cannot be read"), std::string::npos)
      << s.message();
  EXPECT_EQ(deltas, (std::vector<int64_t>{1, 2}));
}

TEST(GrpcTransportTest, WindowOfOneWaitsForEachAck) {
  ScriptedServer server;
  server.sync.ack_lag = 1;
  sync::GrpcTransportOptions options;
  options.window = 1;
  // An ack can overtake the writer's own bookkeeping; repeated pushes with short deadlines make
  // a lost wake-up show as a failure instead of a hang.
  options.call_deadline = 2s;
  options.per_batch_deadline = 500ms;
  auto transport = Connect(server.address(), options);
  for (int round = 0; round < 30; ++round) {
    int acks = 0;
    core::Status s = transport->Push(From(Batches(6, 2)), [&](const v1::PushAck&) {
      ++acks;
      return core::Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
    ASSERT_EQ(acks, 6);
  }
  EXPECT_EQ(server.sync.max_unacked(), 1u);
}

TEST(GrpcTransportTest, AnAckHandlerErrorEndsThePushWithThatError) {
  ScriptedServer server;
  auto transport = Connect(server.address());
  int acks = 0;
  core::Status s = transport->Push(From(Batches(8, 1)), [&](const v1::PushAck&) {
    return ++acks == 2 ? core::Status::DataLoss("disk full") : core::Status::Ok();
  });
  EXPECT_EQ(s.code(), core::Code::kDataLoss);
  EXPECT_EQ(acks, 2);
}

// The source is asked for a batch only when the window has room, so a caller reads and builds
// the next batch while earlier ones are with the server, and never more than the window ahead.
TEST(GrpcTransportTest, PushAsksForTheNextBatchWhileEarlierOnesAwaitTheirAcks) {
  ScriptedServer server;
  server.sync.ack_lag = 3;
  sync::GrpcTransportOptions options;
  options.window = 3;
  auto transport = Connect(server.address(), options);
  std::deque<v1::PushBatch> left;
  for (v1::PushBatch& b : Batches(20, 2)) left.push_back(std::move(b));
  size_t handed_out = 0;
  uint64_t acked_seq = 0;
  size_t most_ahead = 0;
  core::Status s = transport->Push(
      [&]() -> core::Result<std::optional<v1::PushBatch>> {
        // Batches of 2 changes: the ones handed out and not yet acknowledged.
        const size_t ahead = handed_out - static_cast<size_t>(acked_seq / 2);
        most_ahead = std::max(most_ahead, ahead);
        if (left.empty()) return std::optional<v1::PushBatch>();
        std::optional<v1::PushBatch> next(std::move(left.front()));
        left.pop_front();
        ++handed_out;
        return next;
      },
      [&](const v1::PushAck& ack) {
        acked_seq = std::max(acked_seq, ack.acked_seq());
        return core::Status::Ok();
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(acked_seq, 40u);
  EXPECT_EQ(server.sync.push_streams(), 1);
  // The server acks nothing until it holds 3, so the third batch was asked for with two
  // unacknowledged; and never with more than the window.
  EXPECT_GE(most_ahead, 2u);
  EXPECT_LE(most_ahead, 3u);
  EXPECT_EQ(server.sync.max_unacked(), 3u);
}

TEST(GrpcTransportTest, NothingToSendOpensNoStream) {
  ScriptedServer server;
  auto transport = Connect(server.address());
  core::Status s = transport->Push(From({}), [](const v1::PushAck&) { return core::Status::Ok(); });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server.sync.push_streams(), 0);
}

TEST(GrpcTransportTest, ASourceErrorEndsThePushAfterWhatWasSentIsAcknowledged) {
  ScriptedServer server;
  auto transport = Connect(server.address());
  auto batches = From(Batches(3, 2));
  uint64_t acked_seq = 0;
  core::Status s = transport->Push(
      [&]() -> core::Result<std::optional<v1::PushBatch>> {
        ASSIGN_OR_RETURN(std::optional<v1::PushBatch> next, batches());
        if (!next) return core::Status::DataLoss("change 7 cannot be read");
        return next;
      },
      [&](const v1::PushAck& ack) {
        acked_seq = std::max(acked_seq, ack.acked_seq());
        return core::Status::Ok();
      });
  EXPECT_EQ(s.code(), core::Code::kDataLoss) << s.ToString();
  EXPECT_EQ(acked_seq, 6u);
}

// A push stream lasts as long as the backlog: its limit is on each wait for an ack, not on the
// whole stream.
TEST(GrpcTransportTest, AStreamLongerThanOneAckWaitIsNotCut) {
  ScriptedServer server;
  server.sync.ack_delay = 40ms;
  sync::GrpcTransportOptions options;
  options.window = 2;
  options.call_deadline = 100ms;
  options.per_batch_deadline = 150ms;
  auto transport = Connect(server.address(), options);
  const auto start = std::chrono::steady_clock::now();
  int acks = 0;
  core::Status s = transport->Push(From(Batches(20, 1)), [&](const v1::PushAck&) {
    ++acks;
    return core::Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(acks, 20);
  EXPECT_GT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST(GrpcTransportTest, AStalledPushIsAnUnknownOutcome) {
  ScriptedServer server;
  server.sync.ack_lag = 100;  // reads, never acks until the input ends
  sync::GrpcTransportOptions options;
  options.window = 2;
  options.call_deadline = 200ms;
  options.per_batch_deadline = 300ms;
  auto transport = Connect(server.address(), options);
  const auto start = std::chrono::steady_clock::now();
  core::Status s =
      transport->Push(From(Batches(5, 1)), [](const v1::PushAck&) { return core::Status::Ok(); });
  EXPECT_EQ(s.code(), core::Code::kDeadlineExceeded) << s.ToString();
  EXPECT_EQ(sync::ClassifyFailure(s), sync::SyncFailure::kOutcomeUnknown);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(GrpcTransportTest, ServerRefusalKeepsItsCode) {
  ScriptedServer server;
  server.sync.push_error =
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "batch starts at 9, held up to 4");
  auto transport = Connect(server.address());
  core::Status s =
      transport->Push(From(Batches(2, 1)), [](const v1::PushAck&) { return core::Status::Ok(); });
  EXPECT_EQ(s.code(), core::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("held up to 4"), std::string::npos);
}

TEST(GrpcTransportTest, MissedDeadlineIsAnUnknownOutcome) {
  ScriptedServer server;
  server.sync.status_delay = 1500ms;
  sync::GrpcTransportOptions options;
  options.call_deadline = 200ms;
  auto transport = Connect(server.address(), options);
  auto status = transport->GetStatus();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().code(), core::Code::kDeadlineExceeded);
  EXPECT_NE(status.status().message().find("outcome unknown"), std::string::npos);
  EXPECT_EQ(sync::ClassifyFailure(status.status()), sync::SyncFailure::kOutcomeUnknown);
}

TEST(GrpcTransportTest, NoServerIsAnUnknownOutcome) {
  sync::GrpcTransportOptions options;
  options.call_deadline = 3s;
  auto transport = Connect(DeadAddress(), options);
  core::Status s =
      transport->Push(From(Batches(1, 1)), [](const v1::PushAck&) { return core::Status::Ok(); });
  EXPECT_EQ(sync::ClassifyFailure(s), sync::SyncFailure::kOutcomeUnknown) << s.ToString();
  EXPECT_NE(s.message().find("outcome unknown"), std::string::npos);
}

TEST(GrpcTransportTest, PullDeliversBatchesInOrder) {
  ScriptedServer server;
  server.sync.pull_batches = 4;
  auto transport = Connect(server.address());
  ASSERT_TRUE(transport->GetStatus().ok());
  v1::PullRequest request;
  request.set_cursor(10);
  std::vector<uint64_t> cursors;
  ASSERT_TRUE(transport
                  ->Pull(request,
                         [&](const v1::PullBatch& b) {
                           cursors.push_back(b.cursor());
                           return core::Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(cursors, (std::vector<uint64_t>{11, 12, 13, 14}));
}

// Batches are read while the caller applies one, and the caller can see that the next waits
// (so it may apply them together).
TEST(GrpcTransportTest, APullReadsAheadWhileTheCallerApplies) {
  ScriptedServer server;
  server.sync.pull_batches = 4;
  auto transport = Connect(server.address());
  std::vector<uint64_t> cursors;
  std::vector<bool> waiting;
  core::Status s = transport->Pull(v1::PullRequest(), [&](const v1::PullBatch& b) {
    // The first batch takes as long to apply as the next takes to arrive (bounded: without a
    // read-ahead it never does).
    if (cursors.empty()) {
      for (int i = 0; i < 300 && !transport->NextPullBatchReady(); ++i) {
        std::this_thread::sleep_for(10ms);
      }
    }
    cursors.push_back(b.cursor());
    waiting.push_back(transport->NextPullBatchReady());
    return core::Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(cursors, (std::vector<uint64_t>{1, 2, 3, 4}));
  ASSERT_EQ(waiting.size(), 4u);
  EXPECT_TRUE(waiting.front());
  EXPECT_FALSE(waiting.back());  // the stream holds nothing after its last batch
  EXPECT_FALSE(transport->NextPullBatchReady());
}

TEST(GrpcTransportTest, CancelEndsAPullInProgressAndLaterCalls) {
  ScriptedServer server;
  server.sync.pull_batches = 1000;
  server.sync.pull_gap = 20ms;
  auto transport = Connect(server.address());
  std::atomic<bool> first{false};
  std::thread canceller([&] {
    for (int i = 0; i < 2000 && !first; ++i) std::this_thread::sleep_for(5ms);
    transport->Cancel();
  });
  core::Status s = transport->Pull(v1::PullRequest(), [&](const v1::PullBatch&) {
    first = true;
    return core::Status::Ok();
  });
  canceller.join();
  EXPECT_EQ(s.code(), core::Code::kCancelled) << s.ToString();
  EXPECT_LT(server.sync.pull_batches_written(), 1000);
  EXPECT_EQ(transport->GetStatus().status().code(), core::Code::kCancelled);
}

TEST(GrpcTransportTest, PlaintextIsRefusedBeyondLoopback) {
  auto t = sync::GrpcTransport::Create({"kitsync.example.org:443", "tok", ""});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("--ca"), std::string::npos);
  EXPECT_TRUE(sync::GrpcTransport::Create({"127.0.0.1:9", "tok", ""}).ok());
}

TEST(GrpcTransportTest, UnsendableCredentialIsRefused) {
  EXPECT_EQ(sync::GrpcTransport::Create({"127.0.0.1:9", "bad token\n", ""}).status().code(),
            core::Code::kInvalidArgument);
}

TEST(ChannelTest, LoopbackAddresses) {
  for (const char* a :
       {"localhost:50051", "LOCALHOST:1", "127.0.0.1:8443", "127.1.2.3:1", "[::1]:50051",
        "ipv4:127.0.0.1:5", "dns:///localhost:50051", "unix:/tmp/kitsync.sock"}) {
    EXPECT_TRUE(sync::IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"10.0.0.1:50051", "kitsync.example.org:443", "[2001:db8::1]:443",
                        "localhost.example.org:1", "128.0.0.1:1", "", "0.0.0.0:50051"}) {
    EXPECT_FALSE(sync::IsLoopbackAddress(a)) << a;
  }
}

TEST(ChannelTest, UnreadableOrEmptyCaFileIsRefused) {
  TempDir dir;
  EXPECT_EQ(sync::MakeChannel("kitsync.example.org:443", dir.File("missing.pem")).status().code(),
            core::Code::kInvalidArgument);
  std::ofstream(dir.File("empty.pem")) << "";
  EXPECT_EQ(sync::MakeChannel("kitsync.example.org:443", dir.File("empty.pem")).status().code(),
            core::Code::kInvalidArgument);
}

TEST(ProbeTest, TellsAnOpenPortFromAClosedOne) {
  ScriptedServer server;
  EXPECT_TRUE(sync::TcpConnects(server.address(), 2s));
  EXPECT_FALSE(sync::TcpConnects(DeadAddress(), 2s));
  EXPECT_FALSE(sync::TcpConnects("unix:/tmp/x.sock", 2s));
  EXPECT_FALSE(sync::TcpConnects("no-port", 2s));
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

v1::EnrollResponse GoodAnswer() {
  v1::EnrollResponse r;
  r.set_device_id(std::string(16, '\x07'));
  r.set_post_code("ENT");
  r.set_device_token("dev-token-abc");
  r.set_programme_key(std::string(32, 'k'));
  return r;
}

TEST(EnrollTest, GoodCodeGivesTheCredential) {
  TempDir dir;
  ScriptedServer server;
  server.enrollment.answer = GoodAnswer();
  auto r = sync::Enroll(server.address(), "", "K7Q2-M9XD", "ENT tablet 2", dir.File("attempt"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->device_token(), "dev-token-abc");
  EXPECT_EQ(r->post_code(), "ENT");
}

TEST(EnrollTest, TheSameCodeAgainOffersTheSameCredentialKeptBeforeTheCall) {
  TempDir dir;
  ScriptedServer server;
  server.enrollment.answer = GoodAnswer();
  const std::string attempt = dir.File("tablet.db.kitsync-enrolment");
  // Typed differently, the same code: the attempt is keyed by the code as the server reads it.
  ASSERT_TRUE(sync::Enroll(server.address(), "", "K7Q2-M9XD", "ENT tablet 2", attempt).ok());
  ASSERT_TRUE(sync::Enroll(server.address(), "", "k7q2m9xd", "ENT tablet 2", attempt).ok());
  // Another code is another enrolment with a credential of its own.
  EXPECT_FALSE(sync::Enroll(server.address(), "", "USED-CODE", "ENT tablet 2", attempt).ok());

  const std::vector<std::string> offered = server.enrollment.OfferedTokens();
  ASSERT_EQ(offered.size(), 3u);
  EXPECT_TRUE(sync::IsWellFormedDeviceToken(offered[0])) << offered[0];
  EXPECT_EQ(offered[1], offered[0]);
  EXPECT_TRUE(sync::IsWellFormedDeviceToken(offered[2])) << offered[2];
  EXPECT_NE(offered[2], offered[0]);
  // The server refused that code for good: nothing is kept for it.
  EXPECT_NE(::access(attempt.c_str(), F_OK), 0);
}

TEST(EnrollTest, AnAttemptWithAnUnknownOutcomeIsKeptForTheOwnerAlone) {
  TempDir dir;
  const std::string attempt = dir.File("tablet.db.kitsync-enrolment");
  auto r = sync::Enroll(DeadAddress(), "", "K7Q2-M9XD", "ENT tablet 2", attempt);
  EXPECT_EQ(sync::ClassifyFailure(r.status()), sync::SyncFailure::kOutcomeUnknown)
      << r.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(attempt.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string kept = Slurp(attempt);
  EXPECT_NE(kept.find("device-token ksd_"), std::string::npos) << kept;
  // The code itself is not written down, only its digest.
  EXPECT_EQ(kept.find("K7Q2"), std::string::npos) << kept;

  ASSERT_TRUE(sync::ForgetEnrolmentAttempt(attempt).ok());
  EXPECT_NE(::access(attempt.c_str(), F_OK), 0);
  EXPECT_TRUE(sync::ForgetEnrolmentAttempt(attempt).ok());  // already gone is fine
}

TEST(EnrollTest, AFileInTheAttemptsPlaceThatIsNotOneIsLeftAloneAndNothingIsSent) {
  TempDir dir;
  ScriptedServer server;
  server.enrollment.answer = GoodAnswer();
  const std::string attempt = dir.File("tablet.db.kitsync-enrolment");
  {
    std::ofstream out(attempt);
    out << "notes from the field\n";
  }
  auto r = sync::Enroll(server.address(), "", "K7Q2-M9XD", "ENT tablet 2", attempt);
  EXPECT_EQ(r.status().code(), core::Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_TRUE(server.enrollment.OfferedTokens().empty());
  EXPECT_EQ(Slurp(attempt), "notes from the field\n");
}

TEST(EnrollTest, UsedCodeIsUnauthenticated) {
  TempDir dir;
  ScriptedServer server;
  server.enrollment.answer = GoodAnswer();
  auto r = sync::Enroll(server.address(), "", "USED-CODE", "ENT tablet 2", dir.File("attempt"));
  EXPECT_EQ(r.status().code(), core::Code::kUnauthenticated);
  EXPECT_EQ(sync::ClassifyFailure(r.status()), sync::SyncFailure::kEnrolment);
}

TEST(EnrollTest, IncompleteAnswerIsRefused) {
  TempDir dir;
  ScriptedServer server;
  server.enrollment.answer = GoodAnswer();
  server.enrollment.answer.set_programme_key("short");
  auto r = sync::Enroll(server.address(), "", "K7Q2-M9XD", "ENT tablet 2", dir.File("attempt"));
  EXPECT_EQ(r.status().code(), core::Code::kInternal);
  EXPECT_NE(r.status().message().find("programme key"), std::string::npos);
}

// A self-signed certificate for 127.0.0.1, made with the openssl tool.
bool MakeCertificate(const TempDir& dir, const std::string& name) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 1 -subj /CN=kitsync-test -addext "
      "subjectAltName=IP:127.0.0.1 -keyout " +
      dir.File(name + ".key") + " -out " + dir.File(name + ".pem") + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}


TEST(TlsTest, VerifiedServerAnswersAndAWrongCaLooksLikeAnOutageOfAnAnsweringServer) {
  TempDir dir;
  if (!MakeCertificate(dir, "server") || !MakeCertificate(dir, "other")) {
    GTEST_SKIP() << "the openssl tool is not available";
  }
  ScriptedServer server(Slurp(dir.File("server.pem")), Slurp(dir.File("server.key")));
  sync::GrpcTransportOptions options;
  options.call_deadline = 5s;

  auto good = Connect(server.address(), options, dir.File("server.pem"));
  auto status = good->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(server.sync.Authorization(), "Bearer tok-123");

  // The server rejects nothing here, yet the handshake fails: UNAVAILABLE, as for an outage,
  // while the port answers. The engine tells the two apart with TcpConnects.
  auto wrong = Connect(server.address(), options, dir.File("other.pem"));
  auto refused = wrong->GetStatus();
  EXPECT_EQ(refused.status().code(), core::Code::kUnavailable) << refused.status().ToString();
  EXPECT_TRUE(sync::TcpConnects(server.address(), 2s));
}

}  // namespace
}  // namespace kitsync::testing

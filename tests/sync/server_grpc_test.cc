// The gRPC services in process on 127.0.0.1 port 0: credentials in metadata, the push stream,
// the pull stream, message limits, health checking and the rule against plaintext off loopback.
#include "kitsync/sync/server_grpc.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "kitsync/sync/server_auth.h"
#include "kitsync/sync/wire.h"
#include "kitsync/sync/wire_zstd.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(20);

// A call context with a deadline and, unless `token` is empty, the bearer credential.
std::unique_ptr<grpc::ClientContext> CallContext(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kDeadline);
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

class ServerGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.LoadMasterData();
    auto started = sync::GrpcServer::Start(&server_.logic(), sync::ServerConfig{});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    grpc_ = std::move(started).value();
    ASSERT_GT(grpc_->port(), 0);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    sync_ = v1::Sync::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
    enrollment_ = v1::Enrollment::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    return CallContext(token);
  }

  grpc::Status GetStatus(const std::string& token) {
    v1::StatusResponse response;
    return sync_->GetStatus(Context(token).get(), {}, &response);
  }
  grpc::Status ListDevices(const std::string& token) {
    v1::ListDevicesResponse response;
    return admin_->ListDevices(Context(token).get(), {}, &response);
  }

  // Sends `batches` on one push stream, reading each ack before the next batch.
  grpc::Status PushAll(const std::string& token, const std::vector<v1::PushBatch>& batches,
                       std::vector<v1::PushAck>* acks) {
    auto context = Context(token);
    auto stream = sync_->Push(context.get());
    for (const v1::PushBatch& b : batches) {
      if (!stream->Write(b)) break;
      v1::PushAck ack;
      if (!stream->Read(&ack)) break;
      acks->push_back(ack);
    }
    stream->WritesDone();
    return stream->Finish();
  }

  // Sends every one of `batches` on one push stream before reading any ack, as a tablet with
  // batches in flight does, then closes its side and reads the acks that come.
  grpc::Status PushInFlight(const std::string& token, const std::vector<v1::PushBatch>& batches,
                            std::vector<v1::PushAck>* acks) {
    auto context = Context(token);
    auto stream = sync_->Push(context.get());
    for (const v1::PushBatch& b : batches) {
      if (!stream->Write(b)) break;
    }
    stream->WritesDone();
    v1::PushAck ack;
    while (stream->Read(&ack)) acks->push_back(ack);
    return stream->Finish();
  }

  // Changes first..last (1-based) of `all` as one batch, sent now.
  v1::PushBatch Batch(const std::vector<core::ChangeEntry>& all, int first, int last) {
    return BuildPushBatch({all.begin() + (first - 1), all.begin() + last}, server_.clock().now());
  }

  // A first tablet at ENT records three handovers and pushes them: what a second tablet enrolled
  // before then pulls is the master data, the first tablet's receipt and these.
  void PushThreeHandoversFromAnotherTablet() {
    Tablet a = server_.EnrolTablet("ENT", "ENT tablet 1");
    for (int i = 0; i < 3; ++i) RecordHandover(a, "A10000" + std::to_string(i));
    std::vector<v1::PushAck> acks;
    ASSERT_TRUE(
        PushAll(a.token, {NextPushBatch(*a.store, 100, server_.clock().now())}, &acks).ok());
  }

  int64_t FeedChangesFrom(const Tablet& t) {
    RawDb db(server_.db_path());
    return db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = '" +
                       t.device_id + "'");
  }

  TestServer server_;
  std::unique_ptr<sync::GrpcServer> grpc_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Sync::Stub> sync_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Enrollment::Stub> enrollment_;
};

TEST_F(ServerGrpcTest, HealthCheckReportsServing) {
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  auto context = Context("");
  // HealthCheckRequest{service: ""}: the server as a whole.
  grpc::Slice request_bytes(std::string("\x0a\x00", 2));
  grpc::ByteBuffer request(&request_bytes, 1);
  auto call = stub.PrepareUnaryCall(context.get(), "/grpc.health.v1.Health/Check", request, &cq);
  ASSERT_NE(call, nullptr);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(ServerGrpcTest, CallWithoutCredentialIsUnauthenticated) {
  EXPECT_EQ(GetStatus("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListDevices("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::vector<v1::PushAck> acks;
  EXPECT_EQ(PushAll("", {v1::PushBatch()}, &acks).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(acks.empty());
}

TEST_F(ServerGrpcTest, WrongCredentialIsUnauthenticated) {
  EXPECT_EQ(GetStatus("ksd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListDevices("ksa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The right token under another scheme is no bearer credential.
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kDeadline);
  context->AddMetadata("authorization", "Basic " + server_.admin_token());
  v1::ListDevicesResponse response;
  EXPECT_EQ(admin_->ListDevices(context.get(), {}, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServerGrpcTest, DeviceRevokedBetweenTwoCallsIsUnauthenticatedOnTheSecond) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  ASSERT_TRUE(GetStatus(t.token).ok());
  v1::RevokeDeviceRequest revoke;
  revoke.set_device_id(sync::UuidToBytes(t.device_id));
  revoke.set_reason("lost");
  v1::RevokeDeviceResponse revoked;
  ASSERT_TRUE(admin_->RevokeDevice(Context(server_.admin_token()).get(), revoke, &revoked).ok());
  grpc::Status second = GetStatus(t.token);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(second.error_message(), HasSubstr("revoked"));
}

TEST_F(ServerGrpcTest, EachCredentialIsDeniedTheOtherKindsCalls) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  EXPECT_EQ(ListDevices(t.token).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::LoadMasterDataResponse loaded;
  EXPECT_EQ(admin_
                ->LoadMasterData(Context(t.token).get(),
                                 MasterRequest(TestMasterData(), server_.clock().now()), &loaded)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  EXPECT_EQ(GetStatus(server_.admin_token()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::vector<v1::PushAck> acks;
  EXPECT_EQ(
      PushAll(server_.admin_token(), {NextPushBatch(*t.store, 10, server_.clock().now())}, &acks)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(FeedChangesFrom(t), 0);
}

TEST_F(ServerGrpcTest, PushStreamAcksEachBatchAndAReplayedBatchAppliesNothing) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  for (int i = 0; i < 3; ++i) RecordHandover(t, "A10000" + std::to_string(i));
  auto entries = t.store->PendingChanges(100);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 7u);
  const int64_t now = server_.clock().now();
  const v1::PushBatch first = BuildPushBatch({entries->begin(), entries->begin() + 3}, now, 4);
  const v1::PushBatch second = BuildPushBatch({entries->begin() + 3, entries->end()}, now, 0);

  std::vector<v1::PushAck> acks;
  grpc::Status status = PushAll(t.token, {first, second, first}, &acks);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].acked_seq(), 3u);
  EXPECT_EQ(acks[0].applied(), 3u);
  EXPECT_EQ(acks[1].acked_seq(), 7u);
  EXPECT_EQ(acks[1].applied(), 4u);
  EXPECT_EQ(acks[2].acked_seq(), 7u);
  EXPECT_EQ(acks[2].applied(), 0u);
  EXPECT_EQ(FeedChangesFrom(t), 7);
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers"), 3);
}

TEST_F(ServerGrpcTest, RefusedBatchEndsTheStreamWithItsStatusAndKeepsEarlierAcks) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  RecordHandover(t, "A1000001");
  RecordHandover(t, "A1000002");
  auto entries = t.store->PendingChanges(100);
  ASSERT_TRUE(entries.ok());
  const int64_t now = server_.clock().now();
  const v1::PushBatch first = BuildPushBatch({entries->begin(), entries->begin() + 2}, now);
  const v1::PushBatch gap = BuildPushBatch({entries->begin() + 3, entries->end()}, now);

  std::vector<v1::PushAck> acks;
  grpc::Status status = PushAll(t.token, {first, gap}, &acks);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].acked_seq(), 2u);
  EXPECT_EQ(FeedChangesFrom(t), 2);
}

// One tablet at ENT with four handovers and their registrations after a stock receipt: changes
// 1..9, pushed in the tests' own slices.
class ServerPushStreamTest : public ServerGrpcTest {
 protected:
  void SetUp() override {
    ServerGrpcTest::SetUp();
    tablet_ = server_.EnrolTablet("ENT", "ENT tablet");
    for (int i = 1; i <= 4; ++i) RecordHandover(tablet_, "A100000" + std::to_string(i));
    auto entries = tablet_.store->PendingChanges(100);
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(entries->size(), 9u);
    entries_ = std::move(entries).value();
  }

  // Changes first..last as one batch.
  v1::PushBatch Changes(int first, int last) { return Batch(entries_, first, last); }

  Tablet tablet_;
  std::vector<core::ChangeEntry> entries_;
  std::vector<v1::PushAck> acks_;
};

TEST_F(ServerPushStreamTest, BatchesSentWithoutWaitingForAcksAreAppliedInOrderAndEachAcked) {
  grpc::Status status = PushInFlight(
      tablet_.token, {Changes(1, 2), Changes(3, 5), Changes(6, 6), Changes(7, 9)}, &acks_);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks_.size(), 4u);
  const uint64_t expected[] = {2, 5, 6, 9};
  for (size_t i = 0; i < acks_.size(); ++i) EXPECT_EQ(acks_[i].acked_seq(), expected[i]) << i;
  EXPECT_EQ(FeedChangesFrom(tablet_), 9);
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers"), 4);
}

// The server hashes a stream's next batch ahead, from the tip the batch before it sent; after a
// replayed batch that tip is an old one, and the new batch must be checked from the hash the
// server holds instead.
TEST_F(ServerPushStreamTest, NewBatchesAfterAReplayOnTheSameStreamAreCheckedFromTheHeldTip) {
  ASSERT_TRUE(PushAll(tablet_.token, {Changes(1, 6)}, &acks_).ok());

  acks_.clear();
  grpc::Status status = PushInFlight(tablet_.token, {Changes(1, 3), Changes(7, 9)}, &acks_);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks_.size(), 2u);
  EXPECT_EQ(acks_[0].acked_seq(), 6u);
  EXPECT_EQ(acks_[0].applied(), 0u);
  EXPECT_EQ(acks_[1].acked_seq(), 9u);
  EXPECT_EQ(acks_[1].applied(), 3u);
  EXPECT_EQ(FeedChangesFrom(tablet_), 9);
}

TEST_F(ServerPushStreamTest, AnAlteredBatchBehindAnAcceptedOneOnTheSameStreamIsRefusedWhole) {
  v1::PushBatch altered = Changes(4, 9);
  // Change 5's HLC moved by one: any alteration of what the tablet hashed will do.
  altered.mutable_records()->mutable_changes(1)->set_hlc_delta(
      altered.records().changes(1).hlc_delta() + 1);
  grpc::Status status = PushInFlight(tablet_.token, {Changes(1, 3), altered}, &acks_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("hash chain broken"));
  ASSERT_EQ(acks_.size(), 1u);
  EXPECT_EQ(acks_[0].acked_seq(), 3u);
  EXPECT_EQ(FeedChangesFrom(tablet_), 3);
}

TEST_F(ServerPushStreamTest, BatchesInFlightBehindARefusedOneGetNoAckAndAreNotApplied) {
  // After the gap, a replay of the first batch: on its own it would be acked.
  grpc::Status status = PushInFlight(
      tablet_.token, {Changes(1, 3), Changes(5, 6), Changes(1, 3), Changes(4, 9)}, &acks_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("gap"));
  ASSERT_EQ(acks_.size(), 1u);
  EXPECT_EQ(acks_[0].acked_seq(), 3u);
  EXPECT_EQ(FeedChangesFrom(tablet_), 3);
}

TEST_F(ServerPushStreamTest, APushCancelledWithBatchesInFlightLeavesNothingTwiceAfterTheRetry) {
  {
    auto context = Context(tablet_.token);
    auto stream = sync_->Push(context.get());
    for (int first : {1, 4, 7}) {
      ASSERT_TRUE(stream->Write(Changes(first, first + 2)));
    }
    context->TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Whatever the cancelled stream committed, the retry from change 1 completes it once.
  grpc::Status status = PushAll(tablet_.token, {Changes(1, 9)}, &acks_);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(acks_.size(), 1u);
  EXPECT_EQ(acks_[0].acked_seq(), 9u);
  EXPECT_EQ(FeedChangesFrom(tablet_), 9);
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers"), 4);
}

TEST_F(ServerPushStreamTest, ShutdownEndsAnOpenPushStreamThatSendsNothing) {
  auto context = Context(tablet_.token);
  auto stream = sync_->Push(context.get());
  ASSERT_TRUE(stream->Write(Changes(1, 3)));
  v1::PushAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.acked_seq(), 3u);
  // The tablet keeps its side open. Shutdown returns once every call has ended (the push
  // stream's deadline is 20 s away, so it is the server that ends it).
  const auto start = std::chrono::steady_clock::now();
  grpc_->Shutdown(std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_EQ(FeedChangesFrom(tablet_), 3);
}

// A gRPC server over `server` with `config`, and a Sync stub connected to it over loopback.
struct Serving {
  std::unique_ptr<sync::GrpcServer> grpc;
  std::unique_ptr<v1::Sync::Stub> stub;  // null when the server did not start
};
// With `narrow_window`, the tablet's channel keeps HTTP/2's first flow-control window (64 KiB) for
// good instead of widening it as the link proves fast: a pull its tablet stops reading then
// stays open however quickly the server builds batches, since the feed is several times that.
Serving Serve(TestServer& server, const sync::ServerConfig& config, bool narrow_window = false) {
  Serving out;
  auto started = sync::GrpcServer::Start(&server.logic(), config);
  EXPECT_TRUE(started.ok()) << started.status().ToString();
  if (!started.ok()) return out;
  out.grpc = std::move(started).value();
  grpc::ChannelArguments args;
  if (narrow_window) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  }
  out.stub = v1::Sync::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(out.grpc->port()), grpc::InsecureChannelCredentials(), args));
  return out;
}

// Tablets on slow links keep push streams open for minutes. Such a stream waits for the tablet
// without holding one of the server's threads, so the other calls are still served.
TEST(ServerThreadLimitTest, OpenPushStreamsHoldNoServerThread) {
  TestServer server;
  server.LoadMasterData();
  sync::ServerConfig config;
  config.max_threads = 4;
  Serving serving = Serve(server, config);
  ASSERT_TRUE(serving.stub);
  v1::Sync::Stub* stub = serving.stub.get();

  constexpr int kStreams = 8;  // twice the threads
  std::vector<Tablet> tablets;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::PushBatch, v1::PushAck>>> streams;
  for (int i = 0; i < kStreams; ++i) {
    tablets.push_back(server.EnrolTablet("ENT", "ENT tablet " + std::to_string(i)));
    RecordHandover(tablets.back(), "B20000" + std::to_string(i));
    contexts.push_back(CallContext(tablets.back().token));
    streams.push_back(stub->Push(contexts.back().get()));
    ASSERT_TRUE(
        streams.back()->Write(NextPushBatch(*tablets.back().store, 100, server.clock().now())));
  }
  // Every stream is served while all of them stay open...
  for (int i = 0; i < kStreams; ++i) {
    v1::PushAck ack;
    ASSERT_TRUE(streams[i]->Read(&ack))
        << "stream " << i << ": " << streams[i]->Finish().error_message();
    EXPECT_EQ(ack.acked_seq(), 3u) << i;
  }
  // ...and so is a call of another kind.
  v1::StatusResponse status;
  grpc::Status asked = stub->GetStatus(CallContext(tablets[0].token).get(), {}, &status);
  EXPECT_TRUE(asked.ok()) << asked.error_message();
  for (auto& stream : streams) {
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  RawDb db(server.db_path());
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM handovers"), kStreams);
}

// `n` registrations of a tablet at ENT, pushed in process: for n in the thousands, a feed several
// times gRPC's 64 KiB flow-control window, so a pull of it that is not read stays open.
void PushRegistrations(TestServer& server, int n) {
  Tablet source = server.EnrolTablet("ENT", "ENT source");
  for (int i = 0; i < n; ++i) {
    core::BeneficiaryInput b;
    b.doc_number = "P" + std::to_string(1'000'000 + i);
    b.full_name = "Beneficiary " + std::to_string(i);
    b.household_size = 2;
    ASSERT_TRUE(source.store->RegisterBeneficiary(b).ok());
  }
  for (int pushed = 0; pushed < n + 1;) {  // and the source's stock receipt
    auto ack = server.logic().Push(source.token,
                                   NextPushBatch(*source.store, 1000, server.clock().now()));
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    ASSERT_TRUE(source.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());
    pushed = static_cast<int>(ack->acked_seq());
  }
}

// A tablet on a slow link takes its pulled batches slowly, or stops reading with the link: its
// pull waits in gRPC's flow control without holding one of the server's threads, so the other
// calls are still served, and every pull delivers the whole feed once its tablet reads again.
TEST(ServerThreadLimitTest, PullsThatTheTabletsDoNotReadHoldNoServerThread) {
  TestServer server;
  server.LoadMasterData();
  sync::ServerConfig config;
  config.max_threads = 4;
  Serving serving = Serve(server, config, /*narrow_window=*/true);
  ASSERT_TRUE(serving.stub);
  v1::Sync::Stub* stub = serving.stub.get();

  constexpr int kRegistrations = 6000;
  PushRegistrations(server, kRegistrations);

  constexpr int kStreams = 8;  // twice the threads
  std::vector<Tablet> tablets;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::PullBatch>>> pulls;
  std::vector<int64_t> received(kStreams, 0);
  v1::PullRequest request;
  request.set_batch_size(1000);
  for (int i = 0; i < kStreams; ++i) {
    tablets.push_back(server.EnrolTablet("ENT", "ENT tablet " + std::to_string(i)));
    request.set_feed_epoch(server.logic().GetStatus(tablets.back().token, {})->feed_epoch());
    contexts.push_back(CallContext(tablets.back().token));
    pulls.push_back(stub->Pull(contexts.back().get(), request));
    // One batch taken, then the tablet stops reading.
    v1::PullBatch batch;
    ASSERT_TRUE(pulls.back()->Read(&batch)) << i << ": " << pulls.back()->Finish().error_message();
    received[i] += batch.records().changes_size();
  }
  v1::StatusResponse status;
  grpc::Status asked = stub->GetStatus(CallContext(tablets[0].token).get(), {}, &status);
  EXPECT_TRUE(asked.ok()) << asked.error_message();

  // Every tablet gets the whole feed: the master data and all of the source's changes.
  for (int i = 0; i < kStreams; ++i) {
    v1::PullBatch batch;
    while (pulls[i]->Read(&batch)) received[i] += batch.records().changes_size();
    grpc::Status finished = pulls[i]->Finish();
    EXPECT_TRUE(finished.ok()) << i << ": " << finished.error_message();
    EXPECT_EQ(received[i], received[0]) << i;
  }
  EXPECT_GT(received[0], kRegistrations);
}

// Each open pull holds a batch while its tablet takes it: how many may be open is bounded, per
// tablet and in all, and a pull refused for it gets RESOURCE_EXHAUSTED.
TEST(ServerThreadLimitTest, PullsBeyondTheLimitsAreResourceExhaustedUntilOneEnds) {
  TestServer server;
  server.LoadMasterData();
  sync::ServerConfig config;
  config.max_pulls_per_device = 1;
  config.max_pulls = 2;
  Serving serving = Serve(server, config, /*narrow_window=*/true);
  ASSERT_TRUE(serving.stub);
  v1::Sync::Stub* stub = serving.stub.get();
  PushRegistrations(server, 6000);
  Tablet a = server.EnrolTablet("ENT", "ENT tablet A");
  Tablet b = server.EnrolTablet("ENT", "ENT tablet B");
  Tablet c = server.EnrolTablet("ENT", "ENT tablet C");

  struct OpenPull {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::PullBatch>> reader;
    int64_t received = 0;
  };
  // Opens a pull and takes its first batch; the tablet then stops reading.
  auto open = [&](const Tablet& t, OpenPull* out) {
    v1::PullRequest request;
    request.set_batch_size(1000);
    request.set_feed_epoch(server.logic().GetStatus(t.token, {})->feed_epoch());
    out->context = CallContext(t.token);
    out->reader = stub->Pull(out->context.get(), request);
    v1::PullBatch batch;
    if (!out->reader->Read(&batch)) return out->reader->Finish();
    out->received += batch.records().changes_size();
    return grpc::Status::OK;
  };
  auto drain = [](OpenPull* pull) {
    v1::PullBatch batch;
    while (pull->reader->Read(&batch)) pull->received += batch.records().changes_size();
    return pull->reader->Finish();
  };
  OpenPull a1, a2, b1, c1, c2;
  ASSERT_TRUE(open(a, &a1).ok());
  grpc::Status second = open(a, &a2);  // past the limit per tablet
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(second.error_message(), HasSubstr("at most 1 per tablet and 2 in all"));
  ASSERT_TRUE(open(b, &b1).ok());
  EXPECT_EQ(open(c, &c1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);  // in all

  ASSERT_TRUE(drain(&a1).ok());
  // a's pull has ended. The server uncounts it once it has let go of it, just after the tablet
  // hears the end: a bounded wait.
  grpc::Status again;
  for (int i = 0; i < 100; ++i) {
    c2 = OpenPull{};
    again = open(c, &c2);
    if (again.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(again.ok()) << again.error_message();
  ASSERT_TRUE(drain(&b1).ok());
  ASSERT_TRUE(drain(&c2).ok());
  EXPECT_GT(a1.received, 6000);
  EXPECT_EQ(b1.received, a1.received);
  EXPECT_EQ(c2.received, a1.received);
}

// Each open push stream may hold a few decoded batches: how many may be open is bounded, per
// tablet and in all, and a stream refused for it gets RESOURCE_EXHAUSTED.
TEST(ServerThreadLimitTest, PushStreamsBeyondTheLimitsAreResourceExhaustedUntilOneCloses) {
  TestServer server;
  server.LoadMasterData();
  sync::ServerConfig config;
  config.max_push_streams_per_device = 2;
  config.max_push_streams = 3;
  Serving serving = Serve(server, config);
  ASSERT_TRUE(serving.stub);
  v1::Sync::Stub* stub = serving.stub.get();
  Tablet a = server.EnrolTablet("ENT", "ENT tablet");
  Tablet b = server.EnrolTablet("NUN", "NUN tablet");

  struct OpenStream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::PushBatch, v1::PushAck>> stream;
  };
  // A stream that asks where the tablet stands (an empty batch): answered once it is counted.
  auto open = [&](const Tablet& t, OpenStream* out) {
    out->context = CallContext(t.token);
    out->stream = stub->Push(out->context.get());
    v1::PushBatch ask;
    ask.set_sender_wall_ms(server.clock().now());
    v1::PushAck ack;
    if (out->stream->Write(ask) && out->stream->Read(&ack)) return grpc::Status::OK;
    return out->stream->Finish();
  };
  OpenStream a1, a2, a3, b1, b2;
  ASSERT_TRUE(open(a, &a1).ok());
  ASSERT_TRUE(open(a, &a2).ok());
  grpc::Status refused = open(a, &a3);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("at most 2 per tablet"));
  ASSERT_TRUE(open(b, &b1).ok());
  EXPECT_EQ(open(b, &b2).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);  // 3 in all

  a1.stream->WritesDone();
  ASSERT_TRUE(a1.stream->Finish().ok());
  // The server counts the stream closed once it has let go of it, just after the tablet hears
  // the end: a bounded wait.
  grpc::Status again;
  for (int i = 0; i < 100; ++i) {
    OpenStream b3;
    again = open(b, &b3);
    if (again.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(again.ok()) << again.error_message();
  for (OpenStream* s : {&a2, &b1}) {
    s->stream->WritesDone();
    EXPECT_TRUE(s->stream->Finish().ok());
  }
}

TEST_F(ServerGrpcTest, OversizedMessageIsResourceExhausted) {
  v1::EnrollRequest request;
  request.set_code("AAAA-BBBB-CCCC");
  request.set_device_name(std::string(9 << 20, 'x'));
  v1::EnrollResponse response;
  grpc::Status status = enrollment_->Enroll(Context("").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM devices"), 0);
}

TEST_F(ServerGrpcTest, BadFieldsOnTheWireAreInvalidArgumentAndNothingApplied) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  RecordHandover(t, "A1000001");
  const v1::PushBatch good = NextPushBatch(*t.store, 100, server_.clock().now());

  // An enum number the contract does not define, as an older or hostile client may send.
  v1::PushBatch unknown_enum = good;
  v1::Handover* h = unknown_enum.mutable_records()->mutable_changes(2)->mutable_handover();
  h->GetReflection()->SetEnumValue(h, h->GetDescriptor()->FindFieldByName("collector"), 99);
  // first_seq (field 1, a varint) sent as a length-delimited field: protobuf keeps it as an
  // unknown field and reads first_seq as 0.
  v1::PushBatch without_seq = good;
  without_seq.clear_first_seq();
  const std::string bytes = without_seq.SerializeAsString() + std::string("\x0a\x01\x01", 3);
  v1::PushBatch wrong_type;
  ASSERT_TRUE(wrong_type.ParseFromString(bytes));
  ASSERT_EQ(wrong_type.first_seq(), 0u);
  // A record ID of 5 bytes and a reference to dictionary entry 0.
  v1::PushBatch short_id = good;
  short_id.mutable_records()->mutable_changes(1)->mutable_beneficiary()->set_id("12345");
  v1::PushBatch ref_zero = good;
  ref_zero.mutable_records()->mutable_changes(2)->mutable_handover()->set_kit_type_ref(0);

  for (const v1::PushBatch* bad : {&unknown_enum, &wrong_type, &short_id, &ref_zero}) {
    std::vector<v1::PushAck> acks;
    grpc::Status status = PushAll(t.token, {*bad}, &acks);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_TRUE(acks.empty());
  }
  EXPECT_EQ(FeedChangesFrom(t), 0);
}

TEST_F(ServerGrpcTest, HlcFarAheadIsFlaggedAndSenderClockBeyondSkewIsOutOfRange) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  const int64_t day = 24 * 3'600'000LL;
  server_.clock().Advance(day);
  RecordHandover(t, "A1000001");
  server_.clock().Advance(-day);
  const int64_t now = server_.clock().now();

  std::vector<v1::PushAck> acks;
  grpc::Status refused = PushAll(t.token, {NextPushBatch(*t.store, 100, now + day)}, &acks);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(FeedChangesFrom(t), 0);

  grpc::Status accepted = PushAll(t.token, {NextPushBatch(*t.store, 100, now)}, &acks);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].applied(), 3u);
  EXPECT_EQ(acks[0].flagged(), 2u);
}

TEST_F(ServerGrpcTest, PullStreamsEveryBatchUntilNothingRemains) {
  Tablet b = server_.EnrolTablet("ENT", "ENT tablet 2");
  ASSERT_NO_FATAL_FAILURE(PushThreeHandoversFromAnotherTablet());

  v1::PullRequest request;
  request.set_batch_size(3);
  auto context = Context(b.token);
  auto reader = sync_->Pull(context.get(), request);
  v1::PullBatch batch;
  int batches = 0;
  int changes = 0;
  uint64_t last_remaining = ~uint64_t{0};
  while (batches < 100 && reader->Read(&batch)) {
    ++batches;
    changes += batch.records().changes_size();
    // A page holds whole feed entries: it ends after the entry that reaches 3 changes, and a's
    // three handovers are one entry.
    EXPECT_LE(batch.records().changes_size(), 3 + 2);
    EXPECT_LT(batch.remaining(), last_remaining);
    last_remaining = batch.remaining();
    ASSERT_TRUE(ApplyPullBatch(*b.store, batch).ok());
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Master data, a's receipt, 3 beneficiaries, 3 handovers; the served summaries of its own
  // post's handovers are not sent to it.
  EXPECT_EQ(changes, 10 + 7);
  EXPECT_EQ(batches, 5);
  EXPECT_EQ(last_remaining, 0u);
  auto seen = b.store->ListHandovers({});
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->size(), 3u);
}

TEST_F(ServerGrpcTest, BatchesAsZstdFramesAreAppliedAndADamagedOneIsRefusedWhole) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  v1::StatusResponse status;
  ASSERT_TRUE(sync_->GetStatus(Context(t.token).get(), {}, &status).ok());
  EXPECT_THAT(status.wire_features(), ::testing::Contains(sync::kZstdRecordsFeature));
  RecordHandover(t, "A1000001");
  v1::PushBatch first = NextPushBatch(*t.store, 100, server_.clock().now());
  sync::PackRecords(first);
  ASSERT_FALSE(first.records_zstd().empty());
  std::vector<v1::PushAck> acks;
  grpc::Status accepted = PushAll(t.token, {first}, &acks);
  ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].acked_seq(), 3u);
  EXPECT_EQ(acks[0].applied(), 3u);
  ASSERT_TRUE(t.store->AcknowledgeUpload(3).ok());
  EXPECT_EQ(FeedChangesFrom(t), 3);

  RecordHandover(t, "A1000002");
  v1::PushBatch second = NextPushBatch(*t.store, 100, server_.clock().now());
  sync::PackRecords(second);
  std::string& frame = *second.mutable_records_zstd();
  frame[frame.size() / 2] = static_cast<char>(frame[frame.size() / 2] ^ 0x5a);
  acks.clear();
  grpc::Status refused = PushAll(t.token, {second}, &acks);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("records_zstd"));
  EXPECT_TRUE(acks.empty());
  EXPECT_EQ(FeedChangesFrom(t), 3);
}

TEST_F(ServerGrpcTest, APullThatNamesZstdGetsEachBatchAsOneFrame) {
  Tablet b = server_.EnrolTablet("ENT", "ENT tablet 2");
  ASSERT_NO_FATAL_FAILURE(PushThreeHandoversFromAnotherTablet());

  v1::PullRequest request;
  request.set_batch_size(3);
  sync::AddWireFeatures(request);
  auto context = Context(b.token);
  auto reader = sync_->Pull(context.get(), request);
  v1::PullBatch batch;
  int batches = 0;
  int changes = 0;
  while (batches < 100 && reader->Read(&batch)) {
    ++batches;
    EXPECT_FALSE(batch.has_records());
    ASSERT_FALSE(batch.records_zstd().empty());
    ASSERT_TRUE(sync::UnpackRecords(batch).ok());
    changes += batch.records().changes_size();
    ASSERT_TRUE(ApplyPullBatch(*b.store, batch).ok());
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  // As the same pull without the feature (PullStreamsEveryBatchUntilNothingRemains).
  EXPECT_EQ(changes, 10 + 7);
  EXPECT_EQ(batches, 5);
  auto seen = b.store->ListHandovers({});
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->size(), 3u);
}

TEST_F(ServerGrpcTest, StatusReportsTheDevicesCursorAndTheServersClock) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  RecordHandover(t, "A1000001");
  auto entries = t.store->PendingChanges(100);
  ASSERT_TRUE(entries.ok());
  std::vector<v1::PushAck> acks;
  ASSERT_TRUE(PushAll(t.token, {BuildPushBatch(*entries, server_.clock().now())}, &acks).ok());
  v1::StatusResponse status;
  ASSERT_TRUE(sync_->GetStatus(Context(t.token).get(), {}, &status).ok());
  EXPECT_EQ(status.acked_seq(), 3u);
  EXPECT_EQ(status.tip_hash(), entries->back().hash);
  EXPECT_EQ(status.post_code(), "ENT");
  EXPECT_EQ(status.feed_head(), 14u);  // master data, 3 changes, a served summary
  EXPECT_EQ(status.server_wall_ms(), server_.clock().now());
  EXPECT_EQ(status.max_clock_skew_ms(), server_.logic().options().max_clock_skew_ms);
}

TEST(ServerListenTest, PlaintextOffLoopbackIsRefused) {
  TestServer server;
  for (const char* address : {"0.0.0.0:0", "[::]:0", "192.168.1.10:0", "example.org:7443"}) {
    sync::ServerConfig config;
    config.listen_address = address;
    auto started = sync::GrpcServer::Start(&server.logic(), config);
    ASSERT_FALSE(started.ok()) << address;
    EXPECT_EQ(started.status().code(), core::Code::kFailedPrecondition) << address;
    EXPECT_THAT(started.status().message(), HasSubstr("loopback"));
  }
  sync::ServerConfig half_tls;
  half_tls.tls_cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(sync::GrpcServer::Start(&server.logic(), half_tls).status().code(),
            core::Code::kInvalidArgument);
}

TEST(ServerTlsTest, ServesOverTlsOnAnyAddressAndRefusesPlaintextClients) {
  TestServer server;
  const TestCertificate certificate = MakeSelfSignedCertificate();
  sync::ServerConfig config;
  config.listen_address = "0.0.0.0:0";  // allowed with TLS
  config.tls_cert_file = server.dir().File("cert.pem");
  config.tls_key_file = server.dir().File("key.pem");
  WriteFile(config.tls_cert_file, certificate.cert_pem);
  WriteFile(config.tls_key_file, certificate.key_pem);
  auto started = sync::GrpcServer::Start(&server.logic(), config);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_TRUE((*started)->tls());
  const std::string target = "localhost:" + std::to_string((*started)->port());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = certificate.cert_pem;
  auto admin = v1::Admin::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(ssl)));
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kDeadline);
  context->AddMetadata("authorization", "Bearer " + server.admin_token());
  v1::ListDevicesResponse devices;
  grpc::Status over_tls = admin->ListDevices(context.get(), {}, &devices);
  EXPECT_TRUE(over_tls.ok()) << over_tls.error_message();

  auto plain = v1::Admin::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto plain_context = std::make_unique<grpc::ClientContext>();
  plain_context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  plain_context->AddMetadata("authorization", "Bearer " + server.admin_token());
  grpc::Status refused = plain->ListDevices(plain_context.get(), {}, &devices);
  EXPECT_FALSE(refused.ok());
}

TEST(ServerTlsTest, UnreadableOrNonPemFilesAreRefused) {
  TestServer server;
  sync::ServerConfig config;
  config.tls_cert_file = server.dir().File("cert.pem");
  config.tls_key_file = server.dir().File("missing.pem");
  WriteFile(config.tls_cert_file, "not a certificate");
  EXPECT_EQ(sync::GrpcServer::Start(&server.logic(), config).status().code(),
            core::Code::kInvalidArgument);
  WriteFile(config.tls_key_file, "not a key either");
  EXPECT_EQ(sync::GrpcServer::Start(&server.logic(), config).status().code(),
            core::Code::kInvalidArgument);
}

TEST(ServerListenTest, LoopbackAddresses) {
  EXPECT_TRUE(sync::IsLoopbackAddress("127.0.0.1:0"));
  EXPECT_TRUE(sync::IsLoopbackAddress("127.3.2.1:7443"));
  EXPECT_TRUE(sync::IsLoopbackAddress("localhost:7443"));
  EXPECT_TRUE(sync::IsLoopbackAddress("[::1]:7443"));
  EXPECT_FALSE(sync::IsLoopbackAddress("128.0.0.1:7443"));
  EXPECT_FALSE(sync::IsLoopbackAddress("0.0.0.0:7443"));
  EXPECT_FALSE(sync::IsLoopbackAddress("[::]:7443"));
  EXPECT_FALSE(sync::IsLoopbackAddress("localhost.example.org:7443"));
  EXPECT_FALSE(sync::IsLoopbackAddress("127.0.0.1.nip.io:7443"));
}

}  // namespace
}  // namespace kitsync::synctest

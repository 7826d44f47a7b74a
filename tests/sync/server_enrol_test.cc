// Credentials through ServerLogic: the data directory's admin credential, one-time enrolment
// codes, device tokens, revocation, and who may make which call.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "kitsync/sync/server_auth.h"
#include "kitsync/sync/wire.h"
#include "sync_test_support.h"

namespace kitsync::synctest {
namespace {

using ::testing::HasSubstr;

class ServerEnrolTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.LoadMasterData(); }

  core::Result<v1::CreateEnrollmentCodeResponse> Code(const std::string& post, uint32_t minutes) {
    v1::CreateEnrollmentCodeRequest r;
    r.set_post_code(post);
    r.set_valid_minutes(minutes);
    return server_.logic().CreateEnrollmentCode(server_.admin_token(), r);
  }
  core::Result<v1::EnrollResponse> Enrol(const std::string& code, const std::string& name,
                                         const std::string& offered_token = "") {
    v1::EnrollRequest r;
    r.set_code(code);
    r.set_device_name(name);
    r.set_device_token(offered_token);
    return server_.logic().Enroll(r);
  }
  std::string NewToken() {
    auto t = sync::NewDeviceToken();
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  }
  // What enrolment writes, in one comparable string.
  std::string EnrolmentRows() {
    RawDb db(server_.db_path());
    return db.QueryText(
        "SELECT coalesce(group_concat(row, '|'), '') FROM ("
        "SELECT id || ',' || name || ',' || hex(token_sha256) || ',' || enrolled_ms AS row "
        "FROM devices UNION ALL "
        "SELECT hex(code_sha256) || ',' || coalesce(used_ms, '-') || ',' || "
        "coalesce(used_by, '-') FROM enrolment_codes ORDER BY 1)");
  }
  int64_t Devices() {
    RawDb db(server_.db_path());
    return db.QueryInt("SELECT count(*) FROM devices");
  }

  TestServer server_;
};

TEST_F(ServerEnrolTest, EnrolmentGivesACredentialForThePostAndTheProgrammeKey) {
  auto code = Code("ENT", 30);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->expires_wall_ms(), server_.clock().now() + 30 * 60'000);
  auto enrolled = Enrol(code->code(), "ENT tablet 1");
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  EXPECT_EQ(enrolled->post_code(), "ENT");
  EXPECT_EQ(*sync::UuidFromBytes(enrolled->post_id()), PostId("ENT"));
  EXPECT_EQ(enrolled->programme_key().size(), 32u);
  EXPECT_TRUE(sync::UuidFromBytes(enrolled->device_id()).ok());

  auto who = server_.logic().Authenticate(enrolled->device_token());
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_FALSE(who->is_admin());
  EXPECT_EQ(who->post_code, "ENT");
  EXPECT_EQ(who->device_id, *sync::UuidFromBytes(enrolled->device_id()));
}

TEST_F(ServerEnrolTest, CodeIsOneTime) {
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(Enrol(code->code(), "first").ok());
  auto second = Enrol(code->code(), "second");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(second.status().message(), HasSubstr("already used"));
  EXPECT_EQ(Devices(), 1);
}

TEST_F(ServerEnrolTest, CodeIsForgivingOfHowItIsTyped) {
  auto code = Code("NUN", 0);
  ASSERT_TRUE(code.ok());
  std::string typed;
  for (char c : code->code()) {
    if (c != '-') typed.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  auto enrolled = Enrol(typed, "typed by hand");
  EXPECT_TRUE(enrolled.ok()) << enrolled.status().ToString();
}

TEST_F(ServerEnrolTest, ATabletRepeatingItsEnrolmentAfterALostReplyGetsTheSameDeviceAgain) {
  auto code = Code("ENT", 10);
  ASSERT_TRUE(code.ok());
  const std::string token = NewToken();
  auto first = Enrol(code->code(), "ENT tablet 3", token);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->device_token(), token);
  const std::string written = EnrolmentRows();

  // The reply was lost; the tablet asks again, even after the code would have expired.
  server_.clock().Advance(60 * 60'000);
  auto again = Enrol(code->code(), "renamed meanwhile", token);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->device_id(), first->device_id());
  EXPECT_EQ(again->post_id(), first->post_id());
  EXPECT_EQ(again->post_code(), "ENT");
  EXPECT_EQ(again->device_token(), token);
  EXPECT_EQ(again->programme_key(), first->programme_key());
  EXPECT_EQ(EnrolmentRows(), written);  // nothing written the second time
  EXPECT_EQ(Devices(), 1);
  auto who = server_.logic().Authenticate(token);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->device_id, *sync::UuidFromBytes(first->device_id()));
}

TEST_F(ServerEnrolTest, AUsedCodeIsRefusedWithAnyOtherCredential) {
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(Enrol(code->code(), "first", NewToken()).ok());
  const std::string written = EnrolmentRows();
  for (const std::string& other : {NewToken(), std::string()}) {
    auto second = Enrol(code->code(), "second", other);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), core::Code::kUnauthenticated);
    EXPECT_THAT(second.status().message(), HasSubstr("already used"));
  }
  EXPECT_EQ(EnrolmentRows(), written);
}

TEST_F(ServerEnrolTest, ARevokedTabletCannotEnrolAgainWithItsCode) {
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  const std::string token = NewToken();
  auto first = Enrol(code->code(), "lost tablet", token);
  ASSERT_TRUE(first.ok());
  v1::RevokeDeviceRequest revoke;
  revoke.set_device_id(first->device_id());
  revoke.set_reason("stolen");
  ASSERT_TRUE(server_.logic().RevokeDevice(server_.admin_token(), revoke).ok());
  auto again = Enrol(code->code(), "lost tablet", token);
  EXPECT_EQ(again.status().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(again.status().message(), HasSubstr("revoked"));
  EXPECT_EQ(server_.logic().Authenticate(token).status().code(), core::Code::kUnauthenticated);
}

TEST_F(ServerEnrolTest, AMalformedOrTakenCredentialIsRefusedAndTheCodeStaysUnspent) {
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  const std::string good = NewToken();
  std::string bad_character = good;
  bad_character.back() = '+';
  for (const std::string& malformed :
       {std::string("ksd_short"), "ksa_" + good.substr(4), good + "A", bad_character,
        std::string(good.size(), 'x')}) {
    auto r = Enrol(code->code(), "tablet", malformed);
    EXPECT_EQ(r.status().code(), core::Code::kInvalidArgument) << malformed;
  }
  // A credential another device already holds.
  auto other = Code("ENT", 0);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(Enrol(other->code(), "first tablet", good).ok());
  const std::string written = EnrolmentRows();
  auto taken = Enrol(code->code(), "tablet", good);
  EXPECT_EQ(taken.status().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(taken.status().message(), HasSubstr("already held"));
  EXPECT_EQ(EnrolmentRows(), written);
  EXPECT_TRUE(Enrol(code->code(), "tablet", NewToken()).ok());
  EXPECT_EQ(Devices(), 2);
}

TEST_F(ServerEnrolTest, CodeExpires) {
  auto code = Code("ENT", 10);
  ASSERT_TRUE(code.ok());
  server_.clock().Advance(10 * 60'000);
  auto late = Enrol(code->code(), "late");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));
  EXPECT_EQ(Devices(), 0);
}

TEST_F(ServerEnrolTest, UnknownCodeAndBadRequestsAreRefused) {
  auto unknown = Enrol("AAAA-BBBB-CCCC", "x");
  EXPECT_EQ(unknown.status().code(), core::Code::kUnauthenticated);
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(Enrol(code->code(), "").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Enrol(code->code(), std::string(201, 'n')).status().code(),
            core::Code::kInvalidArgument);
  EXPECT_EQ(Enrol(std::string(65, 'A'), "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Enrol("", "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Devices(), 0);
  // The code was not spent by the refused attempts.
  EXPECT_TRUE(Enrol(code->code(), "ok").ok());
}

TEST_F(ServerEnrolTest, CodeRequestsAreChecked) {
  EXPECT_EQ(Code("XYZ", 0).status().code(), core::Code::kNotFound);
  EXPECT_EQ(Code("ent", 0).status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(Code("ENT", 10081).status().code(), core::Code::kInvalidArgument);
  EXPECT_TRUE(Code("ENT", 10080).ok());
}

TEST_F(ServerEnrolTest, NoOrWrongCredentialIsUnauthenticated) {
  v1::StatusRequest request;
  EXPECT_EQ(server_.logic().GetStatus("", request).status().code(), core::Code::kUnauthenticated);
  EXPECT_EQ(server_.logic().GetStatus("ksd_not-a-real-token", request).status().code(),
            core::Code::kUnauthenticated);
  EXPECT_EQ(server_.logic().ListDevices("ksa_guess", {}).status().code(),
            core::Code::kUnauthenticated);
}

TEST_F(ServerEnrolTest, EachCredentialMayMakeOnlyItsOwnCalls) {
  Tablet t = server_.EnrolTablet("ENT", "ENT tablet");
  auto admin_syncs = server_.logic().Pull(server_.admin_token(), {});
  EXPECT_EQ(admin_syncs.status().code(), core::Code::kPermissionDenied);
  auto admin_pushes = server_.logic().Push(server_.admin_token(),
                                           NextPushBatch(*t.store, 10, server_.clock().now()));
  EXPECT_EQ(admin_pushes.status().code(), core::Code::kPermissionDenied);

  EXPECT_EQ(server_.logic().ListDevices(t.token, {}).status().code(),
            core::Code::kPermissionDenied);
  v1::CreateEnrollmentCodeRequest code;
  code.set_post_code("ENT");
  EXPECT_EQ(server_.logic().CreateEnrollmentCode(t.token, code).status().code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(server_.logic()
                .LoadMasterData(t.token, MasterRequest(TestMasterData(), server_.clock().now()))
                .status()
                .code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(Devices(), 1);
}

TEST_F(ServerEnrolTest, RevokedDeviceIsUnauthenticatedOnItsNextCall) {
  Tablet t = server_.EnrolTablet("ENT", "lost tablet");
  RecordHandover(t, "A1000001");
  ASSERT_TRUE(server_.logic().GetStatus(t.token, {}).ok());

  v1::RevokeDeviceRequest revoke;
  revoke.set_device_id(sync::UuidToBytes(t.device_id));
  revoke.set_reason("lost at the border");
  ASSERT_TRUE(server_.logic().RevokeDevice(server_.admin_token(), revoke).ok());

  auto status = server_.logic().GetStatus(t.token, {});
  EXPECT_EQ(status.status().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(status.status().message(), HasSubstr("revoked"));
  auto push = server_.logic().Push(t.token, NextPushBatch(*t.store, 10, server_.clock().now()));
  EXPECT_EQ(push.status().code(), core::Code::kUnauthenticated);
  RawDb db(server_.db_path());
  EXPECT_EQ(db.QueryInt("SELECT " + kFeedChanges + " FROM feed WHERE origin_device = '" +
                        t.device_id + "'"),
            0);
}

TEST_F(ServerEnrolTest, RevokeChecksItsRequest) {
  v1::RevokeDeviceRequest revoke;
  revoke.set_device_id("12345");
  revoke.set_reason("x");
  EXPECT_EQ(server_.logic().RevokeDevice(server_.admin_token(), revoke).status().code(),
            core::Code::kInvalidArgument);
  revoke.set_device_id(sync::UuidToBytes("01900000-0000-7000-8000-000000000099"));
  EXPECT_EQ(server_.logic().RevokeDevice(server_.admin_token(), revoke).status().code(),
            core::Code::kNotFound);
  Tablet t = server_.EnrolTablet("ENT", "tablet");
  revoke.set_device_id(sync::UuidToBytes(t.device_id));
  revoke.set_reason("");
  EXPECT_EQ(server_.logic().RevokeDevice(server_.admin_token(), revoke).status().code(),
            core::Code::kInvalidArgument);
  EXPECT_TRUE(server_.logic().Authenticate(t.token).ok());
}

TEST_F(ServerEnrolTest, ListDevicesShowsPostLastPushBacklogAndRevocation) {
  Tablet ent = server_.EnrolTablet("ENT", "ENT tablet");
  Tablet nun = server_.EnrolTablet("NUN", "NUN tablet");
  RecordHandover(ent, "A1000001");
  server_.clock().Advance(5'000);
  v1::PushBatch batch = NextPushBatch(*ent.store, 2, server_.clock().now());
  batch.set_pending(1);
  ASSERT_TRUE(server_.logic().Push(ent.token, batch).ok());
  v1::RevokeDeviceRequest revoke;
  revoke.set_device_id(sync::UuidToBytes(nun.device_id));
  revoke.set_reason("stolen");
  ASSERT_TRUE(server_.logic().RevokeDevice(server_.admin_token(), revoke).ok());

  auto list = server_.logic().ListDevices(server_.admin_token(), {});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->devices_size(), 2);
  const v1::Device& e = list->devices(0);  // ordered by post code
  EXPECT_EQ(e.post_code(), "ENT");
  EXPECT_EQ(e.name(), "ENT tablet");
  EXPECT_EQ(e.acked_seq(), 2u);
  EXPECT_EQ(e.pending_reported(), 1u);
  EXPECT_EQ(e.last_push_wall_ms(), server_.clock().now());
  EXPECT_FALSE(e.revoked());
  const v1::Device& n = list->devices(1);
  EXPECT_EQ(n.post_code(), "NUN");
  EXPECT_TRUE(n.revoked());
  EXPECT_EQ(n.revoke_reason(), "stolen");
}

TEST_F(ServerEnrolTest, TokensAndCodesAreStoredOnlyAsDigests) {
  auto code = Code("ENT", 0);
  ASSERT_TRUE(code.ok());
  auto enrolled = Enrol(code->code(), "tablet");
  ASSERT_TRUE(enrolled.ok());
  RawDb db(server_.db_path());
  db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const std::string file = ReadFileBytes(server_.db_path());
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(file.find(enrolled->device_token()), std::string::npos);
  EXPECT_EQ(file.find(server_.admin_token()), std::string::npos);
  EXPECT_EQ(file.find(sync::NormalizeEnrolmentCode(code->code())), std::string::npos);
  EXPECT_NE(file.find(sync::Sha256(enrolled->device_token())), std::string::npos);
}

TEST(ServerInitTest, InitRefusesAnExistingDataDirectoryAndKeepsTheTokenPrivate) {
  TempDir dir;
  const std::string data = dir.File("data");
  auto first = sync::InitSqliteServerStore(data, 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->admin_token_file, data + "/admin.token");
  struct stat st {};
  ASSERT_EQ(::stat(first->admin_token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(sync::ServerDatabasePath(data).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "the database holds the programme key";

  auto again = sync::InitSqliteServerStore(data, 2);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), core::Code::kAlreadyExists);
  auto store = sync::OpenSqliteServerStore(data);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto admin = (*store)->Authenticate(first->admin_token, 3);
  ASSERT_TRUE(admin.ok()) << "the second init must not replace the credential";
  EXPECT_TRUE(admin->is_admin());
}

TEST(ServerInitTest, OpeningWhatWasNeverInitialisedIsNotFound) {
  TempDir dir;
  auto store = sync::OpenSqliteServerStore(dir.File("nothing"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), core::Code::kNotFound);
}

}  // namespace
}  // namespace kitsync::synctest

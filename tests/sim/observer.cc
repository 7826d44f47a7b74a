#include "observer.h"

#include "kitsync/sync/wire.h"

namespace kitsync::simtest {

// A tablet enrolled with no data of its own: all it will hold is what the server's feed gives
// its post.
synctest::Tablet EnrolObserver(synctest::TestServer& server, const std::string& post_code) {
  using synctest::Tablet;
  Tablet t;
  v1::CreateEnrollmentCodeRequest code_request;
  code_request.set_post_code(post_code);
  auto code = server.logic().CreateEnrollmentCode(server.admin_token(), code_request);
  EXPECT_TRUE(code.ok()) << code.status().ToString();
  if (!code.ok()) return t;
  v1::EnrollRequest enrol;
  enrol.set_code(code->code());
  enrol.set_device_name("observer " + post_code);
  auto enrolled = server.logic().Enroll(enrol);
  EXPECT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  if (!enrolled.ok()) return t;
  t.device_id = *sync::UuidFromBytes(enrolled->device_id());
  t.post_code = post_code;
  t.token = enrolled->device_token();
  t.db_path = server.dir().File("observer-" + post_code + ".db");
  core::StoreOptions options;
  options.clock = server.clock().AsWallClock();
  options.durable = false;
  auto store = core::Store::Create(
      t.db_path, core::TabletSetup{post_code, "observer", enrolled->programme_key(), t.device_id},
      options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (store.ok()) t.store = std::move(store).value();
  return t;
}

}  // namespace kitsync::simtest

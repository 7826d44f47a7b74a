// The real binaries end to end: kitsync-server on loopback, kitsync-admin to load master data
// and make enrolment codes, and two `kitsync` tablets at one post that enrol, record and sync;
// one of them killed with SIGKILL again and again while it pulls the other's records; an
// enrolment whose reply is lost on a link that goes down.
//
// KITSYNC_KILL_SEED=<n> replays the kill delays of a run; the seed is in every failure message.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "end_to_end_fixture.h"
#include "fault_proxy.h"
#include "kitsync/core/store.h"
#include "process.h"
#include "test_support.h"

namespace kitsync::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class EndToEndTest : public EndToEndFixture {
 protected:
  EndToEndTest() : EndToEndFixture(kTwoPostMasterJson) {}

  // Receives stock, registers someone and hands over a kit: three changes.
  std::string RecordAtPost(const std::string& db, const std::string& doc_number) {
    KitsyncJson(
        db, {"stock", "receive", "--kit", "HYG-KIT", "--quantity", "5", "--officer", "ENT-OF-01"});
    const json person =
        KitsyncJson(db, {"register", "--doc-number", doc_number, "--name", "Person " + doc_number});
    const std::string beneficiary = person.value("/beneficiary/id"_json_pointer, std::string());
    const json handover = KitsyncJson(
        db, {"record", "--round", "HYG-2026-11", "--beneficiary", beneficiary, "--kit", "HYG-KIT",
             "--officer", "ENT-OF-01", "--proof", "signature:sig-" + doc_number, "--consent"});
    return handover.value("/handover/id"_json_pointer, std::string());
  }
};

TEST_F(EndToEndTest, TwoTabletsAtOnePostSeeEachOthersRecords) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("b.db", "ENT tablet 2"));
  const std::string from_a = RecordAtPost("a.db", "A-1001");
  const std::string from_b = RecordAtPost("b.db", "B-2002");
  ASSERT_FALSE(from_a.empty());
  ASSERT_FALSE(from_b.empty());

  const json a1 = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(a1.value("pushed", -1), 3) << a1.dump();
  EXPECT_EQ(a1.value("pending", -1), 0);
  const json b1 = KitsyncJson("b.db", {"sync", "--window", "2", "--batch", "1"});
  EXPECT_EQ(b1.value("pushed", -1), 3) << b1.dump();
  EXPECT_GE(b1.value("pulled", -1), 3);  // at least tablet A's three
  const json a2 = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(a2.value("pushed", -1), 0) << a2.dump();  // nothing sent twice
  EXPECT_GE(a2.value("pulled", -1), 3);               // tablet B's three

  for (const std::string db : {"a.db", "b.db"}) {
    EXPECT_EQ(HandoverIds(db), (std::set<std::string>{from_a, from_b})) << db;
    const json stock = KitsyncJson(db, {"stock", "show"});
    ASSERT_EQ(stock["stock"].size(), 1u) << stock.dump();
    EXPECT_EQ(stock["stock"][0].value("received", -1), 10) << db;
    EXPECT_EQ(stock["stock"][0].value("handed_out", -1), 2) << db;
    const json status = KitsyncJson(db, {"status"});
    EXPECT_EQ(status.value("pending", -1), 0) << db;
  }
  const ProcessResult devices = Admin({"devices", "--json"});
  ASSERT_EQ(devices.exit_code, 0) << devices.Describe({"devices"});
  const json list = json::parse(devices.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << devices.out;
  ASSERT_EQ(list.size(), 2u);
  for (const json& d : list) EXPECT_EQ(d.value("acked_seq", 0), 3) << d.dump();
}

TEST_F(EndToEndTest, UnreachableServerIsAnUnknownOutcomeAndRevocationAnEnrolmentProblem) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  RecordAtPost("a.db", "A-1001");
  const std::string port = address_.substr(address_.rfind(':') + 1);

  server_->Stop();
  const ProcessResult offline = Kitsync("a.db", {"sync", "--timeout", "5"});
  EXPECT_EQ(offline.exit_code, 5) << offline.Describe({"sync"});
  // What the officer reads (before the technical details) never calls the records failed.
  const std::string words = offline.err.substr(0, offline.err.find("Details:"));
  EXPECT_NE(words.find("not finished"), std::string::npos) << offline.err;
  EXPECT_NE(words.find("safe on this tablet"), std::string::npos) << offline.err;
  EXPECT_EQ(words.find("fail"), std::string::npos) << offline.err;
  EXPECT_EQ(words.find("rror"), std::string::npos) << offline.err;
  EXPECT_EQ(KitsyncJson("a.db", {"status"}).value("pending", -1), 3);

  // Back on the same address: the records go out.
  ASSERT_NO_FATAL_FAILURE(StartServer("127.0.0.1:" + port));
  const json online = KitsyncJson("a.db", {"sync"});
  EXPECT_EQ(online.value("pushed", -1), 3) << online.dump();

  const ProcessResult devices = Admin({"devices", "--json"});
  const json list = json::parse(devices.out, nullptr, false);
  ASSERT_TRUE(list.is_array() && list.size() == 1) << devices.out;
  const ProcessResult revoked =
      Admin({"revoke", list[0].value("id", ""), "--reason", "lost at the crossing"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.Describe({"revoke"});
  const ProcessResult refused = Kitsync("a.db", {"sync"});
  EXPECT_EQ(refused.exit_code, 6) << refused.Describe({"sync"});
  EXPECT_NE(refused.err.find("enrolment"), std::string::npos) << refused.err;
}

// --- An enrolment whose reply is lost ----------------------------------------------------------

TEST_F(EndToEndTest, AnEnrolmentWhoseReplyIsLostFinishesWhenTheOfficerRunsItAgain) {
  const ProcessResult made = Admin({"enrol-code", "--post", "ENT"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe({"enrol-code"});
  const std::string code = Trim(made.out);
  // A slow link: the reply waits in the proxy long enough for the link to go down under it.
  scenario::LinkProfile slow;
  slow.min_latency = 1500ms;
  slow.max_latency = 1500ms;
  slow.bytes_per_second = 0;
  auto proxy = scenario::FaultProxy::Start(address_, slow, /*seed=*/11);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();

  const std::vector<std::string> enrol = {"--db", dir_.File("t.db"), "enroll",
                                          "--server", (*proxy)->address(), "--code", code,
                                          "--device-name", "ENT tablet 1"};
  auto first = BackgroundProcess::Start(KITSYNC_BIN, enrol, dir_.File("enroll.log"));
  ASSERT_NE(first, nullptr);
  // The server takes the code; the link goes down before its answer gets through.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  int64_t spent = 0;
  while (spent == 0 && std::chrono::steady_clock::now() < give_up && !first->Exited()) {
    std::this_thread::sleep_for(10ms);
    ReadOnlyDb server_db(ServerDatabase());
    spent = server_db.QueryInt("SELECT count(*) FROM enrolment_codes WHERE used_ms IS NOT NULL");
  }
  ASSERT_EQ(spent, 1) << "the server never took the code; see " << dir_.File("enroll.log");
  (*proxy)->SetUp(false);
  while (!first->Exited() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(first->Exited());
  EXPECT_EQ(first->exit_code(), 5) << "outcome unknown; see " << dir_.File("enroll.log");
  EXPECT_FALSE(std::filesystem::exists(dir_.File("t.db")));
  EXPECT_TRUE(std::filesystem::exists(dir_.File("t.db.kitsync-enrolment")));

  // Another tablet cannot use the code that was taken.
  const ProcessResult other = Kitsync("other.db", {"enroll", "--server", address_, "--code", code,
                                                   "--device-name", "ENT tablet 2"});
  EXPECT_EQ(other.exit_code, 6) << other.Describe({"enroll"});
  EXPECT_NE(other.err.find("already used"), std::string::npos) << other.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.File("other.db")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("other.db.kitsync-enrolment")));

  // The link is back: the officer runs the same command, and the server knows the tablet again.
  const json done = KitsyncJson("t.db", {"enroll", "--server", address_, "--code", code,
                                         "--device-name", "ENT tablet 1"});
  ASSERT_EQ(done.value("post_code", ""), "ENT") << done.dump();
  EXPECT_GE(done["first_sync"].value("pulled", 0), 5) << done.dump();
  EXPECT_FALSE(std::filesystem::exists(dir_.File("t.db.kitsync-enrolment")));
  const json devices = AdminJson({"devices"});
  ASSERT_TRUE(devices.is_array() && devices.size() == 1) << devices.dump();
  EXPECT_EQ(devices[0].value("id", ""), done.value("device_id", "")) << done.dump();

  // And it works as any enrolled tablet.
  RecordAtPost("t.db", "A-2001");
  const json synced = KitsyncJson("t.db", {"sync"});
  EXPECT_EQ(synced.value("pushed", -1), 3) << synced.dump();
}

// --- A sync killed in the middle of a pull ---------------------------------------------------

// The facts a tablet pulls, with the table that holds them on the tablet and a key unique per
// fact there.
struct FactKind {
  const char* entity;  // as in the server's feed
  const char* table;
  const char* key;
};
constexpr std::array<FactKind, 4> kFactKinds = {{
    {"beneficiary", "beneficiaries", "id"},
    {"handover", "handovers", "id"},
    {"handover_void", "handover_voids", "handover_id || '/' || device_id"},
    {"stock_movement", "stock_movements", "id"},
}};

// Tablet A's backlog: per returnee a registration and a handover, every kVoidEvery-th handover
// voided, and a shipment received before every kKitsPerShipment returnees. Some 40,000 changes:
// at 500 per pulled batch, some eighty batches, each mixing the kinds of fact.
constexpr int kBacklogHandovers = 20000;
constexpr int kVoidEvery = 50;
constexpr int kKitsPerShipment = 1000;
constexpr int kShipments = (kBacklogHandovers + kKitsPerShipment - 1) / kKitsPerShipment;
constexpr int64_t kBacklogChanges =
    kShipments + 2 * kBacklogHandovers + (kBacklogHandovers + kVoidEvery - 1) / kVoidEvery;
// Kill moments: a random delay after `kitsync sync` starts. On a two-core machine the process
// needs some 70-100 ms to start, open the tablet and ask the server where it stands before its
// first batch is committed, then commits every 20-150 ms (one batch, or the several that
// arrived meanwhile, in one transaction): the whole backlog takes about a second. The range
// lands most kills while batches are being applied, some before the pull.
constexpr int kMinKillDelayMs = 40;
constexpr int kMaxKillDelayMs = 160;
constexpr int kMaxKills = 15;
constexpr auto kKillBudget = 30s;
// Kills that must land after the killed pass had applied at least one batch but before the
// last one: the moment a non-atomic apply-then-store-cursor would leave its damage.
constexpr int kMinKillsMidPull = 3;

uint64_t KillSeed() {
  if (const char* env = std::getenv("KITSYNC_KILL_SEED")) return std::stoull(env);
  return std::random_device{}();
}

// What tablet B holds, read from its file with plain SQL, outside the store.
struct PulledState {
  std::string integrity;
  int64_t cursor = 0;
  std::map<std::string, int64_t> rows;      // entity -> rows held
  std::map<std::string, int64_t> distinct;  // entity -> distinct keys among them
};

PulledState ReadPulledState(const std::string& db_path) {
  ReadOnlyDb db(db_path);
  PulledState s;
  s.integrity = db.QueryText("PRAGMA integrity_check");
  s.cursor = db.QueryInt("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pull_cursor'");
  for (const FactKind& k : kFactKinds) {
    s.rows[k.entity] = db.QueryInt(std::string("SELECT count(*) FROM ") + k.table);
    s.distinct[k.entity] =
        db.QueryInt(std::string("SELECT count(DISTINCT ") + k.key + ") FROM " + k.table);
  }
  return s;
}

// The server's feed as tablet B pulls it, read from the server's database: how many facts of
// each kind lie at or below a cursor in the post's channel.
class FeedShape {
  static inline const std::string kChanges =
      "coalesce(sum(CASE WHEN entity = 'handovers' THEN CAST(entity_id AS INTEGER) ELSE 1 END), 0)";

 public:
  explicit FeedShape(const std::string& server_db) : db_(server_db) {
    channel_ = db_.QueryText("SELECT id FROM posts WHERE code = 'ENT'");
    head_ = db_.QueryInt("SELECT max(server_seq) FROM feed");
  }
  int64_t head() const { return head_; }
  // A push batch's handovers are one entry ('handovers', its entity ID how many; schema step 10
  // in docs/server.md): it counts for each of them.
  int64_t Covered(const std::string& entity, int64_t cursor) {
    const std::string run = entity == "handover" ? "handovers" : entity;
    return db_.QueryInt("SELECT " + kChanges + " FROM feed WHERE channel = '" + channel_ +
                        "' AND entity IN ('" + entity + "', '" + run +
                        "') AND server_seq <= " + std::to_string(cursor));
  }
  int64_t ChannelSize() {
    return db_.QueryInt("SELECT " + kChanges + " FROM feed WHERE channel = '" + channel_ + "'");
  }

 private:
  ReadOnlyDb db_;
  std::string channel_;
  int64_t head_ = 0;
};

// Tablet A's backlog, written through its store directly: the CLI records one handover per
// process, which would take minutes for thousands. Durability of A is not what is tested here.
void RecordBacklog(const std::string& db_path) {
  core::StoreOptions options;
  options.durable = false;
  auto store = core::Store::Open(db_path, options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int i = 0; i < kBacklogHandovers; ++i) {
    if (i % kKitsPerShipment == 0) {
      core::MovementInput receipt;
      receipt.kind = core::MovementKind::kReceipt;
      receipt.kit_type_code = "HYG-KIT";
      receipt.quantity = kKitsPerShipment;
      receipt.reference = "WB-" + std::to_string(i / kKitsPerShipment);
      receipt.officer_code = "ENT-OF-01";
      auto received = (*store)->RecordMovement(receipt);
      ASSERT_TRUE(received.ok()) << received.status().ToString();
    }
    core::BeneficiaryInput person;
    person.doc_number = "K-" + std::to_string(100000 + i);
    person.full_name = "Returnee " + std::to_string(i);
    person.household_size = 1 + i % 6;
    auto registered = (*store)->RegisterBeneficiary(person);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
    core::HandoverInput h;
    h.round_code = "HYG-2026-11";
    h.beneficiary_id = registered->id;
    h.kit_type_code = "HYG-KIT";
    h.officer_code = "ENT-OF-01";
    h.proof = {core::ProofKind::kSignature, "sig-" + std::to_string(i)};
    h.consent = true;
    auto recorded = (*store)->RecordHandover(h);
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    if (i % kVoidEvery == 0) {
      auto voided = (*store)->VoidHandover(
          {recorded->handover.id, "recorded for the wrong family", "ENT-OF-01"});
      ASSERT_TRUE(voided.ok()) << voided.status().ToString();
    }
  }
}

core::FactsDigest Digest(const std::string& db_path) {
  auto store = core::Store::Open(db_path);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return {};
  auto digest = (*store)->DigestFacts();
  EXPECT_TRUE(digest.ok()) << digest.status().ToString();
  return digest.ok() ? *digest : core::FactsDigest{};
}

// `kitsync sync` on tablet B is killed with SIGKILL again and again while it pulls tablet A's
// backlog, then run to the end. The tablet applies each pulled batch and stores its pull cursor
// in one transaction; after every kill its file must show exactly that.
TEST_F(EndToEndTest, SyncKilledMidPullResumesWithNothingLostOrDuplicated) {
  const uint64_t seed = KillSeed();
  SCOPED_TRACE(::testing::Message()
               << "seed " << seed << " (replay with KITSYNC_KILL_SEED=" << seed << ")");
  std::mt19937 rng(static_cast<std::mt19937::result_type>(seed));

  // B is enrolled first: its enrolment's own first sync would otherwise pull the whole backlog.
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("a.db", "ENT tablet 1"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("b.db", "ENT tablet 2"));
  ASSERT_NO_FATAL_FAILURE(RecordBacklog(dir_.File("a.db")));
  const json a_sync = KitsyncJson("a.db", {"sync"});
  ASSERT_EQ(a_sync.value("pushed", -1), kBacklogChanges) << a_sync.dump();
  ASSERT_EQ(a_sync.value("pending", -1), 0) << a_sync.dump();

  // Nothing writes to the feed from here on, so its shape is fixed.
  FeedShape feed(ServerDatabase());
  int64_t feed_facts = 0;
  for (const FactKind& k : kFactKinds) feed_facts += feed.Covered(k.entity, feed.head());
  ASSERT_EQ(feed_facts, kBacklogChanges);
  // Nothing in the post's channel that the checks below do not count.
  ASSERT_EQ(feed.ChannelSize(), kBacklogChanges);
  const PulledState start = ReadPulledState(dir_.File("b.db"));
  ASSERT_LT(start.cursor, feed.head());
  for (const FactKind& k : kFactKinds) ASSERT_EQ(start.rows.at(k.entity), 0) << k.entity;

  int kills = 0;
  int kills_pull_unfinished = 0;  // B's cursor below the feed's head after the kill
  int kills_mid_pull = 0;         // ... and the killed pass had applied at least one batch
  std::vector<int64_t> cursors = {start.cursor};
  int64_t cursor = start.cursor;
  const auto budget_end = std::chrono::steady_clock::now() + kKillBudget;
  std::uniform_int_distribution<int> delay_ms(kMinKillDelayMs, kMaxKillDelayMs);
  for (int attempt = 0;
       attempt < kMaxKills && cursor < feed.head() && std::chrono::steady_clock::now() < budget_end;
       ++attempt) {
    const int delay = delay_ms(rng);
    SCOPED_TRACE(::testing::Message() << "attempt " << attempt << ", kill after " << delay
                                      << " ms, pull cursor before " << cursor);
    auto sync = BackgroundProcess::Start(KITSYNC_BIN, {"--db", dir_.File("b.db"), "sync", "--json"},
                                         dir_.File("b-sync-" + std::to_string(attempt) + ".log"));
    ASSERT_NE(sync, nullptr);
    // The delay only chooses the kill moment; what happened is read from the file below.
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    if (!sync->Exited()) {
      sync->Kill();
      ++kills;
    } else {
      // The pass ended by itself before its kill: it must have finished.
      EXPECT_EQ(sync->exit_code(), 0)
          << "see " << dir_.File("b-sync-" + std::to_string(attempt) + ".log");
    }

    const PulledState s = ReadPulledState(dir_.File("b.db"));
    ASSERT_EQ(s.integrity, "ok");
    ASSERT_GE(s.cursor, cursor) << "the pull cursor moved backwards";
    ASSERT_LE(s.cursor, feed.head());
    // The check that catches a non-atomic apply: B holds exactly the facts its cursor covers,
    // kind by kind. Rows stored in one transaction and the cursor in another would show, after a
    // kill between them, either more rows than the cursor covers (rows first; the next pass
    // pulls them again and, since a record already held is skipped, nothing else would ever
    // notice) or fewer (cursor first; the next pass starts past them and they are lost for
    // good). Counts that merely never decrease, or ids that are unique, would miss the first.
    for (const FactKind& k : kFactKinds) {
      EXPECT_EQ(s.rows.at(k.entity), feed.Covered(k.entity, s.cursor))
          << k.entity << " held by B at pull cursor " << s.cursor;
      EXPECT_EQ(s.distinct.at(k.entity), s.rows.at(k.entity)) << k.entity;
    }
    if (sync->exit_code() == 128 + SIGKILL && s.cursor < feed.head()) {
      ++kills_pull_unfinished;
      if (s.cursor > cursor) ++kills_mid_pull;
    }
    cursor = s.cursor;
    cursors.push_back(cursor);
    if (HasFailure()) break;
  }
  std::ostringstream trail;
  for (int64_t c : cursors) trail << " " << c;
  SCOPED_TRACE("pull cursor after each pass:" + trail.str() + " (feed head " +
               std::to_string(feed.head()) + ")");
  std::cout << "[ kills    ] " << kills << " kills, " << kills_pull_unfinished
            << " with the pull unfinished, " << kills_mid_pull
            << " after the killed pass had applied a batch; cursors" << trail.str() << " of "
            << feed.head() << "\n";
  // Without these, the kills did not reach the moment under test: make the backlog bigger or
  // the delays shorter, rather than accepting fewer.
  if (!HasFailure()) {
    EXPECT_GE(kills_mid_pull, kMinKillsMidPull);
  }

  // Recovery: one pass to the end brings everything, once.
  const json b_sync = KitsyncJson("b.db", {"sync"});
  EXPECT_EQ(b_sync.value("pull_cursor", -1), feed.head()) << b_sync.dump();
  const PulledState end = ReadPulledState(dir_.File("b.db"));
  ASSERT_EQ(end.integrity, "ok");
  for (const FactKind& k : kFactKinds) {
    EXPECT_EQ(end.rows.at(k.entity), feed.Covered(k.entity, feed.head())) << k.entity;
    EXPECT_EQ(end.distinct.at(k.entity), end.rows.at(k.entity)) << k.entity;
  }
  const std::string limit = std::to_string(10 * kBacklogHandovers);
  const json a_list = KitsyncJson("a.db", {"handovers", "--limit", limit});
  const json b_list = KitsyncJson("b.db", {"handovers", "--limit", limit});
  std::set<std::string> a_ids;
  std::set<std::string> b_ids;
  for (const json& h : a_list["handovers"]) a_ids.insert(h.value("id", ""));
  for (const json& h : b_list["handovers"]) b_ids.insert(h.value("id", ""));
  EXPECT_EQ(a_ids.size(), static_cast<size_t>(kBacklogHandovers));
  EXPECT_EQ(b_list["handovers"].size(), b_ids.size()) << "a handover listed twice on B";
  int missing_on_b = 0;
  for (const std::string& id : a_ids) missing_on_b += b_ids.count(id) == 0 ? 1 : 0;
  EXPECT_EQ(missing_on_b, 0) << "of A's " << a_ids.size() << " handovers";
  EXPECT_TRUE(a_ids == b_ids) << "A holds " << a_ids.size() << " handovers, B " << b_ids.size();
  const core::FactsDigest a_digest = Digest(dir_.File("a.db"));
  const core::FactsDigest b_digest = Digest(dir_.File("b.db"));
  EXPECT_EQ(a_digest.facts, kBacklogChanges);
  EXPECT_EQ(b_digest.facts, a_digest.facts);
  EXPECT_EQ(b_digest.sha256_hex, a_digest.sha256_hex);
}

}  // namespace
}  // namespace kitsync::testing

// Every kind of conflict through the real binaries: tablets at two posts work offline with
// `kitsync`, sync with a real `kitsync-server`, and the central office lists and resolves what
// the server detected with `kitsync-admin`; the decision reaches the post's tablets on their
// next sync. Tablet files are read with plain SQL only as an independent check.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "end_to_end_fixture.h"
#include "process.h"

namespace kitsync::testing {
namespace {

using nlohmann::json;

// Two posts with two officers each, the central office (HQ) with its own officer, and a round
// of one hygiene kit per beneficiary.
constexpr char kMasterJson[] = R"({
  "kit_types": [{"code": "HYG-KIT", "name": "Hygiene kit", "unit": "kit"}],
  "posts": [{"code": "HQ", "name": "Central office"},
            {"code": "ENT", "name": "Entikong"},
            {"code": "NUN", "name": "Nunukan"}],
  "officers": [{"code": "HQ-OF-01", "name": "Dewi Anggraini", "post": "HQ", "role": "admin"},
               {"code": "ENT-OF-01", "name": "Ayu Lestari", "post": "ENT", "role": "officer"},
               {"code": "ENT-OF-02", "name": "Budi Santoso", "post": "ENT", "role": "officer"},
               {"code": "NUN-OF-01", "name": "Rina Wati", "post": "NUN", "role": "officer"},
               {"code": "NUN-OF-02", "name": "Yusuf Hamid", "post": "NUN", "role": "supervisor"}],
  "rounds": [{"code": "HYG-2026-11", "name": "Hygiene kits", "requires_proof": true,
              "entitlements": [{"kit_type": "HYG-KIT", "max_per_beneficiary": 1}]}]
})";

constexpr char kRound[] = "HYG-2026-11";
constexpr char kAdmin[] = "Dewi Anggraini (central office)";

// Conflicts of one kind in a `conflicts list --json` answer.
std::vector<json> OfKind(const json& list, const std::string& kind) {
  std::vector<json> out;
  if (!list.is_array()) return out;
  for (const json& c : list) {
    if (c.value("kind", "") == kind) out.push_back(c);
  }
  return out;
}

std::set<std::string> SideIds(const json& conflict, const std::string& entity) {
  std::set<std::string> ids;
  for (const json& s : conflict["sides"]) {
    if (s.value("entity", "") == entity) ids.insert(s.value("id", ""));
  }
  return ids;
}

std::set<std::string> Strings(const json& array) {
  std::set<std::string> out;
  if (!array.is_array()) return out;
  for (const json& s : array) out.insert(s.is_string() ? s.get<std::string>() : s.dump());
  return out;
}

std::set<std::string> Ids(const json& list) {
  std::set<std::string> ids;
  if (!list.is_array()) return ids;
  for (const json& c : list) ids.insert(c.value("id", ""));
  return ids;
}

class ConflictsEndToEndTest : public EndToEndFixture {
 protected:
  ConflictsEndToEndTest() : EndToEndFixture(kMasterJson) {}

  void Receive(const std::string& db, int quantity, const std::string& officer) {
    KitsyncJson(db, {"stock", "receive", "--kit", "HYG-KIT", "--quantity", std::to_string(quantity),
                     "--officer", officer});
  }

  // The new beneficiary's ID.
  std::string Register(const std::string& db, const std::string& doc_number,
                       const std::string& name, const std::string& phone = "") {
    std::vector<std::string> args = {"register", "--doc-number", doc_number, "--name", name};
    if (!phone.empty()) args.insert(args.end(), {"--phone", phone});
    const json person = KitsyncJson(db, args);
    const std::string id = person.value("/beneficiary/id"_json_pointer, std::string());
    EXPECT_FALSE(id.empty()) << person.dump();
    return id;
  }

  std::vector<std::string> RecordArgs(const std::string& beneficiary, const std::string& officer) {
    return {"record",
            "--round",
            kRound,
            "--beneficiary",
            beneficiary,
            "--kit",
            "HYG-KIT",
            "--officer",
            officer,
            "--proof",
            "signature:sig-" + beneficiary.substr(0, 8),
            "--consent"};
  }

  // Records a handover that needs no override; its ID.
  std::string Hand(const std::string& db, const std::string& beneficiary,
                   const std::string& officer) {
    const json handover = KitsyncJson(db, RecordArgs(beneficiary, officer));
    const std::string id = handover.value("/handover/id"_json_pointer, std::string());
    EXPECT_FALSE(id.empty()) << handover.dump();
    return id;
  }

  // One `kitsync sync` that must finish with nothing left to send.
  json Sync(const std::string& db) {
    const json result = KitsyncJson(db, {"sync"});
    EXPECT_EQ(result.value("pending", -1), 0) << db << ": " << result.dump();
    return result;
  }

  json ListConflicts(std::vector<std::string> filters = {}) {
    filters.insert(filters.begin(), {"conflicts", "list"});
    const json list = AdminJson(filters);
    EXPECT_TRUE(list.is_array()) << list.dump();
    return list;
  }

  // `conflicts resolve ID ...` that must succeed; the conflict as the server left it.
  json Resolve(const std::string& id, std::vector<std::string> args) {
    args.insert(args.begin(), {"conflicts", "resolve", id});
    const json resolved = AdminJson(args);
    EXPECT_EQ(resolved.value("status", ""), "resolved") << resolved.dump();
    return resolved;
  }

  // Handover ID -> voided, from `kitsync handovers --json`; a handover listed twice fails.
  std::map<std::string, bool> HandoverStates(const std::string& db) {
    const json list = KitsyncJson(db, {"handovers"});
    std::map<std::string, bool> states;
    for (const json& h : list["handovers"]) {
      const bool first = states.emplace(h.value("id", ""), h.value("voided", false)).second;
      EXPECT_TRUE(first) << db << " lists handover " << h.value("id", "") << " twice";
    }
    EXPECT_EQ(list.value("count", -1), static_cast<int64_t>(states.size())) << db;
    return states;
  }

  json Stock(const std::string& db) {
    const json stock = KitsyncJson(db, {"stock", "show"});
    EXPECT_EQ(stock["stock"].size(), 1u) << db << ": " << stock.dump();
    return stock["stock"].empty() ? json::object() : stock["stock"][0];
  }

  // The audit entries of `action` on `target`.
  std::vector<json> AuditOf(const std::string& action, const std::string& target) {
    const json audit = AdminJson({"audit"});
    EXPECT_TRUE(audit.is_array()) << audit.dump();
    std::vector<json> out;
    if (!audit.is_array()) return out;
    for (const json& e : audit) {
      if (e.value("action", "") == action && e.value("target", "") == target) out.push_back(e);
    }
    return out;
  }

  // Both tablets of a post sync until each has the other's records, then hold the same
  // handovers with the same void flags and the same stock: `expected` handover ID -> voided.
  void ExpectPostConverges(const std::string& a, const std::string& b,
                           const std::map<std::string, bool>& expected) {
    Sync(a);
    Sync(b);
    Sync(a);
    const std::map<std::string, bool> on_a = HandoverStates(a);
    const std::map<std::string, bool> on_b = HandoverStates(b);
    EXPECT_EQ(on_a, expected) << a;
    EXPECT_EQ(on_b, expected) << b;
    EXPECT_EQ(Stock(a), Stock(b));
    // Every fact once on each tablet: the counts match the distinct IDs.
    for (const std::string& db : {a, b}) {
      ReadOnlyDb file(dir_.File(db));
      EXPECT_EQ(file.QueryInt("SELECT count(*) - count(DISTINCT id) FROM handovers"), 0) << db;
      EXPECT_EQ(file.QueryInt("SELECT count(*) - count(DISTINCT handover_id || '/' || device_id) "
                              "FROM handover_voids"),
                0)
          << db;
      EXPECT_EQ(file.QueryInt("SELECT count(*) - count(DISTINCT id) FROM beneficiaries"), 0) << db;
      EXPECT_EQ(file.QueryInt("SELECT count(*) - count(DISTINCT id) FROM stock_movements"), 0)
          << db;
    }
  }
};

// The same family registered and served a hygiene kit at Entikong and at Nunukan, both offline.
// The server lists the excess with both handovers (and the double registration); the office
// voids Entikong's handover, and both Entikong tablets show it voided after their next sync.
TEST_F(ConflictsEndToEndTest, EntitlementExceededAtTwoPostsIsResolvedByVoidingOneHandover) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-a.db", "ENT tablet 1", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-b.db", "ENT tablet 2", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("nun.db", "NUN tablet 1", "NUN"));

  Receive("ent-a.db", 5, "ENT-OF-01");
  const std::string ent_person = Register("ent-a.db", "P 7700001", "Siti Rahma");
  const std::string ent_handover = Hand("ent-a.db", ent_person, "ENT-OF-01");
  Receive("nun.db", 5, "NUN-OF-01");
  const std::string nun_person = Register("nun.db", "P 7700001", "Siti Rahma");
  const std::string nun_handover = Hand("nun.db", nun_person, "NUN-OF-02");
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(ListConflicts().empty()) << "nothing reached the server yet";

  Sync("ent-a.db");
  Sync("nun.db");
  const json open = ListConflicts();
  ASSERT_EQ(open.size(), 2u) << open.dump(2);
  const std::vector<json> excess = OfKind(open, "entitlement-exceeded");
  const std::vector<json> duplicate = OfKind(open, "duplicate-beneficiary");
  ASSERT_EQ(excess.size(), 1u) << open.dump(2);
  ASSERT_EQ(duplicate.size(), 1u) << open.dump(2);
  const json& conflict = excess[0];
  EXPECT_EQ(conflict.value("status", ""), "open");
  EXPECT_EQ(Strings(conflict["posts"]), (std::set<std::string>{"ENT", "NUN"})) << conflict.dump(2);
  EXPECT_EQ(SideIds(conflict, "handover"), (std::set<std::string>{ent_handover, nun_handover}));
  std::set<std::string> side_posts;
  for (const json& s : conflict["sides"]) side_posts.insert(s.value("post", ""));
  EXPECT_EQ(side_posts, (std::set<std::string>{"ENT", "NUN"}));
  EXPECT_EQ(SideIds(duplicate[0], "beneficiary"), (std::set<std::string>{ent_person, nun_person}));
  const std::string id = conflict.value("id", "");
  // Both questions concern both posts; none concerns the central office.
  EXPECT_EQ(Ids(ListConflicts({"--post", "NUN"})), Ids(open));
  EXPECT_TRUE(ListConflicts({"--post", "HQ"}).empty());
  // The report of open conflicts counts them by kind and severity.
  const ProcessResult report = Admin({"report", "conflicts", "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.Describe({"report", "conflicts"});
  const json rows = json::parse(report.out, nullptr, false).value("rows", json::array());
  ASSERT_EQ(rows.size(), 2u) << report.out;
  EXPECT_EQ(rows[0].value("kind", ""), "duplicate-beneficiary");
  EXPECT_EQ(rows[0].value("severity", ""), "low");
  EXPECT_EQ(rows[0].value("open", 0), 1);
  EXPECT_EQ(rows[1].value("kind", ""), "entitlement-exceeded");
  EXPECT_EQ(rows[1].value("severity", ""), "high");
  EXPECT_EQ(rows[1].value("open", 0), 1);
  EXPECT_EQ(rows[1]["posts"], json::array({"ENT", "NUN"}));
  const json shown = AdminJson({"conflicts", "show", id});
  EXPECT_EQ(shown.value("id", ""), id);
  EXPECT_EQ(SideIds(shown, "handover"), (std::set<std::string>{ent_handover, nun_handover}));

  const std::string note = "served at Nunukan the same week; this kit is to be returned";
  const json resolved = Resolve(id, {"--action", "void", "--handover", ent_handover, "--officer",
                                     "ENT-OF-02", "--note", note, "--by", kAdmin});
  EXPECT_EQ(Strings(resolved["records"]), (std::set<std::string>{ent_handover}))
      << resolved.dump(2);

  // Entikong's tablet learns of the void; Nunukan's handover stands.
  Sync("ent-a.db");
  const std::map<std::string, bool> ent_states = HandoverStates("ent-a.db");
  EXPECT_EQ(ent_states, (std::map<std::string, bool>{{ent_handover, true}}));
  const json listed = KitsyncJson("ent-a.db", {"handovers"});
  ASSERT_EQ(listed["handovers"].size(), 1u);
  EXPECT_EQ(listed["handovers"][0].value("/void/reason"_json_pointer, std::string()), note);
  Sync("nun.db");
  EXPECT_EQ(HandoverStates("nun.db"), (std::map<std::string, bool>{{nun_handover, false}}));

  const json done = ListConflicts({"--status", "resolved"});
  ASSERT_EQ(done.size(), 1u) << done.dump(2);
  EXPECT_EQ(done[0].value("id", ""), id);
  EXPECT_EQ(done[0].value("resolution", ""), "void");
  EXPECT_EQ(done[0].value("resolved_by", ""), kAdmin);
  EXPECT_EQ(done[0].value("note", ""), note);
  // The double registration is a question of its own and stays open.
  EXPECT_EQ(Ids(ListConflicts({"--status", "open"})),
            (std::set<std::string>{duplicate[0].value("id", "")}));

  const std::vector<json> audit = AuditOf("resolve-conflict", id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].value("actor", ""), kAdmin);
  const std::string detail = audit[0].value("detail", "");
  EXPECT_NE(detail.find("action=void"), std::string::npos) << detail;
  EXPECT_NE(detail.find("handover=" + ent_handover), std::string::npos) << detail;

  ExpectPostConverges("ent-a.db", "ent-b.db", {{ent_handover, true}});
}

// Two tablets at Entikong register the same document offline. The office keeps both
// registrations; both tablets hold both after syncing.
TEST_F(ConflictsEndToEndTest, DuplicateBeneficiaryIsResolvedByKeepingBoth) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-a.db", "ENT tablet 1", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-b.db", "ENT tablet 2", "ENT"));
  Receive("ent-a.db", 3, "ENT-OF-01");
  const std::string on_a = Register("ent-a.db", "Q 1234567", "Agus Salim");
  const std::string handover = Hand("ent-a.db", on_a, "ENT-OF-01");
  const std::string on_b = Register("ent-b.db", "Q 1234567", "Agus Salim", "+62 812 5555 0101");
  ASSERT_FALSE(HasFailure());

  Sync("ent-a.db");
  Sync("ent-b.db");
  const json open = ListConflicts();
  ASSERT_EQ(open.size(), 1u) << open.dump(2);
  const json& conflict = open[0];
  EXPECT_EQ(conflict.value("kind", ""), "duplicate-beneficiary");
  EXPECT_EQ(conflict.value("status", ""), "open");
  EXPECT_EQ(Strings(conflict["posts"]), (std::set<std::string>{"ENT"}));
  EXPECT_EQ(SideIds(conflict, "beneficiary"), (std::set<std::string>{on_a, on_b}));
  const std::string id = conflict.value("id", "");

  // Keeping both is a decision that needs its reason.
  const ProcessResult no_note =
      Admin({"conflicts", "resolve", id, "--action", "keep-both", "--by", kAdmin});
  EXPECT_NE(no_note.exit_code, 0) << no_note.Describe({"resolve without --note"});
  EXPECT_NE(no_note.err.find("INVALID_ARGUMENT"), std::string::npos) << no_note.err;

  const std::string note = "one family registered at both counters on a busy morning";
  Resolve(id, {"--action", "keep-both", "--note", note, "--by", kAdmin});
  EXPECT_TRUE(ListConflicts({"--status", "open"}).empty());
  const json done = ListConflicts({"--status", "resolved"});
  ASSERT_EQ(done.size(), 1u) << done.dump(2);
  EXPECT_EQ(done[0].value("id", ""), id);
  EXPECT_EQ(done[0].value("resolution", ""), "keep-both");
  EXPECT_EQ(done[0].value("resolved_by", ""), kAdmin);
  const std::vector<json> audit = AuditOf("resolve-conflict", id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].value("actor", ""), kAdmin);

  ExpectPostConverges("ent-a.db", "ent-b.db", {{handover, false}});
  for (const std::string db : {"ent-a.db", "ent-b.db"}) {
    ReadOnlyDb file(dir_.File(db));
    EXPECT_EQ(file.QueryInt("SELECT count(*) FROM beneficiaries WHERE id IN ('" + on_a + "', '" +
                            on_b + "')"),
              2)
        << db;
    EXPECT_EQ(file.QueryInt("SELECT count(DISTINCT doc_hash) FROM beneficiaries"), 1) << db;
    // The decision itself reached both tablets, with the note an officer reads.
    const json decisions = KitsyncJson(db, {"resolutions"});
    ASSERT_EQ(decisions["resolutions"].size(), 1u) << decisions.dump();
    EXPECT_EQ(decisions["resolutions"][0].value("action", ""), "keep-both");
    EXPECT_EQ(decisions["resolutions"][0].value("note", ""), note);
    EXPECT_EQ(decisions["resolutions"][0].value("decided_by", ""), kAdmin);
  }
}

// A post with one kit serves two families: the second handover is refused without an officer's
// reason (exit code 3) and recorded with one. The server lists the negative balance; the office
// records the missing receipt, and the post's tablets balance at zero after their next sync.
TEST_F(ConflictsEndToEndTest, StockDeficitIsResolvedByARecordedReceipt) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-a.db", "ENT tablet 1", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-b.db", "ENT tablet 2", "ENT"));
  Receive("ent-a.db", 1, "ENT-OF-01");
  const std::string first =
      Hand("ent-a.db", Register("ent-a.db", "R 1000001", "Maria Ulu"), "ENT-OF-01");
  const std::string second_person = Register("ent-a.db", "R 1000002", "Yohanes Bria");
  ASSERT_FALSE(HasFailure());

  const std::vector<std::string> record = RecordArgs(second_person, "ENT-OF-02");
  const ProcessResult refused = Kitsync("ent-a.db", record);
  EXPECT_EQ(refused.exit_code, 3) << refused.Describe(record);
  EXPECT_NE(refused.err.find("NOT recorded"), std::string::npos) << refused.err;
  EXPECT_EQ(HandoverStates("ent-a.db").size(), 1u) << "a refused handover was written";

  std::vector<std::string> overridden = record;
  overridden.insert(overridden.end(),
                    {"--override-reason", "the last kit of the shipment was already promised"});
  const json recorded = KitsyncJson("ent-a.db", overridden);
  const std::string second = recorded.value("/handover/id"_json_pointer, std::string());
  ASSERT_FALSE(second.empty()) << recorded.dump();
  EXPECT_FALSE(recorded["overridden"].empty()) << recorded.dump();
  EXPECT_EQ(Stock("ent-a.db").value("balance", 0), -1);

  Sync("ent-a.db");
  const json open = ListConflicts({"--kind", "stock-deficit"});
  ASSERT_EQ(open.size(), 1u) << open.dump(2);
  const json& conflict = open[0];
  EXPECT_EQ(conflict.value("status", ""), "open");
  EXPECT_EQ(Strings(conflict["posts"]), (std::set<std::string>{"ENT"}));
  ASSERT_EQ(conflict["sides"].size(), 1u) << conflict.dump(2);
  EXPECT_EQ(conflict["sides"][0].value("entity", ""), "stock");
  EXPECT_EQ(conflict["sides"][0].value("id", ""), "ENT/HYG-KIT");
  EXPECT_EQ(conflict["sides"][0].value("quantity", 0), -1) << conflict.dump(2);
  EXPECT_EQ(ListConflicts().size(), 1u) << "only the deficit";
  const std::string id = conflict.value("id", "");

  const json resolved =
      Resolve(id, {"--action", "receipt", "--quantity", "1", "--reference", "WB-0077", "--officer",
                   "HQ-OF-01", "--note", "second carton never entered", "--by", kAdmin});
  ASSERT_EQ(resolved["records"].size(), 1u) << resolved.dump(2);
  EXPECT_TRUE(ListConflicts({"--status", "open"}).empty());
  EXPECT_EQ(Ids(ListConflicts({"--status", "resolved"})), (std::set<std::string>{id}));
  const std::vector<json> audit = AuditOf("resolve-conflict", id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].value("actor", ""), kAdmin);
  EXPECT_NE(audit[0].value("detail", "").find("quantity=1"), std::string::npos);

  ExpectPostConverges("ent-a.db", "ent-b.db", {{first, false}, {second, false}});
  for (const std::string db : {"ent-a.db", "ent-b.db"}) {
    const json line = Stock(db);
    EXPECT_EQ(line.value("received", -1), 2) << db;
    EXPECT_EQ(line.value("handed_out", -1), 2) << db;
    EXPECT_EQ(line.value("balance", -1), 0) << db;
  }
}

// A phone corrected at the post and, differently, at the centre, neither having seen the other.
// The server lists both corrections with the version they started from; the office picks the
// centre's, and both of the post's tablets hold it after their next sync.
TEST_F(ConflictsEndToEndTest, ConcurrentCorrectionsAreResolvedByPickingOne) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-a.db", "ENT tablet 1", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-b.db", "ENT tablet 2", "ENT"));
  Receive("ent-a.db", 2, "ENT-OF-01");
  const std::string person = Register("ent-a.db", "S 2020202", "Nur Aini", "+62 811 000 001");
  const std::string handover = Hand("ent-a.db", person, "ENT-OF-01");
  ASSERT_FALSE(HasFailure());
  Sync("ent-a.db");
  Sync("ent-b.db");
  const std::string phone_sql = "SELECT phone FROM beneficiaries WHERE id = '" + person + "'";
  ASSERT_EQ(ReadOnlyDb(dir_.File("ent-b.db")).QueryText(phone_sql), "+62 811 000 001");

  // The centre corrects first; tablet A, not having synced since, corrects differently after.
  const ProcessResult central = Admin({"beneficiary", "correct", person, "--phone",
                                       "+62 811 999 111", "--officer", "HQ-OF-01", "--by", kAdmin});
  ASSERT_EQ(central.exit_code, 0) << central.Describe({"beneficiary correct"});
  const std::string central_correction = Trim(central.out);
  const json at_post = KitsyncJson(
      "ent-a.db", {"correct", person, "--phone", "+62 811 222 333", "--officer", "ENT-OF-02"});
  const std::string post_correction = at_post.value("correction_id", "");
  ASSERT_FALSE(post_correction.empty()) << at_post.dump();
  ASSERT_NE(post_correction, central_correction);
  EXPECT_TRUE(ListConflicts().empty()) << "the post's correction has not reached the server";

  Sync("ent-a.db");
  const json open = ListConflicts({"--kind", "concurrent-update"});
  ASSERT_EQ(open.size(), 1u) << open.dump(2);
  const json& conflict = open[0];
  EXPECT_EQ(conflict.value("status", ""), "open");
  EXPECT_EQ(SideIds(conflict, "base"), (std::set<std::string>{person})) << conflict.dump(2);
  EXPECT_EQ(SideIds(conflict, "correction"),
            (std::set<std::string>{central_correction, post_correction}));
  EXPECT_EQ(conflict["sides"].size(), 3u) << conflict.dump(2);
  const std::string id = conflict.value("id", "");

  const json resolved = Resolve(id, {"--action", "pick", "--correction", central_correction,
                                     "--officer", "HQ-OF-01", "--by", kAdmin});
  ASSERT_EQ(resolved["records"].size(), 1u) << resolved.dump(2);
  EXPECT_EQ(Ids(ListConflicts({"--status", "resolved"})), (std::set<std::string>{id}));
  EXPECT_TRUE(ListConflicts({"--status", "open"}).empty());
  const std::vector<json> audit = AuditOf("resolve-conflict", id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].value("actor", ""), kAdmin);
  EXPECT_NE(audit[0].value("detail", "").find("picked=" + central_correction), std::string::npos);
  EXPECT_EQ(AuditOf("correct-beneficiary", person).size(), 1u);

  ExpectPostConverges("ent-a.db", "ent-b.db", {{handover, false}});
  for (const std::string db : {"ent-a.db", "ent-b.db"}) {
    EXPECT_EQ(ReadOnlyDb(dir_.File(db)).QueryText(phone_sql), "+62 811 999 111") << db;
  }
}

// One family registered and served at Entikong and at Nunukan, offline. The office merges
// Entikong's registration into Nunukan's: both posts' tablets list the family's handovers under
// the kept ID, and Entikong serves the family under it. Meanwhile an Entikong tablet, not yet
// synced, corrected the retired registration: the server lists an update-vs-void conflict, the
// office restores the correction onto the kept registration, and every tablet holds it.
TEST_F(ConflictsEndToEndTest, DuplicateBeneficiaryIsMergedAndACorrectionThatMissedItIsRestored) {
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-a.db", "ENT tablet 1", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("ent-b.db", "ENT tablet 2", "ENT"));
  ASSERT_NO_FATAL_FAILURE(EnrolTablet("nun.db", "NUN tablet 1", "NUN"));
  Receive("ent-a.db", 5, "ENT-OF-01");
  Receive("nun.db", 5, "NUN-OF-01");
  const std::string retired = Register("ent-a.db", "M 5500001", "Maria Goreti", "+62 811 100 100");
  const std::string at_ent = Hand("ent-a.db", retired, "ENT-OF-01");
  const std::string kept = Register("nun.db", "M 5500001", "Maria Goreti Ulu");
  const std::string at_nun = Hand("nun.db", kept, "NUN-OF-01");
  ASSERT_FALSE(HasFailure());
  Sync("ent-a.db");
  Sync("nun.db");
  Sync("ent-b.db");

  const std::vector<json> duplicate = OfKind(ListConflicts(), "duplicate-beneficiary");
  ASSERT_EQ(duplicate.size(), 1u);
  EXPECT_EQ(SideIds(duplicate[0], "beneficiary"), (std::set<std::string>{retired, kept}));
  const std::string id = duplicate[0].value("id", "");
  auto served_all_posts = [&] {
    const ProcessResult report = Admin({"report", "beneficiaries", "--format", "json"});
    EXPECT_EQ(report.exit_code, 0) << report.Describe({"report", "beneficiaries"});
    const json rows = json::parse(report.out, nullptr, false).value("rows", json::array());
    for (const json& row : rows) {
      if (row.value("post", "x").empty()) return row.value("beneficiaries", int64_t{-1});
    }
    return int64_t{-1};
  };
  EXPECT_EQ(served_all_posts(), 2);

  // A merge names the registration to keep, one of the conflict's, and says why.
  const ProcessResult stranger =
      Admin({"conflicts", "resolve", id, "--action", "merge", "--keep", at_ent, "--note", "x",
             "--by", kAdmin});
  EXPECT_NE(stranger.exit_code, 0) << stranger.Describe({"merge --keep <a handover>"});
  EXPECT_NE(stranger.err.find("INVALID_ARGUMENT"), std::string::npos) << stranger.err;
  const std::string note = "the same passport; Nunukan holds the household's current card";
  const json merged =
      Resolve(id, {"--action", "merge", "--keep", kept, "--note", note, "--by", kAdmin});
  ASSERT_EQ(merged["records"].size(), 1u) << merged.dump(2);
  const std::vector<json> merge_audit = AuditOf("resolve-conflict", id);
  ASSERT_EQ(merge_audit.size(), 1u);
  EXPECT_NE(merge_audit[0].value("detail", "").find("keep=" + kept), std::string::npos)
      << merge_audit[0].dump();
  EXPECT_EQ(served_all_posts(), 1) << "a merged family is served once";

  // Tablet A, not synced since, corrects the registration the office just retired.
  const json missed = KitsyncJson(
      "ent-a.db", {"correct", retired, "--phone", "+62 811 200 200", "--officer", "ENT-OF-02"});
  const std::string correction = missed.value("correction_id", "");
  ASSERT_FALSE(correction.empty()) << missed.dump();

  Sync("nun.db");
  Sync("ent-b.db");
  Sync("ent-a.db");
  // Every tablet lists the family's handovers at its post under the kept ID; the handovers
  // themselves still name the registration they were recorded for.
  const std::map<std::string, std::string> expected = {
      {"ent-a.db", at_ent}, {"ent-b.db", at_ent}, {"nun.db", at_nun}};
  for (const auto& [db, handover] : expected) {
    const json listed = KitsyncJson(db, {"handovers", "--beneficiary", kept});
    ASSERT_EQ(listed["handovers"].size(), 1u) << db << ": " << listed.dump(2);
    const json& h = listed["handovers"][0];
    EXPECT_EQ(h.value("id", ""), handover) << db;
    const bool from_retired = db != "nun.db";
    EXPECT_EQ(h.value("beneficiary_id", ""), from_retired ? retired : kept) << db;
    EXPECT_EQ(h["merged_into"], from_retired ? json(kept) : json(nullptr)) << db;
    ReadOnlyDb file(dir_.File(db));
    EXPECT_EQ(file.QueryText("SELECT kept_id FROM beneficiary_merges WHERE retired_id = '" +
                             retired + "'"),
              kept)
        << db;
  }
  // Entikong serves the family under the retired ID: the kit is recorded for the kept one,
  // and, the family being served already, only with an officer's reason.
  std::vector<std::string> again = RecordArgs(retired, "ENT-OF-02");
  const ProcessResult refused = Kitsync("ent-b.db", again);
  EXPECT_EQ(refused.exit_code, 3) << refused.Describe(again);
  again.insert(again.end(), {"--override-reason", "second kit agreed with the round lead"});
  const json recorded = KitsyncJson("ent-b.db", again);
  EXPECT_EQ(recorded.value("/handover/beneficiary_id"_json_pointer, std::string()), kept)
      << recorded.dump(2);
  EXPECT_EQ(recorded.value("merged_from", ""), retired) << recorded.dump(2);
  const std::string third = recorded.value("/handover/id"_json_pointer, std::string());
  // Once it knows of the merge, tablet A no longer corrects the retired registration.
  const std::vector<std::string> correct_again = {"correct", retired, "--phone", "+62 811 300 300",
                                                  "--officer", "ENT-OF-02"};
  const ProcessResult not_again = Kitsync("ent-a.db", correct_again);
  EXPECT_NE(not_again.exit_code, 0) << not_again.Describe(correct_again);
  EXPECT_NE(not_again.err.find(kept), std::string::npos) << not_again.err;

  const json open = ListConflicts({"--kind", "update-vs-void"});
  ASSERT_EQ(open.size(), 1u) << open.dump(2);
  const json& conflict = open[0];
  EXPECT_EQ(conflict.value("status", ""), "open");
  EXPECT_EQ(Strings(conflict["posts"]), (std::set<std::string>{"ENT"}));
  EXPECT_EQ(SideIds(conflict, "merge"), Strings(merged["records"])) << conflict.dump(2);
  EXPECT_EQ(SideIds(conflict, "correction"), (std::set<std::string>{correction}));
  const std::string phone_sql = "SELECT phone FROM beneficiaries WHERE id = '" + kept + "'";
  EXPECT_EQ(ReadOnlyDb(dir_.File("nun.db")).QueryText(phone_sql), "") << "the merge stands";

  const std::string vid = conflict.value("id", "");
  const json restored = Resolve(vid, {"--action", "restore", "--officer", "HQ-OF-01", "--note",
                                      "the family's new number", "--by", kAdmin});
  ASSERT_EQ(restored["records"].size(), 1u) << restored.dump(2);
  const std::vector<json> restore_audit = AuditOf("resolve-conflict", vid);
  ASSERT_EQ(restore_audit.size(), 1u);
  EXPECT_NE(restore_audit[0].value("detail", "").find("restored=" + correction),
            std::string::npos)
      << restore_audit[0].dump();
  EXPECT_TRUE(ListConflicts({"--kind", "update-vs-void", "--status", "open"}).empty());

  ExpectPostConverges("ent-a.db", "ent-b.db", {{at_ent, false}, {third, false}});
  Sync("nun.db");
  for (const std::string db : {"ent-a.db", "ent-b.db", "nun.db"}) {
    EXPECT_EQ(ReadOnlyDb(dir_.File(db)).QueryText(phone_sql), "+62 811 200 200") << db;
    std::set<std::string> actions;
    const json decisions = KitsyncJson(db, {"resolutions"});
    for (const json& r : decisions["resolutions"]) {
      actions.insert(r.value("action", ""));
    }
    EXPECT_TRUE(actions.count("merge")) << db;
    EXPECT_EQ(actions.count("restore"), db == "nun.db" ? 0u : 1u) << db;
  }
  EXPECT_EQ(served_all_posts(), 1);
}

// The admin service refuses a caller without the admin credential, through the CLI as well.
TEST_F(ConflictsEndToEndTest, ConflictListWithAWrongAdminTokenIsUnauthenticated) {
  const std::string wrong = dir_.File("wrong.token");
  std::ofstream(wrong) << "not-the-admin-credential-0123456789abcdef\n";
  const std::vector<std::string> args = {"--server", address_,    "--token-file",
                                         wrong,      "conflicts", "list"};
  const ProcessResult refused =
      RunProcess(KITSYNC_ADMIN_BIN, args, dir_.path().string(), kCommandTimeout);
  EXPECT_NE(refused.exit_code, 0) << refused.Describe(args);
  EXPECT_NE(refused.err.find("UNAUTHENTICATED"), std::string::npos) << refused.Describe(args);
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  // The same call with the real credential goes through.
  const ProcessResult allowed = Admin({"conflicts", "list"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.Describe({"conflicts", "list"});
}

// An unknown kind is refused with the list of kinds to choose from, every one of them.
TEST_F(ConflictsEndToEndTest, ConflictListWithAnUnknownKindNamesEveryKind) {
  const ProcessResult refused = Admin({"conflicts", "list", "--kind", "double-served"});
  EXPECT_NE(refused.exit_code, 0) << refused.Describe({"conflicts list --kind double-served"});
  EXPECT_NE(refused.err.find("INVALID_ARGUMENT"), std::string::npos) << refused.err;
  for (const char* kind :
       {"entitlement-exceeded", "duplicate-beneficiary", "stock-deficit", "concurrent-update",
        "update-vs-void"}) {
    EXPECT_NE(refused.err.find(kind), std::string::npos)
        << kind << " missing from: " << refused.err;
    const ProcessResult listed = Admin({"conflicts", "list", "--kind", kind});
    EXPECT_EQ(listed.exit_code, 0) << listed.Describe({"conflicts list --kind", kind});
  }
}

}  // namespace
}  // namespace kitsync::testing

namespace kitsync::testing {
namespace {

// A central write whose answer never came is repeated with the request ID the tool printed, and
// the stock counts it once.
TEST_F(ConflictsEndToEndTest, AStockReceiptRepeatedWithItsRequestIdIsRecordedOnce) {
  const std::vector<std::string> receive = {"--request-id", "WB-HQ-2026-11-001-a", "stock",
                                            "receive", "--post", "HQ", "--kit", "HYG-KIT",
                                            "--quantity", "500", "--officer", "HQ-OF-01"};
  const ProcessResult first = Admin(receive);
  ASSERT_EQ(first.exit_code, 0) << first.Describe(receive);
  const ProcessResult again = Admin(receive);
  ASSERT_EQ(again.exit_code, 0) << again.Describe(receive);
  EXPECT_EQ(again.out, first.out);  // the same movement's ID
  const ProcessResult report = Admin({"report", "stock", "--post", "HQ", "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const json stock = json::parse(report.out, nullptr, false);
  ASSERT_EQ(stock["rows"].size(), 1u) << stock.dump();
  EXPECT_EQ(stock["rows"][0].value("received", 0), 500);

  // With no server to answer, the tool says how to repeat the write safely.
  const ProcessResult unreachable = RunProcess(
      KITSYNC_ADMIN_BIN,
      {"--server", "127.0.0.1:1", "--token-file", token_file_, "--timeout", "2", "stock",
       "receive", "--post", "HQ", "--kit", "HYG-KIT", "--quantity", "5", "--officer",
       "HQ-OF-01"},
      dir_.path().string(), kCommandTimeout);
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.err;
  EXPECT_NE(unreachable.err.find("--request-id "), std::string::npos) << unreachable.err;
}

}  // namespace
}  // namespace kitsync::testing

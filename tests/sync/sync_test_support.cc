#include "sync_test_support.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "kitsync/core/canonical.h"
#include "kitsync/core/change_log.h"
#include "kitsync/sync/wire.h"

namespace kitsync::synctest {
namespace {

std::filesystem::path FreshTempPath() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const std::string name = "kitsync-sync-test-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter++) + "-" + std::to_string(rd());
  return std::filesystem::temp_directory_path() / name;
}

}  // namespace

TempDir::TempDir() : path_(FreshTempPath()) { std::filesystem::create_directories(path_); }

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

core::MasterData TestMasterData() {
  core::MasterData m;
  m.kit_types = {
      {"00000000-0000-7000-8000-000000000001", "HYG-KIT", "Hygiene kit", "kit"},
      {"00000000-0000-7000-8000-000000000002", "PPE-SET", "Protective-equipment set", "set"}};
  m.posts = {{"00000000-0000-7000-8000-000000000010", "HQ", "Central warehouse"},
             {"00000000-0000-7000-8000-000000000011", "ENT", "Entikong"},
             {"00000000-0000-7000-8000-000000000012", "NUN", "Nunukan"}};
  m.officers = {{"00000000-0000-7000-8000-000000000020", "HQ-OF-1", "Officer HQ", m.posts[0].id,
                 core::OfficerRole::kSupervisor},
                {"00000000-0000-7000-8000-000000000021", "ENT-OF-1", "Officer Entikong",
                 m.posts[1].id, core::OfficerRole::kOfficer},
                {"00000000-0000-7000-8000-000000000022", "NUN-OF-1", "Officer Nunukan",
                 m.posts[2].id, core::OfficerRole::kOfficer}};
  m.rounds = {{"00000000-0000-7000-8000-000000000031",
               "HYG-R1",
               "Hygiene round",
               true,
               {{m.kit_types[0].id, 1}}},
              {"00000000-0000-7000-8000-000000000032",
               "PPE-R1",
               "PPE round",
               false,
               {{m.kit_types[1].id, 2}}}};
  return m;
}

std::string PostId(const std::string& code) {
  for (const core::Post& p : TestMasterData().posts) {
    if (p.code == code) return p.id;
  }
  throw std::invalid_argument("no test post " + code);
}

v1::LoadMasterDataRequest MasterRequest(const core::MasterData& data, int64_t now_ms) {
  v1::LoadMasterDataRequest request;
  sync::RecordBatchWriter writer(request.mutable_records());
  const core::Hlc stamp{now_ms, 0};
  for (const auto& k : data.kit_types) writer.Add(stamp, k);
  for (const auto& p : data.posts) writer.Add(stamp, p);
  for (const auto& o : data.officers) writer.Add(stamp, o);
  for (const auto& r : data.rounds) writer.Add(stamp, r);
  return request;
}

TestServer::TestServer(const sync::ServerLogicOptions& options,
                       const sync::SqliteServerStoreOptions& store_options) {
  data_dir_ = dir_.File("server");
  auto init = sync::InitSqliteServerStore(data_dir_, clock_.now());
  if (!init.ok()) throw std::runtime_error(init.status().ToString());
  admin_token_ = init->admin_token;
  auto store = sync::OpenSqliteServerStore(data_dir_, store_options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  store_ = std::move(store).value();
  logic_options_ = options;
  logic_ = std::make_unique<sync::ServerLogic>(store_.get(), clock_.AsWallClock(), options);
}

void TestServer::Reopen(const sync::SqliteServerStoreOptions& store_options) {
  logic_.reset();
  store_.reset();
  auto store = sync::OpenSqliteServerStore(data_dir_, store_options);
  if (!store.ok()) throw std::runtime_error(store.status().ToString());
  store_ = std::move(store).value();
  logic_ = std::make_unique<sync::ServerLogic>(store_.get(), clock_.AsWallClock(), logic_options_);
}

TestServer::~TestServer() = default;

std::string TestServer::db_path() const { return sync::ServerDatabasePath(data_dir_); }

void TestServer::LoadMasterData() {
  auto loaded = logic_->LoadMasterData(admin_token_, MasterRequest(TestMasterData(), clock_.now()));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
}

Tablet TestServer::EnrolTablet(const std::string& post_code, const std::string& name) {
  Tablet t;
  v1::CreateEnrollmentCodeRequest code_request;
  code_request.set_post_code(post_code);
  auto code = logic_->CreateEnrollmentCode(admin_token_, code_request);
  EXPECT_TRUE(code.ok()) << code.status().ToString();
  if (!code.ok()) return t;
  v1::EnrollRequest enrol;
  enrol.set_code(code->code());
  enrol.set_device_name(name);
  auto enrolled = logic_->Enroll(enrol);
  EXPECT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  if (!enrolled.ok()) return t;
  t.device_id = *sync::UuidFromBytes(enrolled->device_id());
  t.post_id = *sync::UuidFromBytes(enrolled->post_id());
  t.post_code = enrolled->post_code();
  t.token = enrolled->device_token();
  t.programme_key = enrolled->programme_key();
  t.db_path = dir_.File("tablet-" + std::to_string(++tablets_) + ".db");

  core::StoreOptions options;
  options.clock = clock_.AsWallClock();
  options.durable = false;  // tests measure correctness, not the tablet's fsyncs
  auto store = core::Store::Create(
      t.db_path, core::TabletSetup{post_code, name, t.programme_key, t.device_id}, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return t;
  t.store = std::move(store).value();
  core::Status imported = t.store->ImportMasterData(TestMasterData());
  EXPECT_TRUE(imported.ok()) << imported.ToString();
  core::MovementInput receipt;
  receipt.kind = core::MovementKind::kReceipt;
  receipt.kit_type_code = "HYG-KIT";
  receipt.quantity = 10'000;
  receipt.reference = "WB-1";
  receipt.officer_code = post_code + "-OF-1";
  auto received = t.store->RecordMovement(receipt);
  EXPECT_TRUE(received.ok()) << received.status().ToString();
  return t;
}

std::string RecordHandover(Tablet& tablet, const std::string& doc_number,
                           const std::string& proof_ref) {
  core::BeneficiaryInput b;
  b.doc_number = doc_number;
  b.full_name = "Beneficiary " + doc_number;
  b.household_size = 3;
  auto registered = tablet.store->RegisterBeneficiary(b);
  EXPECT_TRUE(registered.ok()) << registered.status().ToString();
  if (!registered.ok()) return "";
  core::HandoverInput h;
  h.round_code = "HYG-R1";
  h.beneficiary_id = registered->id;
  h.kit_type_code = "HYG-KIT";
  h.quantity = 1;
  h.officer_code = tablet.post_code + "-OF-1";
  h.proof = {core::ProofKind::kSignature, proof_ref};
  h.consent = true;
  auto recorded = tablet.store->RecordHandover(h);
  EXPECT_TRUE(recorded.ok()) << recorded.status().ToString();
  return recorded.ok() ? recorded->handover.id : "";
}

v1::PushBatch BuildPushBatch(const std::vector<core::ChangeEntry>& entries, int64_t sender_wall_ms,
                             uint64_t pending, sync::WireFeatures server_reads) {
  v1::PushBatch batch;
  batch.set_sender_wall_ms(sender_wall_ms);
  batch.set_pending(pending);
  if (entries.empty()) return batch;
  batch.set_first_seq(static_cast<uint64_t>(entries.front().seq));
  batch.set_tip_hash(entries.back().hash);
  sync::RecordBatchWriter writer(batch.mutable_records(), server_reads);
  for (const core::ChangeEntry& e : entries) {
    auto record = core::DecodeLogged(e.entity, e.payload);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    if (record.ok()) writer.Add(e.hlc, *record);
  }
  return batch;
}

v1::PushBatch NextPushBatch(core::Store& store, int64_t limit, int64_t sender_wall_ms,
                            sync::WireFeatures server_reads) {
  auto entries = store.PendingChanges(limit);
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  if (!entries.ok()) return {};
  return BuildPushBatch(*entries, sender_wall_ms, 0, server_reads);
}

v1::PushBatch ChainedBatch(const std::string& prev_hash, int64_t first_seq,
                           const std::vector<core::RemoteChange>& changes, int64_t sender_wall_ms) {
  std::vector<core::ChangeEntry> entries;
  std::string prev = prev_hash;
  for (size_t i = 0; i < changes.size(); ++i) {
    auto form = core::ToLoggedForm(changes[i].record);
    EXPECT_TRUE(form.ok()) << form.status().ToString();
    if (!form.ok()) return {};
    core::ChangeEntry e;
    e.seq = first_seq + static_cast<int64_t>(i);
    e.hlc = changes[i].hlc;
    e.entity = form->entity;
    e.entity_id = form->entity_id;
    e.op = "create";
    e.payload = form->payload;
    e.prev_hash = prev;
    e.hash = core::ChainHash(e, prev);
    prev = e.hash;
    entries.push_back(std::move(e));
  }
  return BuildPushBatch(entries, sender_wall_ms);
}

core::Status ApplyPullBatch(core::Store& store, const v1::PullBatch& batch) {
  ASSIGN_OR_RETURN(std::vector<sync::WireChange> changes, sync::ReadRecordBatch(batch.records()));
  std::vector<core::RemoteChange> remote;
  remote.reserve(changes.size());
  for (sync::WireChange& c : changes) remote.push_back({c.hlc, std::move(c.record)});
  return store.ApplyPulled(remote, static_cast<int64_t>(batch.cursor()));
}

void PushUntilDrained(TestServer& server, Tablet& tablet) {
  for (int i = 0; i < 100; ++i) {
    v1::PushBatch batch = NextPushBatch(*tablet.store, 200, server.clock().now());
    if (batch.records().changes_size() == 0) return;
    auto ack = server.logic().Push(tablet.token, batch);
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    ASSERT_TRUE(tablet.store->AcknowledgeUpload(static_cast<int64_t>(ack->acked_seq())).ok());
  }
  FAIL() << "push did not drain";
}

int64_t PullAll(sync::ServerLogic& logic, Tablet& tablet, uint32_t batch_size) {
  auto cursor = tablet.store->PullCursor();
  EXPECT_TRUE(cursor.ok());
  if (!cursor.ok()) return -1;
  v1::PullRequest request;
  request.set_cursor(static_cast<uint64_t>(*cursor));
  request.set_batch_size(batch_size);
  int64_t applied = 0;
  for (int i = 0; i < 10'000; ++i) {
    auto batch = logic.Pull(tablet.token, request);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok()) return -1;
    core::Status s = ApplyPullBatch(*tablet.store, *batch);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return -1;
    applied += batch->records().changes_size();
    if (batch->remaining() == 0) return applied;
    request.set_cursor(batch->cursor());
  }
  ADD_FAILURE() << "the feed did not drain in 10000 batches";
  return -1;
}

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

TestCertificate MakeSelfSignedCertificate() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) throw std::runtime_error("cannot make a test key");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      throw std::runtime_error("cannot add a certificate extension");
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    throw std::runtime_error("cannot sign the test certificate");
  }
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return {BioText(cert_bio.get()), BioText(key_bio.get())};
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

RawDb::RawDb(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(db_);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_busy_timeout(db_, 5000);
}

RawDb::~RawDb() { sqlite3_close_v2(db_); }

int64_t RawDb::QueryInt(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("bad SQL: ") + sqlite3_errmsg(db_));
  }
  int64_t value = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return value;
}

std::string RawDb::QueryText(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("bad SQL: ") + sqlite3_errmsg(db_));
  }
  std::string value;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, 0));
    value.assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  return value;
}

void RawDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("SQL failed: " + message);
  }
}

}  // namespace kitsync::synctest

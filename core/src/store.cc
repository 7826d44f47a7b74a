// The tablet: creating and opening its database, its identity, and its change log.
#include "kitsync/core/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "kitsync/core/canonical.h"
#include "kitsync/core/ids.h"
#include "kitsync/core/validation.h"
#include "schema.h"
#include "store_impl.h"

namespace kitsync::core {
Result<std::optional<std::string>> ReadOptionalMeta(sqlite::Db& db, const char* key) {
  ASSIGN_OR_RETURN(sqlite::Statement * stmt, db.Cached("SELECT value FROM meta WHERE key = ?"));
  stmt->Bind(1, std::string_view(key));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::optional<std::string>();
  std::string value = stmt->Text(0);
  stmt->Reset();
  return std::optional<std::string>(std::move(value));
}

Result<std::string> ReadMeta(sqlite::Db& db, const char* key) {
  ASSIGN_OR_RETURN(auto value, ReadOptionalMeta(db, key));
  if (!value) return Status::DataLoss(std::string("tablet database has no '") + key + "' setting");
  return *value;
}

Result<int64_t> ReadMetaInt(sqlite::Db& db, const char* key, std::optional<int64_t> fallback) {
  ASSIGN_OR_RETURN(auto text, ReadOptionalMeta(db, key));
  if (!text && fallback) return *fallback;
  if (!text) return Status::DataLoss(std::string("tablet database has no '") + key + "' setting");
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return Status::DataLoss(std::string("tablet setting '") + key + "' is not a number");
  }
  return value;
}

Status WriteMeta(sqlite::Db& db, const char* key, std::string_view value) {
  ASSIGN_OR_RETURN(sqlite::Statement * stmt,
                   db.Cached("INSERT INTO meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  return stmt->Bind(1, std::string_view(key)).BindBlob(2, value).Run();
}

namespace {

Result<std::unique_ptr<sqlite::Db>> OpenConnection(const std::string& path, bool create,
                                                   const StoreOptions& options) {
  ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path, create));
  RETURN_IF_ERROR(ConfigureConnection(*db, options.durable, options.busy_timeout_ms));
  RETURN_IF_ERROR(Migrate(*db));
  return db;
}

}  // namespace

Status Store::Impl::LoadIdentity() {
  ASSIGN_OR_RETURN(identity_.device_id, ReadMeta(*db_, "device_id"));
  ASSIGN_OR_RETURN(identity_.device_name, ReadMeta(*db_, "device_name"));
  ASSIGN_OR_RETURN(identity_.post_code, ReadMeta(*db_, "post_code"));
  ASSIGN_OR_RETURN(programme_key_, ReadMeta(*db_, "programme_key"));
  // What was last observed from the server, so a fresh process orders after it too.
  ASSIGN_OR_RETURN(int64_t observed, ReadMetaInt(*db_, "observed_hlc", 0));
  clock_.RaiseTo(Hlc::Unpack(static_cast<uint64_t>(observed)));
  return Status::Ok();
}

Status Store::Impl::WriteSetup(const TabletSetup& setup, const std::string& device_id) {
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(*db_));
  ASSIGN_OR_RETURN(int64_t existing, db_->QueryInt("SELECT count(*) FROM meta"));
  if (existing > 0) {
    return Status::AlreadyExists("this file already holds a tablet database");
  }
  RETURN_IF_ERROR(WriteMeta(*db_, "device_id", device_id));
  RETURN_IF_ERROR(WriteMeta(*db_, "device_name", setup.device_name));
  RETURN_IF_ERROR(WriteMeta(*db_, "post_code", setup.post_code));
  RETURN_IF_ERROR(WriteMeta(*db_, "programme_key", setup.programme_key));
  RETURN_IF_ERROR(WriteMeta(*db_, "acked_seq", "0"));
  return tx->Commit();
}

Result<LogTip> Store::Impl::ReadTip() {
  ASSIGN_OR_RETURN(sqlite::Statement * stmt,
                   db_->Cached("SELECT seq, hlc, hash FROM change_log ORDER BY seq DESC LIMIT 1"));
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  LogTip tip;
  if (row) {
    tip.seq = stmt->Int(0);
    tip.hlc = Hlc::Unpack(static_cast<uint64_t>(stmt->Int(1)));
    tip.hash = stmt->Text(2);
  } else {
    tip.hash = GenesisHash(identity_.device_id);
  }
  stmt->Reset();
  return tip;
}

Hlc Store::Impl::NextHlc(const LogTip& tip) {
  // Another process (a sync daemon beside the CLI) may have written since this clock last ran;
  // the log's last entry carries its timestamp, so order follows the log.
  clock_.RaiseTo(tip.hlc);
  return clock_.Now();
}

Status Store::Impl::Append(LogTip& tip, Hlc hlc, const char* entity, const std::string& entity_id,
                           const std::string& payload, bool store_payload) {
  // The entry's parts are hashed and bound where they are, without a copy into a ChangeEntry:
  // every recorded fact is appended (a bulk import appends every row).
  const int64_t seq = tip.seq + 1;
  const std::string_view op = "create";
  std::string hash = ChainHash(seq, hlc, entity, entity_id, op, payload, tip.hash);
  ASSIGN_OR_RETURN(sqlite::Statement * stmt,
                   db_->Cached("INSERT INTO change_log (seq, hlc, entity, entity_id, op, payload, "
                               "hash) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  // Every bound view outlives Run(), which resets the statement (BindView).
  stmt->Bind(1, seq)
      .Bind(2, static_cast<int64_t>(hlc.Pack()))
      .BindView(3, entity)
      .BindView(4, entity_id)
      .BindView(5, op);
  if (store_payload) {
    stmt->BindBlobView(6, payload);
  } else {
    stmt->BindNull(6);
  }
  RETURN_IF_ERROR(stmt->BindBlobView(7, hash).Run());
  tip.seq = seq;
  tip.hlc = hlc;
  tip.hash = std::move(hash);
  return Status::Ok();
}

namespace {

// An entry's fields but its payload (and prev_hash, which is the previous row's hash).
// REQUIRES: a row of "SELECT seq, hlc, entity, entity_id, op, payload, hash".
// The entry's columns but its payload, over `e`, keeping its strings' storage; the payload and
// prev_hash are left as they were.
void ReadEntryHeaderInto(const sqlite::Statement& row, ChangeEntry& e) {
  e.seq = row.Int(0);
  e.hlc = Hlc::Unpack(static_cast<uint64_t>(row.Int(1)));
  e.entity.assign(row.TextView(2));
  e.entity_id.assign(row.TextView(3));
  e.op.assign(row.TextView(4));
  e.hash.assign(row.TextView(6));
}

ChangeEntry ReadEntryHeader(const sqlite::Statement& row) {
  ChangeEntry e;
  ReadEntryHeaderInto(row, e);
  return e;
}

}  // namespace

Result<ChangeEntry> Store::Impl::ReadEntry(const sqlite::Statement& row) {
  ChangeEntry e = ReadEntryHeader(row);
  if (!row.IsNull(5)) {
    e.payload = row.Text(5);
  } else {
    ASSIGN_OR_RETURN(e.payload, EncodeStoredFact(e.entity, e.entity_id));
  }
  return e;
}

Result<std::string> Store::Impl::HashOfEntry(int64_t seq) {
  if (seq == 0) return GenesisHash(identity_.device_id);
  ASSIGN_OR_RETURN(auto* stmt, db_->Cached("SELECT hash FROM change_log WHERE seq = ?"));
  ASSIGN_OR_RETURN(bool row, stmt->Bind(1, seq).Step());
  if (!row) return Status::DataLoss("change-log entry " + std::to_string(seq) + " is missing");
  std::string hash = stmt->Text(0);
  stmt->Reset();
  return hash;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

namespace {

// Makes `path` durable in its directory: a rename or link is only on disk once the directory is.
Status SyncDirectoryOf(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Status::Internal("cannot open directory " + dir.string());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::Internal("cannot sync directory " + dir.string());
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Create(const std::string& path, const TabletSetup& setup,
                                             StoreOptions options) {
  RETURN_IF_ERROR(ValidateCode("post code", setup.post_code));
  RETURN_IF_ERROR(ValidateText("device name", setup.device_name, kMaxNameLength, true));
  if (setup.programme_key.size() < 16) {
    return Status::InvalidArgument("the programme key must be at least 16 bytes long");
  }
  if (!setup.device_id.empty()) RETURN_IF_ERROR(ValidateId("device ID", setup.device_id));
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Status::AlreadyExists(path + " already exists; refusing to overwrite it");
  }
  // The tablet is built under a temporary name and linked into place only when complete, so a
  // battery dying during setup leaves either no tablet or a whole one, never a file that can be
  // neither opened nor set up again.
  const std::string building = path + ".setup-" + NewUuidV7();
  auto discard = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(building + suffix, ec);
  };
  Status written;
  {
    auto db = OpenConnection(building, /*create=*/true, options);
    if (!db.ok()) {
      discard();
      return db.status();
    }
    Impl impl(std::move(db).value(), options);
    const std::string device_id = setup.device_id.empty() ? NewUuidV7() : setup.device_id;
    written = impl.WriteSetup(setup, device_id);
    // Everything into the main file (synced, when durable), so the file alone is the tablet.
    if (written.ok()) written = impl.db().Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }  // the connection closes here, before the file is linked or removed
  if (!written.ok()) {
    discard();
    return written;
  }
  // link() refuses an existing target, unlike rename(): two setups racing cannot overwrite.
  if (::link(building.c_str(), path.c_str()) != 0) {
    const int error = errno;
    discard();
    if (error == EEXIST) {
      return Status::AlreadyExists(path + " already exists; refusing to overwrite it");
    }
    return Status::Internal("cannot create " + path + ": " + std::strerror(error));
  }
  discard();
  RETURN_IF_ERROR(SyncDirectoryOf(path));
  return Open(path, options);
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, StoreOptions options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::NotFound("no tablet database at " + path + " (run 'kitsync init' first)");
  }
  ASSIGN_OR_RETURN(auto db, OpenConnection(path, /*create=*/false, options));
  auto impl = std::make_unique<Impl>(std::move(db), options);
  RETURN_IF_ERROR(impl->LoadIdentity());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

const DeviceIdentity& Store::identity() const { return impl_->identity(); }

Result<std::vector<ChangeEntry>> Store::PendingChanges(int64_t limit) {
  sqlite::Db& db = impl_->db();
  // One read transaction, so the entries and the rows their payloads come from agree.
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto out = impl_->ReadPending(limit);
  (void)db.Exec("COMMIT");
  return out;
}

namespace {

using EntryVisitor = std::function<Status(ChangeEntry, const sqlite::Statement&)>;
using StoredFactReader = std::function<Result<Record>(const std::string&, const std::string&)>;

// A page of the change log: the entry's columns 0-6 (seq, hlc, entity, entity_id, op, payload,
// hash), in order.
constexpr const char* kEntriesAfterSql =
    "SELECT seq, hlc, entity, entity_id, op, payload, hash "
    "FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?";
// The same, with the row of each handover whose entry stores no payload from column 7 on (NULL
// for any other entry). A backlog is mostly handovers: reading each row with a statement of its
// own cost a statement's reset, binding and setup per change.
constexpr const char* kEntriesWithHandoversAfterSql =
    "SELECT c.seq, c.hlc, c.entity, c.entity_id, c.op, c.payload, c.hash, "
    KITSYNC_HANDOVER_COLUMNS " FROM change_log c LEFT JOIN handovers h "
    "ON c.payload IS NULL AND c.entity = 'handover' AND h.id = c.entity_id "
    "WHERE c.seq > ? ORDER BY c.seq LIMIT ?";
constexpr int kJoinedHandoverColumn = 7;

// Calls `each` for the entries after `after`, whose hash is `prev`, in order, at most `limit`,
// with the entry's fields (prev_hash included) but its payload, and its row for the rest.
Status ForEachEntryAfter(sqlite::Db& db, std::string prev, int64_t after, int64_t limit,
                         const EntryVisitor& each) {
  ASSIGN_OR_RETURN(sqlite::Statement * stmt, db.Cached(kEntriesAfterSql));
  stmt->Bind(1, after).Bind(2, limit);
  while (true) {
    auto row = stmt->Step();
    if (!row.ok() || !*row) {
      stmt->Reset();
      return row.status();
    }
    ChangeEntry e = ReadEntryHeader(*stmt);
    e.prev_hash = std::move(prev);
    prev = e.hash;
    if (Status s = each(std::move(e), *stmt); !s.ok()) {
      stmt->Reset();
      return s;
    }
  }
}

// The entries after `after`, whose hash is `prev`, in order, at most `limit`, each with its fact,
// written over the elements of `out` (resized to the count): an upload reads batch after batch
// into the same vector, and its records' strings keep their storage from one batch to the next.
// On error `out` holds an unspecified prefix.
Status ReadFactsAfter(sqlite::Db& db, std::string prev, int64_t after, int64_t limit,
                      const StoredFactReader& read_stored, std::vector<Store::PendingFact>& out) {
  ASSIGN_OR_RETURN(sqlite::Statement * stmt, db.Cached(kEntriesWithHandoversAfterSql));
  stmt->Bind(1, after).Bind(2, limit);
  size_t n = 0;
  Status status = Status::Ok();
  while (true) {
    auto row = stmt->Step();
    if (!row.ok() || !*row) {
      status = row.status();
      break;
    }
    if (n == out.size()) out.emplace_back();
    Store::PendingFact& fact = out[n++];
    ChangeEntry& e = fact.entry;
    ReadEntryHeaderInto(*stmt, e);
    e.payload.clear();
    e.prev_hash.assign(prev);
    prev.assign(e.hash);
    // The record straight from its row: no canonical payload encoded only to be parsed again.
    if (stmt->IsNull(5) && !stmt->IsNull(kJoinedHandoverColumn)) {
      auto* handover = std::get_if<Handover>(&fact.record);
      if (!handover) handover = &fact.record.emplace<Handover>();
      ReadHandoverColumnsInto(*stmt, kJoinedHandoverColumn, *handover);
      continue;
    }
    auto record = !stmt->IsNull(5) ? DecodeLogged(e.entity, stmt->Text(5))
                                   : read_stored(e.entity, e.entity_id);
    if (!record.ok()) {
      status = Status::DataLoss("change " + std::to_string(e.seq) +
                                " cannot be read: " + record.status().message());
      break;
    }
    fact.record = std::move(*record);
  }
  stmt->Reset();
  RETURN_IF_ERROR(status);
  out.resize(n);
  return Status::Ok();
}

}  // namespace

Status Store::Impl::ForEachPending(int64_t limit, const EntryVisitor& each) {
  ASSIGN_OR_RETURN(int64_t acked, ReadMetaInt(*db_, "acked_seq"));
  ASSIGN_OR_RETURN(std::string prev, HashOfEntry(acked));
  return ForEachEntryAfter(*db_, std::move(prev), acked, limit, each);
}

Result<std::vector<ChangeEntry>> Store::Impl::ReadPending(int64_t limit) {
  std::vector<ChangeEntry> out;
  RETURN_IF_ERROR(ForEachPending(limit, [&](ChangeEntry e, const sqlite::Statement& row) -> Status {
    if (!row.IsNull(5)) {
      e.payload = row.Text(5);
    } else {
      ASSIGN_OR_RETURN(e.payload, EncodeStoredFact(e.entity, e.entity_id));
    }
    out.push_back(std::move(e));
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<Store::PendingFact>> Store::PendingFacts(int64_t limit) {
  sqlite::Db& db = impl_->db();
  // One read transaction, as for PendingChanges.
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  std::vector<PendingFact> out;
  const Status s = impl_->ReadPendingFacts(limit, out);
  (void)db.Exec("COMMIT");
  RETURN_IF_ERROR(s);
  return out;
}

Result<std::vector<Store::PendingFact>> Store::PendingFacts(int64_t after, int64_t limit) {
  std::vector<PendingFact> out;
  RETURN_IF_ERROR(PendingFacts(after, limit, out));
  return out;
}

Status Store::PendingFacts(int64_t after, int64_t limit, std::vector<PendingFact>& out) {
  sqlite::Db& db = impl_->db();
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  const Status s = [&]() -> Status {
    ASSIGN_OR_RETURN(int64_t last, db.QueryInt("SELECT max(seq) FROM change_log"));
    if (after < 0 || after > last) {
      return Status::OutOfRange("no change " + std::to_string(after) +
                                " to read after: the log ends at " + std::to_string(last));
    }
    ASSIGN_OR_RETURN(int64_t acked, ReadMetaInt(db, "acked_seq"));
    const int64_t from = std::max(after, acked);
    ASSIGN_OR_RETURN(std::string prev, impl_->HashOfEntry(from));
    return ReadFactsAfter(db, std::move(prev), from, limit,
                          [&](const std::string& entity, const std::string& id) {
                            return impl_->ReadStoredFact(entity, id);
                          },
                          out);
  }();
  (void)db.Exec("COMMIT");
  return s;
}

Status Store::Impl::ReadPendingFacts(int64_t limit, std::vector<Store::PendingFact>& out) {
  ASSIGN_OR_RETURN(int64_t acked, ReadMetaInt(*db_, "acked_seq"));
  ASSIGN_OR_RETURN(std::string prev, HashOfEntry(acked));
  return ReadFactsAfter(*db_, std::move(prev), acked, limit,
                        [this](const std::string& entity, const std::string& id) {
                          return ReadStoredFact(entity, id);
                        },
                        out);
}

Status Store::AcknowledgeUpload(int64_t seq) {
  sqlite::Db& db = impl_->db();
  // Without waiting for the disk: the server's ack already made the entries durable there, and
  // a cursor that a power cut takes back is moved forward again by the next pass's line-up
  // (the server's status names the last entry it holds) before anything is sent. Waiting cost
  // the uploading tablet one fsync per batch.
  ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::BeginUnsynced(db));
  ASSIGN_OR_RETURN(int64_t last, db.QueryInt("SELECT max(seq) FROM change_log"));
  if (seq < 0 || seq > last) {
    return Status::OutOfRange("cannot acknowledge change " + std::to_string(seq) +
                              ": the log ends at " + std::to_string(last));
  }
  ASSIGN_OR_RETURN(int64_t acked, ReadMetaInt(db, "acked_seq"));
  if (seq > acked) RETURN_IF_ERROR(WriteMeta(db, "acked_seq", std::to_string(seq)));
  return tx->Commit();
}

Result<ChainReport> Store::VerifyChain() {
  sqlite::Db& db = impl_->db();
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  auto report = impl_->WalkChain();
  (void)db.Exec("COMMIT");
  return report;
}

Result<ChainReport> Store::Impl::WalkChain() {
  ASSIGN_OR_RETURN(auto stmt, db_->Prepare("SELECT seq, hlc, entity, entity_id, op, payload, "
                                           "hash FROM change_log ORDER BY seq"));
  ChainReport report;
  std::string prev = GenesisHash(identity_.device_id);
  Hlc prev_hlc;
  auto broken = [&](int64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    const int64_t expected = report.entries + 1;
    const int64_t seq = stmt->Int(0);
    if (seq != expected) {
      return broken(expected, "entry " + std::to_string(expected) + " is missing (next is " +
                                  std::to_string(seq) + ")");
    }
    // A payload rebuilt from the record's row: an edited record breaks the chain like an edited
    // log entry does.
    auto e = ReadEntry(*stmt);
    if (!e.ok()) return broken(seq, e.status().message());
    if (ChainHash(*e, prev) != e->hash) return broken(seq, "content does not match its hash");
    if (e->hlc <= prev_hlc) return broken(seq, "timestamp does not follow the previous entry");
    prev = e->hash;
    prev_hlc = e->hlc;
    ++report.entries;
  }
  return report;
}

Result<TabletStatus> Store::GetStatus(bool verify_chain) {
  sqlite::Db& db = impl_->db();
  TabletStatus s;
  s.identity = impl_->identity();
  ASSIGN_OR_RETURN(s.last_seq, db.QueryInt("SELECT max(seq) FROM change_log"));
  ASSIGN_OR_RETURN(s.acked_seq, ReadMetaInt(db, "acked_seq"));
  s.pending = s.last_seq - s.acked_seq;
  ASSIGN_OR_RETURN(int64_t hlc, db.QueryInt("SELECT hlc FROM change_log ORDER BY seq DESC LIMIT 1"));
  s.last_hlc = Hlc::Unpack(static_cast<uint64_t>(hlc));
  ASSIGN_OR_RETURN(s.pull_cursor, PullCursor());
  ASSIGN_OR_RETURN(s.pull_epoch, PullEpoch());
  if (verify_chain) {
    ASSIGN_OR_RETURN(s.chain, VerifyChain());
  }
  return s;
}

}  // namespace kitsync::core

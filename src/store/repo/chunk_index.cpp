#include "dbsnap/store/repo/chunk_index.hpp"

#include <sys/stat.h>

#include <cstring>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/core.h>
#include <sqlite3.h>

#include "dbsnap/store/backend.hpp"

namespace dbsnap::store::repo {

namespace {

// Packs get a small integer key, so a chunk row costs 32 + a few bytes.
constexpr std::string_view schema = R"sql(
  CREATE TABLE packs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL
  );
  CREATE TABLE chunks (
    id BLOB PRIMARY KEY,
    pack INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    offset INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    raw_size INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX chunks_by_pack ON chunks(pack);
)sql";

// Further copies of indexed chunks in other packs: two hosts writing one
// bucket can each store a chunk the other has not seen, and garbage
// collection may then delete the pack `chunks` points at while a copy
// lives on. remove_pack and replace_packs point such a chunk at a spare
// copy before its pack goes. Added to schema 1 in place (older builds
// ignore the table; its rows go with their pack by the same cascade).
constexpr std::string_view spares_schema = R"sql(
  CREATE TABLE IF NOT EXISTS spares (
    id BLOB NOT NULL,
    pack INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    offset INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    raw_size INTEGER NOT NULL,
    PRIMARY KEY (id, pack)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS spares_by_pack ON spares(pack);
)sql";

// Before pack `name` is deleted, inside the caller's transaction: its chunks
// that have a spare copy in another pack are pointed at that copy.
void promote_spares(SQLite::Database& db, const std::string& name) {
  SQLite::Statement id_q(db, "SELECT id FROM packs WHERE name = ?");
  id_q.bind(1, name);
  if (!id_q.executeStep()) return;
  const int64_t pack = id_q.getColumn(0).getInt64();
  SQLite::Statement move(db, R"sql(
    UPDATE chunks SET (pack, offset, stored_size, raw_size) =
      (SELECT s.pack, s.offset, s.stored_size, s.raw_size FROM spares s WHERE s.id = chunks.id AND s.pack != ?1
       LIMIT 1)
    WHERE pack = ?1 AND EXISTS (SELECT 1 FROM spares s WHERE s.id = chunks.id AND s.pack != ?1))sql");
  move.bind(1, pack);
  move.exec();
  SQLite::Statement used(db, "DELETE FROM spares WHERE pack != ?1 AND EXISTS (SELECT 1 FROM chunks c WHERE "
                             "c.id = spares.id AND c.pack = spares.pack)");
  used.bind(1, pack);
  used.exec();
}

Error index_error(const std::string& where, const std::exception& e) {
  int code = 0;
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) code = sqlite->getErrorCode() & 0xff;
  switch (code) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error{ErrorKind::failure, fmt::format("chunk index {} is damaged ({}); it is rebuilt from the packs "
                                                   "when removed", where, e.what())};
    case SQLITE_FULL:
      return Error{ErrorKind::failure, fmt::format("chunk index {}: {}: the store's file system is full", where,
                                                   e.what())};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{ErrorKind::busy, fmt::format("chunk index {} stayed locked by another process for 30 s ({})",
                                                where, e.what())};
    default:
      return Error{ErrorKind::failure, fmt::format("chunk index {}: {}", where, e.what())};
  }
}

}  // namespace

struct ChunkIndex::Impl {
  std::string where;
  SQLite::Database db;
  Impl(std::string w, int flags) : where(std::move(w)), db(where, flags) {}
};

ChunkIndex::ChunkIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChunkIndex::ChunkIndex(ChunkIndex&&) noexcept = default;
ChunkIndex& ChunkIndex::operator=(ChunkIndex&&) noexcept = default;
ChunkIndex::~ChunkIndex() = default;

Expected<ChunkIndex> ChunkIndex::open(const std::filesystem::path& path) {
  try {
    auto impl = std::make_unique<Impl>(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    auto& db = impl->db;
    db.setBusyTimeout(30'000);
    int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > chunk_index_schema_version) {
      return make_error(ErrorKind::failure, "chunk index {} was written by a newer dbsnap (schema {}, this build "
                        "knows {}); upgrade dbsnap (nothing was changed)", path.string(), version,
                        chunk_index_schema_version);
    }
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.exec("PRAGMA synchronous=FULL");
    if (version == 0) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      if (db.execAndGet("PRAGMA user_version").getInt() == 0) {  // another process may have created it
        db.exec(std::string(schema));
        db.exec(fmt::format("PRAGMA user_version={}", chunk_index_schema_version));
      }
      tx.commit();
    }
    db.exec(std::string(spares_schema));
    ::chmod(path.c_str(), 0600);
    return ChunkIndex(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(index_error(path.string(), e));
  }
}

Expected<ChunkIndex> ChunkIndex::in_memory() {
  try {
    auto impl = std::make_unique<Impl>(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    impl->db.exec("PRAGMA foreign_keys=ON");
    impl->db.exec(std::string(schema));
    impl->db.exec(std::string(spares_schema));
    return ChunkIndex(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(index_error(":memory:", e));
  }
}

Expected<std::optional<ChunkLocation>> ChunkIndex::find(const ChunkId& id) const {
  try {
    SQLite::Statement q(impl_->db,
                        "SELECT p.name, c.offset, c.stored_size, c.raw_size FROM chunks c JOIN packs p ON p.id = "
                        "c.pack WHERE c.id = ?");
    q.bind(1, id.bytes.data(), static_cast<int>(id.bytes.size()));
    if (!q.executeStep()) return std::optional<ChunkLocation>{};
    ChunkLocation loc;
    loc.pack = q.getColumn(0).getString();
    loc.entry.id = id;
    loc.entry.offset = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
    loc.entry.stored_size = static_cast<std::uint32_t>(q.getColumn(2).getInt64());
    loc.entry.raw_size = static_cast<std::uint32_t>(q.getColumn(3).getInt64());
    return loc;
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

namespace {

// Indexes one pack inside the caller's transaction.
void insert_pack(SQLite::Database& db, const std::string& pack, std::uint64_t size,
                 const std::vector<PackEntry>& entries) {
  SQLite::Statement ins_pack(db, "INSERT INTO packs (name, size) VALUES (?, ?) ON CONFLICT(name) DO NOTHING");
  ins_pack.bind(1, pack);
  ins_pack.bind(2, static_cast<int64_t>(size));
  ins_pack.exec();
  SQLite::Statement id_q(db, "SELECT id FROM packs WHERE name = ?");
  id_q.bind(1, pack);
  id_q.executeStep();
  const int64_t pack_id = id_q.getColumn(0).getInt64();
  SQLite::Statement ins(db, "INSERT INTO chunks (id, pack, offset, stored_size, raw_size) VALUES (?,?,?,?,?) "
                            "ON CONFLICT(id) DO NOTHING");
  SQLite::Statement spare(db, "INSERT INTO spares (id, pack, offset, stored_size, raw_size) VALUES (?,?,?,?,?) "
                              "ON CONFLICT(id, pack) DO NOTHING");
  for (const auto& e : entries) {
    for (auto* q : {&ins, &spare}) {
      q->bind(1, e.id.bytes.data(), static_cast<int>(e.id.bytes.size()));
      q->bind(2, pack_id);
      q->bind(3, static_cast<int64_t>(e.offset));
      q->bind(4, static_cast<int64_t>(e.stored_size));
      q->bind(5, static_cast<int64_t>(e.raw_size));
    }
    // Indexed already (in another pack): this copy is a spare.
    if (ins.exec() == 0) spare.exec();
    ins.reset();
    spare.reset();
  }
}

}  // namespace

Expected<void> ChunkIndex::add_pack(const std::string& pack, std::uint64_t size, const std::vector<PackEntry>& entries) {
  try {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    insert_pack(impl_->db, pack, size, entries);
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<void> ChunkIndex::replace_packs(const std::vector<std::string>& old_packs,
                                         const std::vector<NewPack>& new_packs) {
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement del(db, "DELETE FROM packs WHERE name = ?");
    for (const auto& pack : old_packs) {
      promote_spares(db, pack);
      del.bind(1, pack);
      del.exec();
      del.reset();
    }
    for (const auto& pack : new_packs) insert_pack(db, pack.name, pack.size, pack.entries);
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<void> ChunkIndex::clear_live() {
  try {
    impl_->db.exec("CREATE TEMP TABLE IF NOT EXISTS live (id BLOB PRIMARY KEY) WITHOUT ROWID; DELETE FROM live;");
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<void> ChunkIndex::mark_live(const std::vector<ChunkId>& ids) {
  try {
    auto& db = impl_->db;
    db.exec("CREATE TEMP TABLE IF NOT EXISTS live (id BLOB PRIMARY KEY) WITHOUT ROWID");
    SQLite::Transaction tx(db);
    SQLite::Statement ins(db, "INSERT INTO live (id) VALUES (?) ON CONFLICT(id) DO NOTHING");
    for (const auto& id : ids) {
      ins.bind(1, id.bytes.data(), static_cast<int>(id.bytes.size()));
      ins.exec();
      ins.reset();
    }
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<std::vector<ChunkIndex::PackUsage>> ChunkIndex::pack_usage() const {
  try {
    auto& db = impl_->db;
    db.exec("CREATE TEMP TABLE IF NOT EXISTS live (id BLOB PRIMARY KEY) WITHOUT ROWID");
    SQLite::Statement q(db,
                        "SELECT p.name, p.size, COUNT(c.id), COUNT(l.id), IFNULL(SUM(CASE WHEN l.id IS NULL THEN 0 "
                        "ELSE c.stored_size END), 0) FROM packs p LEFT JOIN chunks c ON c.pack = p.id "
                        "LEFT JOIN live l ON l.id = c.id GROUP BY p.id ORDER BY p.name");
    std::vector<PackUsage> usage;
    while (q.executeStep()) {
      usage.push_back(PackUsage{q.getColumn(0).getString(), static_cast<std::uint64_t>(q.getColumn(1).getInt64()),
                                static_cast<std::uint64_t>(q.getColumn(2).getInt64()),
                                static_cast<std::uint64_t>(q.getColumn(3).getInt64()),
                                static_cast<std::uint64_t>(q.getColumn(4).getInt64())});
    }
    return usage;
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

namespace {

// The entries a query over chunks `c` (joined with packs `p`, bound to the pack's name) selects.
Expected<std::vector<PackEntry>> select_entries(SQLite::Database& db, const std::string& where, const char* sql,
                                                const std::string& pack) {
  try {
    SQLite::Statement q(db, sql);
    q.bind(1, pack);
    std::vector<PackEntry> entries;
    while (q.executeStep()) {
      PackEntry e;
      const auto blob = q.getColumn(0);
      if (blob.getBytes() != 32) return make_error(ErrorKind::corrupt, "chunk index {}: a chunk id of {} bytes",
                                                   where, blob.getBytes());
      std::memcpy(e.id.bytes.data(), blob.getBlob(), 32);
      e.offset = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
      e.stored_size = static_cast<std::uint32_t>(q.getColumn(2).getInt64());
      e.raw_size = static_cast<std::uint32_t>(q.getColumn(3).getInt64());
      entries.push_back(e);
    }
    return entries;
  } catch (const std::exception& e) {
    return std::unexpected(index_error(where, e));
  }
}

}  // namespace

Expected<std::vector<PackEntry>> ChunkIndex::live_entries(const std::string& pack) const {
  return select_entries(impl_->db, impl_->where,
                        "SELECT c.id, c.offset, c.stored_size, c.raw_size FROM chunks c JOIN packs p ON p.id = c.pack "
                        "JOIN live l ON l.id = c.id WHERE p.name = ? ORDER BY c.offset",
                        pack);
}

Expected<std::vector<PackEntry>> ChunkIndex::entries(const std::string& pack) const {
  return select_entries(impl_->db, impl_->where,
                        "SELECT c.id, c.offset, c.stored_size, c.raw_size FROM chunks c JOIN packs p ON p.id = c.pack "
                        "WHERE p.name = ? ORDER BY c.offset",
                        pack);
}

Expected<void> ChunkIndex::remove_pack(const std::string& pack) {
  try {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    promote_spares(impl_->db, pack);
    SQLite::Statement del(impl_->db, "DELETE FROM packs WHERE name = ?");
    del.bind(1, pack);
    del.exec();  // its cascade to chunks and spares is part of it
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<std::vector<std::string>> ChunkIndex::packs() const {
  try {
    std::vector<std::string> names;
    SQLite::Statement q(impl_->db, "SELECT name FROM packs ORDER BY name");
    while (q.executeStep()) names.push_back(q.getColumn(0).getString());
    return names;
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<std::pair<std::uint64_t, std::uint64_t>> ChunkIndex::totals() const {
  try {
    SQLite::Statement q(impl_->db, "SELECT COUNT(*), IFNULL(SUM(stored_size), 0) FROM chunks");
    q.executeStep();
    return std::pair{static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                     static_cast<std::uint64_t>(q.getColumn(1).getInt64())};
  } catch (const std::exception& e) {
    return std::unexpected(index_error(impl_->where, e));
  }
}

Expected<ReconcileReport> reconcile(const Backend& backend, ChunkIndex& index) {
  auto listed = backend.list("data/");
  if (!listed) return std::unexpected(listed.error());
  auto known = index.packs();
  if (!known) return std::unexpected(known.error());
  ReconcileReport report;
  // Both lists are sorted: one merge pass.
  auto k = known->begin();
  for (const auto& object : *listed) {
    if (!is_pack_name(object.name)) continue;
    while (k != known->end() && *k < object.name) report.forgotten.push_back(*k++);
    if (k != known->end() && *k == object.name) {
      ++k;
      continue;
    }
    auto entries = read_pack_index(backend, object.name);
    if (!entries) {
      report.unreadable.push_back(object.name);
      continue;
    }
    if (auto r = index.add_pack(object.name, object.size, *entries); !r) return std::unexpected(r.error());
    report.indexed.push_back(object.name);
  }
  while (k != known->end()) report.forgotten.push_back(*k++);
  for (const auto& pack : report.forgotten) {
    if (auto r = index.remove_pack(pack); !r) return std::unexpected(r.error());
  }
  return report;
}

}  // namespace dbsnap::store::repo

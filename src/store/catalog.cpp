#include "dbsnap/store/catalog.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "dbsnap/util/fs.hpp"

namespace dbsnap::store {

namespace fs = std::filesystem;

namespace {

// Each entry moves the schema from version i to i + 1.
constexpr std::array<std::string_view, 1> migrations = {
    R"sql(
    CREATE TABLE snapshots (
      id TEXT PRIMARY KEY,
      target TEXT NOT NULL,
      engine TEXT NOT NULL,
      created_at TEXT NOT NULL,
      label TEXT NOT NULL DEFAULT '',
      status TEXT NOT NULL,
      raw_bytes INTEGER NOT NULL,
      stored_bytes INTEGER NOT NULL,
      raw_sha256 TEXT NOT NULL,
      stored_sha256 TEXT NOT NULL,
      verified_at TEXT NOT NULL DEFAULT '',
      manifest TEXT NOT NULL
    );
    CREATE INDEX snapshots_by_target ON snapshots(target, created_at);
    CREATE TABLE snapshot_revisions (
      snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
      revision TEXT NOT NULL,
      PRIMARY KEY (snapshot_id, revision)
    );
    CREATE INDEX revisions_by_revision ON snapshot_revisions(revision);
    )sql",
};

// One line saying what is wrong with the catalog and, where it helps, what to do.
Error catalog_error(const std::filesystem::path& path, const std::exception& e) {
  int code = 0;
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) code = sqlite->getErrorCode() & 0xff;
  switch (code) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error{ErrorKind::failure, fmt::format("catalog {} is damaged ({}); 'dbsnap catalog rebuild' sets it "
                                                   "aside and recreates it from the snapshots' manifests",
                                                   path.string(), e.what())};
    case SQLITE_READONLY:
      return Error{ErrorKind::failure, fmt::format("catalog {} is not writable ({}); dbsnap records every snapshot "
                                                   "there", path.string(), e.what())};
    case SQLITE_FULL:
      return Error{ErrorKind::failure, fmt::format("catalog {}: {}: the store's file system is full",
                                                   path.string(), e.what())};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{ErrorKind::busy, fmt::format("catalog {} stayed locked by another process for 30 s ({})",
                                                path.string(), e.what())};
    default:
      return Error{ErrorKind::failure, fmt::format("catalog {}: {}", path.string(), e.what())};
  }
}

Error newer_schema_error(const std::filesystem::path& path, int version) {
  return Error{ErrorKind::failure, fmt::format("catalog {} was written by a newer dbsnap (schema {}, this build knows "
                                               "{}); upgrade dbsnap (nothing was changed)",
                                               path.string(), version, catalog_schema_version)};
}

}  // namespace

struct Catalog::Impl {
  std::filesystem::path path;
  SQLite::Database db;
  Impl(std::filesystem::path p)
      : path(std::move(p)), db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {}
  Impl(std::filesystem::path p, const std::string& uri, int flags) : path(std::move(p)), db(uri, flags) {}
};

namespace {

// Creates the current schema in an empty database (inside the caller's transaction).
void migrate(SQLite::Database& db, int from) {
  for (int v = from; v < catalog_schema_version; ++v) db.exec(std::string(migrations[static_cast<std::size_t>(v)]));
  db.exec(fmt::format("PRAGMA user_version={}", catalog_schema_version));
}

// A URI naming `path` for sqlite3_open_v2 with SQLITE_OPEN_URI: '%', '?' and '#' escaped.
std::string file_uri(const std::filesystem::path& path) {
  std::string uri = "file:";
  for (char c : path.string()) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  return uri;
}

}  // namespace

Expected<Catalog> Catalog::open_read_only(const std::filesystem::path& path) {
  try {
    auto impl = std::make_unique<Impl>(path, file_uri(path) + "?immutable=1", SQLite::OPEN_READONLY | SQLite::OPEN_URI);
    const int version = impl->db.execAndGet("PRAGMA user_version").getInt();
    if (version > catalog_schema_version) return std::unexpected(newer_schema_error(path, version));
    if (version < catalog_schema_version) {
      return make_error(ErrorKind::failure, "catalog {} has an older schema ({}) and the store cannot be written to "
                        "upgrade it; run dbsnap once where the store is writable", path.string(), version);
    }
    return Catalog(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(path, e));
  }
}

Expected<Catalog> Catalog::in_memory() {
  try {
    auto impl = std::make_unique<Impl>(":memory:", ":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    impl->db.exec("PRAGMA foreign_keys=ON");
    SQLite::Transaction tx(impl->db);
    migrate(impl->db, 0);
    tx.commit();
    return Catalog(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(":memory:", e));
  }
}

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::Catalog(Catalog&&) noexcept = default;
Catalog& Catalog::operator=(Catalog&&) noexcept = default;
Catalog::~Catalog() = default;

std::optional<int> Catalog::schema_version(const std::filesystem::path& path) {
  // PRAGMA user_version is the big-endian int at offset 60 of the file header. Read it from the
  // file, not through SQLite, which would create -wal/-shm files beside a read-only catalog.
  util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  unsigned char header[100];
  if (!fd.valid() || ::pread(fd.get(), header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    return std::nullopt;
  }
  if (std::memcmp(header, "SQLite format 3", 16) != 0) return std::nullopt;
  return static_cast<int>((std::uint32_t{header[60]} << 24) | (std::uint32_t{header[61]} << 16) |
                          (std::uint32_t{header[62]} << 8) | std::uint32_t{header[63]});
}

bool Catalog::looks_damaged(const std::filesystem::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  try {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(30'000);
    return db.execAndGet("PRAGMA quick_check").getString() != "ok";
  } catch (const SQLite::Exception& e) {
    const int code = e.getErrorCode() & 0xff;
    return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
  } catch (const std::exception&) {
    return false;
  }
}

Expected<Catalog> Catalog::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0) {
    const int error = errno;
    // Still say so when the catalog is also from a newer dbsnap: that is the thing to fix first.
    if (auto version = schema_version(path); version && *version > catalog_schema_version) {
      return std::unexpected(newer_schema_error(path, *version));
    }
    return make_error(ErrorKind::failure, "catalog {} is not writable ({}); dbsnap records every snapshot there",
                      path.string(), std::strerror(error));
  }
  try {
    auto impl = std::make_unique<Impl>(path);
    auto& db = impl->db;
    db.setBusyTimeout(30'000);
    // The version first: a newer dbsnap's catalog is left exactly as it is.
    int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > catalog_schema_version) return std::unexpected(newer_schema_error(path, version));
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.exec("PRAGMA synchronous=FULL");
    if (version < catalog_schema_version) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      version = db.execAndGet("PRAGMA user_version").getInt();  // another process may have migrated
      migrate(db, version);
      tx.commit();
    }
    ::chmod(path.c_str(), 0600);
    return Catalog(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(path, e));
  }
}

namespace {

// Inserts or replaces one snapshot's rows, inside the caller's transaction.
void put_rows(SQLite::Database& db, const Manifest& m) {
  SQLite::Statement del(db, "DELETE FROM snapshots WHERE id = ?");
  del.bind(1, m.id);
  del.exec();
  SQLite::Statement ins(db,
                        "INSERT INTO snapshots (id, target, engine, created_at, label, status, raw_bytes, "
                        "stored_bytes, raw_sha256, stored_sha256, verified_at, manifest) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  ins.bind(1, m.id);
  ins.bind(2, m.target);
  ins.bind(3, m.engine);
  ins.bind(4, m.created_at);
  ins.bind(5, m.label);
  ins.bind(6, m.status);
  ins.bind(7, static_cast<int64_t>(m.raw_bytes));
  ins.bind(8, static_cast<int64_t>(m.stored_bytes));
  ins.bind(9, m.raw_sha256);
  ins.bind(10, m.stored_sha256);
  ins.bind(11, m.verified_at);
  ins.bind(12, to_json(m).dump());
  ins.exec();
  for (const auto& revision : m.revisions) {
    SQLite::Statement rev(db, "INSERT OR IGNORE INTO snapshot_revisions (snapshot_id, revision) VALUES (?, ?)");
    rev.bind(1, m.id);
    rev.bind(2, revision);
    rev.exec();
  }
}

}  // namespace

Expected<void> Catalog::put(const Manifest& m) {
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    put_rows(db, m);
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

Expected<void> Catalog::replace_all(const std::vector<Manifest>& manifests) {
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec("DELETE FROM snapshot_revisions");
    db.exec("DELETE FROM snapshots");
    for (const auto& m : manifests) put_rows(db, m);
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

Expected<void> Catalog::remove(const std::string& id) {
  try {
    SQLite::Statement del(impl_->db, "DELETE FROM snapshots WHERE id = ?");
    del.bind(1, id);
    del.exec();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

Expected<std::vector<Manifest>> Catalog::find(const CatalogFilter& filter) const {
  try {
    std::string sql = "SELECT manifest, id FROM snapshots s WHERE 1=1";
    std::vector<std::string> binds;
    if (!filter.target.empty()) {
      sql += " AND s.target = ?";
      binds.push_back(filter.target);
    }
    if (!filter.id_prefix.empty()) {
      sql += " AND substr(s.id, 1, ?) = ?";
      binds.push_back(std::to_string(filter.id_prefix.size()));
      binds.push_back(filter.id_prefix);
    }
    if (!filter.revision.empty()) {
      sql += " AND EXISTS (SELECT 1 FROM snapshot_revisions r WHERE r.snapshot_id = s.id AND r.revision = ?)";
      binds.push_back(filter.revision);
    }
    if (!filter.revision_prefix.empty()) {
      sql +=
          " AND EXISTS (SELECT 1 FROM snapshot_revisions r WHERE r.snapshot_id = s.id"
          " AND substr(r.revision, 1, ?) = ?)";
      binds.push_back(std::to_string(filter.revision_prefix.size()));
      binds.push_back(filter.revision_prefix);
    }
    sql += " ORDER BY s.created_at DESC, s.id DESC";
    SQLite::Statement query(impl_->db, sql);
    for (std::size_t i = 0; i < binds.size(); ++i) query.bind(static_cast<int>(i + 1), binds[i]);
    std::vector<Manifest> out;
    while (query.executeStep()) {
      auto manifest = parse_manifest(query.getColumn(0).getString());
      if (!manifest) {
        // One bad row must not hide the rest of the store: skip it, say so once.
        static std::set<std::string> reported;
        if (reported.insert(query.getColumn(1).getString()).second) {
          std::fprintf(stderr, "dbsnap: warning: catalog %s: row '%s' is unreadable (%s); skipped; 'dbsnap catalog "
                       "rebuild' re-indexes the store from its manifests\n", impl_->path.c_str(),
                       query.getColumn(1).getString().c_str(), manifest.error().message.c_str());
        }
        continue;
      }
      out.push_back(std::move(*manifest));
    }
    return out;
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

Expected<std::vector<std::string>> Catalog::ids() const {
  try {
    SQLite::Statement query(impl_->db, "SELECT id FROM snapshots ORDER BY id");
    std::vector<std::string> out;
    while (query.executeStep()) out.push_back(query.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

Expected<std::vector<std::string>> Catalog::targets() const {
  try {
    SQLite::Statement query(impl_->db, "SELECT DISTINCT target FROM snapshots ORDER BY target");
    std::vector<std::string> out;
    while (query.executeStep()) out.push_back(query.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(impl_->path, e));
  }
}

}  // namespace dbsnap::store

#include "dbsnap/store/catalog.hpp"

#include <sys/stat.h>

#include <array>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

namespace dbsnap::store {

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

Error catalog_error(const std::filesystem::path& path, const std::exception& e) {
  return Error{ErrorKind::failure,
               fmt::format("catalog {}: {} (run 'dbsnap catalog rebuild' if it is damaged)", path.string(), e.what())};
}

}  // namespace

struct Catalog::Impl {
  std::filesystem::path path;
  SQLite::Database db;
  Impl(std::filesystem::path p)
      : path(std::move(p)), db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {}
};

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::Catalog(Catalog&&) noexcept = default;
Catalog& Catalog::operator=(Catalog&&) noexcept = default;
Catalog::~Catalog() = default;

Expected<Catalog> Catalog::open(const std::filesystem::path& path) {
  try {
    auto impl = std::make_unique<Impl>(path);
    auto& db = impl->db;
    db.setBusyTimeout(30'000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.exec("PRAGMA synchronous=FULL");
    int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > catalog_schema_version) {
      return make_error(ErrorKind::failure, "catalog {} has schema version {}, newer than this dbsnap ({})",
                        path.string(), version, catalog_schema_version);
    }
    if (version < catalog_schema_version) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      version = db.execAndGet("PRAGMA user_version").getInt();  // another process may have migrated
      for (int v = version; v < catalog_schema_version; ++v) {
        db.exec(std::string(migrations[static_cast<std::size_t>(v)]));
      }
      db.exec(fmt::format("PRAGMA user_version={}", catalog_schema_version));
      tx.commit();
    }
    ::chmod(path.c_str(), 0600);
    return Catalog(std::move(impl));
  } catch (const std::exception& e) {
    return std::unexpected(catalog_error(path, e));
  }
}

Expected<void> Catalog::put(const Manifest& m) {
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
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
    std::string sql = "SELECT manifest FROM snapshots s WHERE 1=1";
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
      if (!manifest) return std::unexpected(with_context(manifest.error(), "catalog row"));
      out.push_back(std::move(*manifest));
    }
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

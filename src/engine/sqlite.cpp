#include "dbsnap/engine/sqlite.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <chrono>
#include <thread>

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/util/fs.hpp"

namespace dbsnap::engine {

namespace fs = std::filesystem;

namespace {

constexpr int busy_timeout_ms = 30'000;

std::string quote_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

fs::path database_file(const config::Target& target) {
  fs::path file = target.path("file");
  if (file.empty()) fail(ErrorKind::config, "target '{}': key 'file' is required", target.name);
  return file;
}

// Opens an existing database without ever creating it.
SQLite::Database open_existing(const fs::path& file, const config::Target& target) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    fail(ErrorKind::engine, "target '{}': database file {} does not exist", target.name, file.string());
  }
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(busy_timeout_ms);
    return db;
  } catch (const std::exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot open {}: {}", target.name, file.string(), e.what());
  }
}

std::vector<std::string> revisions_in(SQLite::Database& db, const std::string& table) {
  SQLite::Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  exists.bind(1, table);
  if (!exists.executeStep()) return {};
  std::vector<std::string> revisions;
  SQLite::Statement query(db, "SELECT version_num FROM " + quote_identifier(table));
  while (query.executeStep()) revisions.push_back(query.getColumn(0).getString());
  std::sort(revisions.begin(), revisions.end());
  return revisions;
}

// Runs sqlite3_backup_step to completion, retrying while the destination is
// busy (a reader in the middle of a transaction) up to the busy timeout.
void run_backup(SQLite::Database& dest, SQLite::Database& source, const std::string& what) {
  SQLite::Backup backup(dest, "main", source, "main");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  for (;;) {
    int rc = backup.executeStep(-1);
    if (rc == SQLITE_DONE) return;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    fail(ErrorKind::engine, "{}: the database stayed locked for {} s ({})", what, busy_timeout_ms / 1000,
         sqlite3_errstr(rc));
  }
}

std::string version_table(const config::Target& target) { return target.string("version_table", "alembic_version"); }

void remove_with_sidecars(const fs::path& file) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    std::error_code ec;
    fs::remove(file.string() + suffix, ec);
  }
}

// The name stem of a restore's temp file beside the database.
std::string restore_stem(const fs::path& live) { return "." + live.filename().string() + ".restore"; }

// Removes the temp files of restores into `live` that were killed.
void remove_stale_restore_files(const fs::path& live) {
  std::error_code ec;
  if (fs::is_directory(live.parent_path(), ec)) util::remove_stale_temp_files(live.parent_path(), restore_stem(live));
}

class SqliteRestore final : public RestoreSession {
 public:
  SqliteRestore(const config::Target& target, fs::path live, util::UniqueFd fd, fs::path temp)
      : target_(target), live_(std::move(live)), fd_(std::move(fd)), temp_(std::move(temp)), sink_(fd_.get()) {}

  ~SqliteRestore() override {
    if (!temp_.empty()) remove_with_sidecars(temp_);
  }

  pipeline::Sink& input() override { return sink_; }

  void commit() override {
    value_or_throw(util::fsync_fd(fd_.get(), temp_));
    const std::string what = fmt::format("target '{}': restore into {}", target_.name, live_.string());
    try {
      std::optional<SQLite::Database> restored;
      restored.emplace(temp_.string(), SQLite::OPEN_READWRITE);
      const std::string image_mode = restored->execAndGet("PRAGMA journal_mode").getString();
      // A WAL-mode image would grow -wal/-shm files beside the live database; use a rollback journal.
      restored->exec("PRAGMA journal_mode=DELETE");
      std::string check = restored->execAndGet("PRAGMA integrity_check").getString();
      if (check != "ok") fail(ErrorKind::corrupt, "{}: the snapshot fails PRAGMA integrity_check: {}", what, check);

      std::optional<SQLite::Database> live;
      std::error_code ec;
      if (fs::exists(live_, ec)) {
        try {
          live.emplace(live_.string(), SQLite::OPEN_READWRITE);
          live->setBusyTimeout(busy_timeout_ms);
          live->execAndGet("PRAGMA schema_version");  // reads page 1: fails on a file that is not a database
        } catch (const SQLite::Exception& e) {
          // A live file SQLite cannot read is no database anyone can be using: replace it.
          std::fprintf(stderr, "dbsnap: %s is damaged (%s); replacing the file\n", live_.c_str(), e.what());
          live.reset();
        }
      }
      if (!live) {
        // Nothing usable to protect: the verified file becomes the database, in its original journal mode.
        if (image_mode == "wal") restored->exec("PRAGMA journal_mode=WAL");
        restored.reset();
        value_or_throw(util::fsync_fd(fd_.get(), temp_));
        mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd_.get(), 0666 & ~mask);
        for (const char* suffix : {"-journal", "-wal", "-shm"}) fs::remove(live_.string() + suffix, ec);
        if (::rename(temp_.c_str(), live_.c_str()) != 0) {
          fail(ErrorKind::engine, "{}: cannot rename the restored file into place: {}", what, std::strerror(errno));
        }
        temp_.clear();
        value_or_throw(util::fsync_dir(live_.parent_path()));
        return;
      }

      const int live_page = live->execAndGet("PRAGMA page_size").getInt();
      const std::string live_mode = live->execAndGet("PRAGMA journal_mode").getString();
      const int restored_page = restored->execAndGet("PRAGMA page_size").getInt();
      if (live_page != restored_page && live_mode == "wal") {
        // SQLite cannot change the page size of a WAL database through the
        // backup API (SQLITE_READONLY); rewrite the copy at the live page size.
        restored->exec(fmt::format("PRAGMA page_size={}", live_page));
        restored->exec("VACUUM");
      }
      run_backup(*live, *restored, what);
    } catch (const SQLite::Exception& e) {
      fail(ErrorKind::engine, "{}: {}", what, e.what());
    }
  }

 private:
  const config::Target& target_;
  fs::path live_;
  util::UniqueFd fd_;
  fs::path temp_;
  pipeline::FdSink sink_;
};

}  // namespace

const std::vector<config::KeySpec>& SqliteEngine::keys() const {
  static const std::vector<config::KeySpec> keys = {
      {"file", config::KeyType::path, true, "the database file, relative to the config file's folder"},
  };
  return keys;
}

bool SqliteEngine::exists(const config::Target& target, const WorkContext&) {
  std::error_code ec;
  return fs::is_regular_file(database_file(target), ec);
}

DumpInfo SqliteEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) {
  const fs::path file = database_file(target);
  remove_stale_restore_files(file);
  DumpInfo info;
  info.tool_version = fmt::format("SQLite {}", sqlite3_libversion());
  info.source = fmt::format("file {}", file.string());
  auto scratch = value_or_throw(util::make_private_temp(context.scratch_dir, "sqlite-copy"));
  struct Cleanup {
    fs::path path;
    ~Cleanup() { remove_with_sidecars(path); }
  } cleanup{scratch.second};
  try {
    SQLite::Database source = open_existing(file, target);
    // One read transaction: the revision and every page come from the same snapshot.
    source.exec("BEGIN");
    source.execAndGet("SELECT count(*) FROM sqlite_master");  // takes the read lock now
    info.revisions = revisions_in(source, version_table(target));
    {
      SQLite::Database copy(scratch.second.string(), SQLite::OPEN_READWRITE);
      copy.exec("PRAGMA journal_mode=OFF");
      copy.exec("PRAGMA synchronous=OFF");
      run_backup(copy, source, fmt::format("target '{}': backup of {}", target.name, file.string()));
    }
    source.exec("COMMIT");
  } catch (const SQLite::Exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot copy {}: {}", target.name, file.string(), e.what());
  }
  if (::lseek(scratch.first.get(), 0, SEEK_SET) != 0) {
    fail(ErrorKind::failure, "cannot rewind {}: {}", scratch.second.string(), std::strerror(errno));
  }
  pipeline::FdSource source(scratch.first.get());
  value_or_throw(pipeline::pump(source, out));
  return info;
}

std::vector<std::string> SqliteEngine::read_revisions(const config::Target& target, const WorkContext&) {
  const fs::path file = database_file(target);
  try {
    SQLite::Database db = open_existing(file, target);
    return revisions_in(db, version_table(target));
  } catch (const SQLite::Exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from {}: {}", target.name, file.string(), e.what());
  }
}

std::unique_ptr<RestoreSession> SqliteEngine::begin_restore(const config::Target& target, const store::Manifest&,
                                                            const WorkContext&) {
  const fs::path live = database_file(target);
  std::error_code ec;
  if (!fs::is_directory(live.parent_path(), ec)) {
    fail(ErrorKind::engine, "target '{}': folder {} does not exist", target.name, live.parent_path().string());
  }
  remove_stale_restore_files(live);
  auto temp = value_or_throw(util::make_private_temp(live.parent_path(), restore_stem(live)));
  return std::make_unique<SqliteRestore>(target, live, std::move(temp.first), std::move(temp.second));
}

}  // namespace dbsnap::engine

#include "dbsnap/engine/sqlite/file.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include <SQLiteCpp/Backup.h>

#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::engine::sqlite {

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

// Rows per table (virtual tables, whose module may not be loaded here, left
// out): what a backup records and a test restore compares.
store::TableRows rows_in(SQLite::Database& db) {
  std::vector<std::string> names;
  SQLite::Statement tables(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'");
  while (tables.executeStep()) names.push_back(tables.getColumn(0).getString());
  store::TableRows rows;
  for (const auto& name : names) {
    rows[name] = static_cast<std::uint64_t>(db.execAndGet("SELECT count(*) FROM " + quote_identifier(name)).getInt64());
  }
  return rows;
}

// The file change counter of a database in rollback-journal mode (header
// bytes 24-27, big-endian), which every commit increments.
std::uint32_t change_counter(const fs::path& file) {
  util::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  unsigned char header[28];
  if (!fd.valid() || ::pread(fd.get(), header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    fail(ErrorKind::engine, "cannot read the header of {}: {}", file.string(), std::strerror(errno));
  }
  return (std::uint32_t{header[24]} << 24) | (std::uint32_t{header[25]} << 16) | (std::uint32_t{header[26]} << 8) |
         std::uint32_t{header[27]};
}

void run_backup(SQLite::Database& dest, SQLite::Database& source, const std::string& what,
                OnSignal on_signal, const std::function<void()>& once_locked) {
  // SQLite's own busy handler would wait in silence: run_backup waits itself, and says so.
  dest.setBusyTimeout(0);
  SQLite::Backup backup(dest, "main", source, "main");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  bool said = false;
  auto step = [&](int pages) {
    for (;;) {
      if (on_signal == OnSignal::abort) util::check_interrupted();
      const int rc = backup.executeStep(pages);
      if (rc == SQLITE_OK || rc == SQLITE_DONE) return rc;
      if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline) {
        if (!std::exchange(said, true)) {
          std::fprintf(stderr, "dbsnap: %s: another connection holds the database in a transaction; waiting up to "
                       "%d s for it to finish\n", what.c_str(), busy_timeout_ms / 1000);
        }
        // Short: in rollback-journal mode a reader that polls back to back
        // leaves only brief gaps without its read lock, and a retry must land
        // in one (every 50 ms starved a restore for 30 s once in CI).
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      fail(ErrorKind::engine, "{}: the database stayed locked for {} s ({})", what, busy_timeout_ms / 1000,
           sqlite3_errstr(rc));
    }
  };
  if (once_locked) {
    step(0);  // takes the destination's write transaction, copies nothing
    once_locked();
  }
  while (step(on_signal == OnSignal::abort ? 4096 : -1) != SQLITE_DONE) {
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

}  // namespace dbsnap::engine::sqlite

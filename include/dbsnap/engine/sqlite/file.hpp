#pragma once

// SQLite database files on this host: opening without creating, the
// revision and row counts of a database, the online backup API run to
// completion, and the restore's temp files beside the database.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/config/config.hpp"
#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine::sqlite {

namespace fs = std::filesystem;

// How long a connection waits for another's lock.
inline constexpr int busy_timeout_ms = 30'000;

// `name` as an SQLite identifier: "a""b".
std::string quote_identifier(const std::string& name);
// The target's `file`; a `config` error when it is not set.
fs::path database_file(const config::Target& target);
// The target's Alembic version table (default alembic_version).
std::string version_table(const config::Target& target);
// Opens an existing database without ever creating it; an `engine` error when it is missing or unreadable.
SQLite::Database open_existing(const fs::path& file, const config::Target& target);
// The version table's rows, sorted; empty when there is no such table.
std::vector<std::string> revisions_in(SQLite::Database& db, const std::string& table);
// Rows per table (virtual tables, whose module may not be loaded here, left
// out): what a backup records and a test restore compares.
store::TableRows rows_in(SQLite::Database& db);
// The file change counter of a database in rollback-journal mode (header
// bytes 24-27, big-endian), which every commit increments.
std::uint32_t change_counter(const fs::path& file);

// How a backup into a database treats SIGINT/SIGTERM.
enum class OnSignal {
  finish,  // copy to the end regardless (a scratch copy the caller checks afterwards)
  abort,   // stop between steps: the destination's write transaction is rolled back
};
// Runs sqlite3_backup_step to completion, retrying while the destination is
// busy (another connection in a transaction) up to the busy timeout, and
// saying once on stderr that it waits. The pages go over in steps of 4096
// within one write transaction on the destination that only the last step
// commits; with OnSignal::abort a signal between steps throws, and the
// Backup's destructor (sqlite3_backup_finish before SQLITE_DONE) rolls that
// transaction back, leaving the destination as it was. The last step is the
// commit point. `once_locked`, when set, runs after a first step of no pages
// has taken the destination's write lock and before any page changes: no
// other connection can commit in between (readers still can read).
void run_backup(SQLite::Database& dest, SQLite::Database& source, const std::string& what,
                OnSignal on_signal = OnSignal::finish, const std::function<void()>& once_locked = {});

// Removes a database file and its journal, WAL and shared-memory files.
void remove_with_sidecars(const fs::path& file);
// The name stem of a restore's temp file beside the database.
std::string restore_stem(const fs::path& live);
// Removes the temp files of restores into `live` that were killed.
void remove_stale_restore_files(const fs::path& live);

}  // namespace dbsnap::engine::sqlite

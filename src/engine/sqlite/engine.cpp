#include "dbsnap/engine/sqlite/engine.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dbsnap/engine/sqlite/container.hpp"
#include "dbsnap/engine/sqlite/file.hpp"
#include "dbsnap/engine/sqlite/restore.hpp"
#include "dbsnap/util/fs.hpp"

namespace dbsnap::engine::sqlite {

SqliteEngine::SqliteEngine()
    : runtimes_([](const config::Target& target) {
        std::shared_ptr<runtime::Runtime> rt = runtime::make_runtime(target);
        rt->check();
        return rt;
      }) {}

const std::vector<config::KeySpec>& SqliteEngine::keys() const {
  static const std::vector<config::KeySpec> keys = {
      {"file", config::KeyType::path, true, "the database file, relative to the config file's folder"},
  };
  return keys;
}

bool SqliteEngine::locks_before_commit(const config::Target& target) const { return !in_container(target); }

bool SqliteEngine::exists(const config::Target& target, const WorkContext&) {
  if (in_container(target)) return container_exists(*runtimes_.get(target), target);
  std::error_code ec;
  return fs::is_regular_file(database_file(target), ec);
}

DumpInfo SqliteEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) {
  if (in_container(target)) return container_dump(*runtimes_.get(target), target, out);
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
      info.tables = rows_in(copy);
    }
    source.exec("COMMIT");
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_FULL) {
      fail(ErrorKind::failure, "target '{}': cannot copy {}: no space left on device in {}", target.name,
           file.string(), context.scratch_dir.string());
    }
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
  if (in_container(target)) return container_revisions(*runtimes_.get(target), target);
  const fs::path file = database_file(target);
  try {
    SQLite::Database db = open_existing(file, target);
    return revisions_in(db, version_table(target));
  } catch (const SQLite::Exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from {}: {}", target.name, file.string(), e.what());
  }
}

store::TableRows SqliteEngine::count_rows(const config::Target& target, const WorkContext&) {
  if (in_container(target)) return container_rows(*runtimes_.get(target), target);
  const fs::path file = database_file(target);
  try {
    SQLite::Database db = open_existing(file, target);
    SQLite::Transaction read(db);  // one consistent view
    return rows_in(db);
  } catch (const SQLite::Exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot count the rows of {}: {}", target.name, file.string(), e.what());
  }
}

std::optional<std::uint64_t> SqliteEngine::size_bytes(const config::Target& target, const WorkContext&) {
  if (in_container(target)) return container_size(*runtimes_.get(target), target);
  const fs::path file = database_file(target);
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) fail(ErrorKind::engine, "target '{}': cannot read the size of {}: {}", target.name, file.string(), ec.message());
  return size;
}

std::string SqliteEngine::data_directory(const config::Target& target, const WorkContext&) {
  return in_container(target) ? fs::path(target.string("file")).parent_path().string() : std::string();
}

void SqliteEngine::remove_leftovers(const config::Target& target) noexcept {
  if (in_container(target)) return;  // the container's files are reached only through a runtime
  try {
    remove_stale_restore_files(database_file(target));
  } catch (const std::exception&) {
    // A target whose file key is unusable: the command that uses it says why.
  }
}

std::unique_ptr<TrialRestore> SqliteEngine::begin_trial_restore(const config::Target& target, const store::Manifest&,
                                                                const WorkContext& context) {
  return start_trial(target, context);
}

std::unique_ptr<RestoreSession> SqliteEngine::begin_restore(const config::Target& target, const store::Manifest&,
                                                            const WorkContext&) {
  if (in_container(target)) return start_container_restore(target, runtimes_.get(target));
  return start_file_restore(target);
}

}  // namespace dbsnap::engine::sqlite

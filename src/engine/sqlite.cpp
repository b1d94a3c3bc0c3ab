#include "dbsnap/engine/sqlite.hpp"

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>
#include <utility>

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>

#include "dbsnap/engine/tool.hpp"
#include "dbsnap/runtime/runtime.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

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
                OnSignal on_signal = OnSignal::finish, const std::function<void()>& once_locked = {}) {
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

class SqliteRestore final : public RestoreSession {
 public:
  SqliteRestore(const config::Target& target, fs::path live, util::UniqueFd fd, fs::path temp)
      : target_(target), live_(std::move(live)), fd_(std::move(fd)), temp_(std::move(temp)), sink_(fd_.get()) {}

  ~SqliteRestore() override {
    if (!temp_.empty()) remove_with_sidecars(temp_);
  }

  pipeline::Sink& input() override { return sink_; }

  void commit() override { commit(std::function<void()>()); }

  // `under_lock` (the pre-restore safety snapshot) runs while no other
  // connection can commit: with a WAL database, after the backup's first
  // empty step took the write lock (readers still read); with a rollback
  // journal, whose write lock would keep the safety snapshot's own reader
  // out, inside a read transaction of ours (a writer cannot commit while a
  // reader holds the file), and the file change counter, which every commit
  // bumps, must be the same once the backup holds the write lock: a writer
  // that committed in that moment makes the restore stop, nothing changed.
  void commit(const std::function<void()>& under_lock) override {
    value_or_throw(util::fsync_fd(fd_.get(), temp_));
    const std::string what = fmt::format("target '{}': restore into {}", target_.name, live_.string());
    try {
      std::optional<SQLite::Database> restored;
      restored.emplace(temp_.string(), SQLite::OPEN_READWRITE);
      // The integrity check (and a VACUUM) of a large image takes seconds: a
      // signal meanwhile ends them, and the restore stops before its commit point.
      sqlite3_progress_handler(restored->getHandle(), 10000,
                               [](void*) -> int { return util::interrupt_signal() != 0 ? 1 : 0; }, nullptr);
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
        if (under_lock) under_lock();  // nothing to lock: no database anyone can write
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
      // Until the backup's last step commits, a signal rolls the live file back (OnSignal::abort).
      if (!under_lock || live_mode == "wal") {
        run_backup(*live, *restored, what, OnSignal::abort, under_lock);
        return;
      }
      live->exec("BEGIN");
      live->execAndGet("SELECT count(*) FROM sqlite_master");  // holds a shared lock: no commit can happen
      const auto before = change_counter(live_);
      under_lock();
      live->exec("COMMIT");
      run_backup(*live, *restored, what, OnSignal::abort, [&] {
        if (change_counter(live_) != before) {
          fail(ErrorKind::engine, "{}: another connection committed to the database after its safety snapshot; "
               "nothing was restored (the safety snapshot stays listed); stop the application's writers "
               "(stop_containers in dbsnap.toml) or retry", what);
        }
      });
    } catch (const SQLite::Exception& e) {
      util::check_interrupted();  // SQLITE_INTERRUPT from the progress handler
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


// --- SQLite inside a container -------------------------------------------------
// The scripts below are constants: the database path and table name arrive as
// positional arguments ($1, $2), never spliced into the text.

// Makes a consistent copy with the container's sqlite3 (.backup: the online
// backup API) or python3's sqlite3.backup, writes the copy's revision rows to
// stderr as "dbsnap-revision:<rev>" lines, then streams the copy to stdout.
constexpr const char* container_dump_script = R"sh(
[ -f "$1" ] || { echo "dbsnap: database file $1 does not exist in the container" >&2; exit 3; }
t=$(mktemp) || exit 1
trap 'rm -f "$t"' EXIT
if command -v sqlite3 >/dev/null 2>&1; then
  sqlite3 "$1" ".timeout 30000" ".backup '$t'" || exit 4
  if [ -n "$(sqlite3 "$t" "SELECT name FROM sqlite_master WHERE type='table' AND name='$2'")" ]; then
    sqlite3 "$t" "SELECT 'dbsnap-revision:' || version_num FROM \"$2\"" >&2 || exit 4
  fi
  sqlite3 "$t" "SELECT 'SELECT ''dbsnap-rows:' || hex(name) || ':'' || count(*) FROM \"' || replace(name, '\"', '\"\"') || '\";' FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'" |
    sqlite3 "$t" >&2 || exit 4
  sqlite3 --version | sed 's/^/dbsnap-tool:SQLite /' >&2
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$1" "$t" "$2" <<'PY' || exit 4
import sqlite3, sys
src = sqlite3.connect(sys.argv[1], timeout=30)
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()
copy = sqlite3.connect(sys.argv[2])
if copy.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (sys.argv[3],)).fetchone():
    for (rev,) in copy.execute('SELECT version_num FROM "%s"' % sys.argv[3]):
        sys.stderr.write("dbsnap-revision:%s\n" % rev)
for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'").fetchall():
    (count,) = copy.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()
    sys.stderr.write("dbsnap-rows:%s:%d\n" % (name.encode().hex().upper(), count))
sys.stderr.write("dbsnap-tool:SQLite %s (python3)\n" % sqlite3.sqlite_version)
PY
else
  echo "dbsnap: neither sqlite3 nor python3 is installed in the container; refusing to copy a live file" >&2
  exit 5
fi
cat "$t"
)sh";

// Receives a restore into a temp file beside the database; prints its path.
constexpr const char* container_receive_script = R"sh(
d=$(dirname "$1")
[ -d "$d" ] || { echo "dbsnap: folder $d does not exist in the container" >&2; exit 3; }
t=$(mktemp "$1.dbsnap-restore.XXXXXX") || exit 1
cat > "$t" || { rm -f "$t"; exit 1; }
echo "$t"
)sh";

// Checks the received copy and copies it into the live database with the
// backup API (sqlite3 .restore / python3 backup), then removes it.
constexpr const char* container_commit_script = R"sh(
trap 'rm -f "$2" "$2-journal"' EXIT
if command -v sqlite3 >/dev/null 2>&1; then
  ok=$(sqlite3 "$2" "PRAGMA journal_mode=DELETE;" "PRAGMA integrity_check;" | tail -n 1)
  [ "$ok" = ok ] || { echo "dbsnap: the snapshot fails PRAGMA integrity_check: $ok" >&2; exit 6; }
  if [ ! -f "$1" ]; then mv "$2" "$1"; exit 0; fi
  sqlite3 "$1" ".timeout 30000" ".restore '$2'" || exit 4
else
  python3 - "$1" "$2" <<'PY' || exit 4
import os, sqlite3, sys
src = sqlite3.connect(sys.argv[2])
src.execute("PRAGMA journal_mode=DELETE")
ok = src.execute("PRAGMA integrity_check").fetchone()[0]
if ok != "ok":
    sys.stderr.write("dbsnap: the snapshot fails PRAGMA integrity_check: %s\n" % ok)
    sys.exit(6)
if not os.path.exists(sys.argv[1]):
    src.close()
    os.rename(sys.argv[2], sys.argv[1])
    sys.exit(0)
dst = sqlite3.connect(sys.argv[1], timeout=30)
src.backup(dst)
dst.close()
PY
fi
)sh";

// Prints "dbsnap-rows:<name in hex>:<rows>" for each table of the live
// database (virtual ones left out), in one read transaction.
constexpr const char* container_rows_script = R"sh(
[ -f "$1" ] || { echo "dbsnap: database file $1 does not exist in the container" >&2; exit 3; }
if command -v sqlite3 >/dev/null 2>&1; then
  q=$(sqlite3 "$1" ".timeout 30000" "SELECT 'SELECT ''dbsnap-rows:' || hex(name) || ':'' || count(*) FROM \"' || replace(name, '\"', '\"\"') || '\";' FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'") || exit 4
  printf '.timeout 30000\nBEGIN;\n%s\nCOMMIT;\n' "$q" | sqlite3 "$1" || exit 4
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$1" <<'PY' || exit 4
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN")
for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'").fetchall():
    (count,) = db.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()
    print("dbsnap-rows:%s:%d" % (name.encode().hex().upper(), count))
db.execute("COMMIT")
PY
else
  echo "dbsnap: neither sqlite3 nor python3 is installed in the container" >&2
  exit 5
fi
)sh";

// Prints the version table's rows as "dbsnap-revision:<rev>" lines: one
// SELECT, which SQLite runs on a consistent view of the live database.
constexpr const char* container_revision_script = R"sh(
[ -f "$1" ] || { echo "dbsnap: database file $1 does not exist in the container" >&2; exit 3; }
if command -v sqlite3 >/dev/null 2>&1; then
  if [ -n "$(sqlite3 "$1" ".timeout 30000" "SELECT name FROM sqlite_master WHERE type='table' AND name='$2'")" ]; then
    sqlite3 "$1" ".timeout 30000" "SELECT 'dbsnap-revision:' || version_num FROM \"$2\"" || exit 4
  fi
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$1" "$2" <<'PY' || exit 4
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (sys.argv[2],)).fetchone():
    for (rev,) in db.execute('SELECT version_num FROM "%s"' % sys.argv[2]):
        print("dbsnap-revision:%s" % rev)
PY
else
  echo "dbsnap: neither sqlite3 nor python3 is installed in the container" >&2
  exit 5
fi
)sh";

std::string table_name_for_container(const config::Target& target) {
  const std::string table = version_table(target);
  for (char c : table) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      fail(ErrorKind::config, "target '{}': version_table '{}' must be letters, digits and '_' for a container",
           target.name, table);
    }
  }
  return table;
}

std::string container_file(const config::Target& target) {
  std::string file = target.string("file");
  if (file.empty() || file.front() != '/') {
    fail(ErrorKind::config, "target '{}': in a container, file must be an absolute path inside it", target.name);
  }
  return file;
}

bool in_container(const config::Target& target) { return target.has("container") || target.has("compose_service"); }

// Turns a script's failure into a one-line error.
[[noreturn]] void script_failed(const config::Target& target, const runtime::Runtime& rt, const std::string& what,
                                const runtime::ExitStatus& status, const std::string& err) {
  std::string detail(util::last_nonempty_line(err));
  fail(status.code == 3 || status.code == 5 ? ErrorKind::engine : ErrorKind::engine, "target '{}': {} in {} failed: {}",
       target.name, what, rt.where(), detail.empty() ? status.describe() : detail);
}

class ContainerSqliteRestore final : public RestoreSession {
 public:
  ContainerSqliteRestore(const config::Target& target, std::unique_ptr<runtime::Runtime> rt)
      : target_(target), rt_(std::move(rt)) {
    input_ = ToolInput::start(*rt_, {"sh", "-c", container_receive_script, "dbsnap", container_file(target_)}, {});
  }

  ~ContainerSqliteRestore() override {
    if (!received_.empty()) {
      try {
        runtime::run_in(*rt_, {"rm", "-f", received_}, {});
      } catch (...) {
      }
    }
  }

  pipeline::Sink& input() override { return *input_; }

  void commit() override {
    auto status = input_->close_and_wait();
    if (!status.ok()) script_failed(target_, *rt_, "receiving the snapshot", status, input_->stderr_text());
    received_ = std::string(util::trim(input_->stdout_text()));
    auto result = runtime::run_in(*rt_, {"sh", "-c", container_commit_script, "dbsnap", container_file(target_), received_}, {});
    if (!result.status.ok()) script_failed(target_, *rt_, "restore", result.status, result.err);
    received_.clear();  // the script removed it
  }

 private:
  const config::Target& target_;
  std::unique_ptr<runtime::Runtime> rt_;
  std::unique_ptr<ToolInput> input_;
  std::string received_;
};

std::vector<std::string> parse_prefixed(std::string_view text, std::string_view prefix) {
  std::vector<std::string> out;
  for (auto line : util::nonempty_lines(text)) {
    if (line.starts_with(prefix)) out.emplace_back(util::trim(line.substr(prefix.size())));
  }
  return out;
}
// The container script's "dbsnap-rows:<name in hex>:<count>" lines (none for
// a database without tables); nullopt when one is malformed.
std::optional<store::TableRows> parse_rows(const std::vector<std::string>& lines) {
  store::TableRows rows;
  for (const auto& line : lines) {
    auto colon = line.find(':');
    if (colon == std::string::npos || colon % 2 != 0) return std::nullopt;
    std::string name;
    for (std::size_t i = 0; i < colon; i += 2) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(line.data() + i, line.data() + i + 2, value, 16);
      if (ec != std::errc() || end != line.data() + i + 2) return std::nullopt;
      name += static_cast<char>(value);
    }
    auto count = util::parse_uint(std::string_view(line).substr(colon + 1));
    if (!count) return std::nullopt;
    rows[name] = *count;
  }
  return rows;
}

}  // namespace

const std::vector<config::KeySpec>& SqliteEngine::keys() const {
  static const std::vector<config::KeySpec> keys = {
      {"file", config::KeyType::path, true, "the database file, relative to the config file's folder"},
  };
  return keys;
}

bool SqliteEngine::locks_before_commit(const config::Target& target) const { return !in_container(target); }

bool SqliteEngine::exists(const config::Target& target, const WorkContext&) {
  if (in_container(target)) {
    auto rt = runtime::make_runtime(target);
    rt->check();
    return runtime::run_in(*rt, {"test", "-f", container_file(target)}, {}).status.ok();
  }
  std::error_code ec;
  return fs::is_regular_file(database_file(target), ec);
}

DumpInfo SqliteEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) {
  if (in_container(target)) {
    auto rt = runtime::make_runtime(target);
    rt->check();
    const std::string file = container_file(target);
    auto run = stream_from(*rt, {"sh", "-c", container_dump_script, "dbsnap", file, table_name_for_container(target)}, {},
                           out);
    if (!run.status.ok()) script_failed(target, *rt, "the consistent copy of " + file, run.status, run.stderr_text);
    DumpInfo info;
    info.revisions = parse_prefixed(run.stderr_text, "dbsnap-revision:");
    std::sort(info.revisions.begin(), info.revisions.end());
    auto tool = parse_prefixed(run.stderr_text, "dbsnap-tool:");
    info.tool_version = tool.empty() ? "SQLite" : tool.front();
    info.tables = parse_rows(parse_prefixed(run.stderr_text, "dbsnap-rows:"));
    info.source = fmt::format("file {} in {}", file, rt->where());
    return info;
  }
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
  if (in_container(target)) {
    auto rt = runtime::make_runtime(target);
    rt->check();
    auto r = runtime::run_in(*rt, {"sh", "-c", container_revision_script, "dbsnap", container_file(target),
                                   table_name_for_container(target)}, {});
    if (!r.status.ok()) script_failed(target, *rt, "reading the revision", r.status, r.err);
    auto revisions = parse_prefixed(r.out, "dbsnap-revision:");
    std::sort(revisions.begin(), revisions.end());
    return revisions;
  }
  const fs::path file = database_file(target);
  try {
    SQLite::Database db = open_existing(file, target);
    return revisions_in(db, version_table(target));
  } catch (const SQLite::Exception& e) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from {}: {}", target.name, file.string(), e.what());
  }
}

store::TableRows SqliteEngine::count_rows(const config::Target& target, const WorkContext&) {
  if (in_container(target)) {
    auto rt = runtime::make_runtime(target);
    rt->check();
    auto r = runtime::run_in(*rt, {"sh", "-c", container_rows_script, "dbsnap", container_file(target)}, {});
    if (!r.status.ok()) script_failed(target, *rt, "counting the rows", r.status, r.err);
    auto rows = parse_rows(parse_prefixed(r.out, "dbsnap-rows:"));
    if (!rows) fail(ErrorKind::engine, "target '{}': cannot read the row counts the container printed", target.name);
    return *rows;
  }
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
  try {
    if (in_container(target)) {
      auto rt = runtime::make_runtime(target);
      auto r = runtime::run_in(*rt, {"stat", "-c", "%s", container_file(target)}, {});
      if (r.status.ok()) return std::stoull(std::string(util::trim(r.out)));
      return std::nullopt;
    }
    std::error_code ec;
    auto size = fs::file_size(database_file(target), ec);
    if (!ec) return size;
  } catch (const std::exception&) {
  }
  return std::nullopt;
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

namespace {

// A test restore: the snapshot (a database file) is written to a private temp
// file in the store's scratch folder and opened there with this host's SQLite,
// whether the target's file is on this host or in a container (which is never
// touched). The temp file is flocked, so the next open of the store removes
// it when a killed run left it.
class SqliteTrial final : public TrialRestore {
 public:
  SqliteTrial(const config::Target& target, const WorkContext& context)
      : table_(version_table(target)), name_(target.name) {
    auto temp = value_or_throw(util::make_private_temp(context.scratch_dir, "sqlite-trial"));
    fd_ = std::move(temp.first);
    path_ = std::move(temp.second);
    sink_ = std::make_unique<pipeline::FdSink>(fd_.get(), path_.string());
  }
  ~SqliteTrial() override { remove_with_sidecars(path_); }

  std::string where() const override { return "a temporary copy in " + path_.parent_path().string(); }
  pipeline::Sink& input() override { return *sink_; }

  TrialResult finish() override {
    TrialResult result;
    try {
      SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);  // a private copy: its journal mode may change
      db.exec("PRAGMA journal_mode=DELETE");
      const std::string ok = db.execAndGet("PRAGMA integrity_check").getString();
      if (ok != "ok") {
        fail(ErrorKind::engine, "target '{}': the restored copy fails PRAGMA integrity_check: {}", name_, ok);
      }
      result.revisions = revisions_in(db, table_);
      result.tables = rows_in(db);
    } catch (const SQLite::Exception& e) {
      fail(ErrorKind::engine, "target '{}': the restored copy cannot be read: {}", name_, e.what());
    }
    remove_with_sidecars(path_);
    return result;
  }

 private:
  std::string table_;
  std::string name_;
  util::UniqueFd fd_;
  fs::path path_;
  std::unique_ptr<pipeline::FdSink> sink_;
};

}  // namespace

std::unique_ptr<TrialRestore> SqliteEngine::begin_trial_restore(const config::Target& target, const store::Manifest&,
                                                                const WorkContext& context) {
  return std::make_unique<SqliteTrial>(target, context);
}

std::unique_ptr<RestoreSession> SqliteEngine::begin_restore(const config::Target& target, const store::Manifest&,
                                                            const WorkContext&) {
  if (in_container(target)) {
    auto rt = runtime::make_runtime(target);
    rt->check();
    return std::make_unique<ContainerSqliteRestore>(target, std::move(rt));
  }
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

#include "dbsnap/engine/sqlite/container.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "dbsnap/engine/sqlite/file.hpp"
#include "dbsnap/engine/tool.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::sqlite {

namespace {

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

// Turns a script's failure into a one-line error.
[[noreturn]] void script_failed(const config::Target& target, const runtime::Runtime& rt, const std::string& what,
                                const runtime::ExitStatus& status, const std::string& err) {
  std::string detail(util::last_nonempty_line(err));
  fail(ErrorKind::engine, "target '{}': {} in {} failed: {}", target.name, what, rt.where(),
       detail.empty() ? status.describe() : detail);
}

class ContainerSqliteRestore final : public RestoreSession {
 public:
  ContainerSqliteRestore(const config::Target& target, std::shared_ptr<runtime::Runtime> rt)
      : target_(target), rt_(std::move(rt)) {
    input_ = ToolInput::start(*rt_, {"sh", "-c", container_receive_script, "dbsnap", container_file(target_)}, {});
  }

  ~ContainerSqliteRestore() override {
    if (!received_.empty()) {
      try {
        runtime::run_in(*rt_, {"rm", "-f", received_}, {});
      } catch (const std::exception& e) {
        fmt::print(stderr, "dbsnap: warning: target '{}': cannot remove {} in {}: {}\n", target_.name, received_,
                   rt_->where(), e.what());
      }
    }
  }

  pipeline::Sink& input() override { return *input_; }

  void commit() override {
    auto status = input_->close_and_wait();
    if (!status.ok()) script_failed(target_, *rt_, "receiving the snapshot", status, input_->stderr_text());
    received_ = std::string(util::trim(input_->stdout_text()));
    auto result = runtime::run_in(
        *rt_, {"sh", "-c", container_commit_script, "dbsnap", container_file(target_), received_}, {});
    if (!result.status.ok()) script_failed(target_, *rt_, "restore", result.status, result.err);
    received_.clear();  // the script removed it
  }

 private:
  const config::Target& target_;
  std::shared_ptr<runtime::Runtime> rt_;
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

}  // namespace

std::string container_file(const config::Target& target) {
  std::string file = target.string("file");
  if (file.empty() || file.front() != '/') {
    fail(ErrorKind::config, "target '{}': in a container, file must be an absolute path inside it", target.name);
  }
  return file;
}

bool in_container(const config::Target& target) { return target.has("container") || target.has("compose_service"); }

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

bool container_exists(runtime::Runtime& rt, const config::Target& target) {
  return runtime::run_in(rt, {"test", "-f", container_file(target)}, {}).status.ok();
}

DumpInfo container_dump(runtime::Runtime& rt, const config::Target& target, pipeline::Sink& out) {
  const std::string file = container_file(target);
  auto run = stream_from(rt, {"sh", "-c", container_dump_script, "dbsnap", file, table_name_for_container(target)}, {},
                         out);
  if (!run.status.ok()) script_failed(target, rt, "the consistent copy of " + file, run.status, run.stderr_text);
  DumpInfo info;
  info.revisions = parse_prefixed(run.stderr_text, "dbsnap-revision:");
  std::sort(info.revisions.begin(), info.revisions.end());
  auto tool = parse_prefixed(run.stderr_text, "dbsnap-tool:");
  info.tool_version = tool.empty() ? "SQLite" : tool.front();
  info.tables = parse_rows(parse_prefixed(run.stderr_text, "dbsnap-rows:"));
  info.source = fmt::format("file {} in {}", file, rt.where());
  return info;
}

std::vector<std::string> container_revisions(runtime::Runtime& rt, const config::Target& target) {
  auto r = runtime::run_in(rt, {"sh", "-c", container_revision_script, "dbsnap", container_file(target),
                                table_name_for_container(target)}, {});
  if (!r.status.ok()) script_failed(target, rt, "reading the revision", r.status, r.err);
  auto revisions = parse_prefixed(r.out, "dbsnap-revision:");
  std::sort(revisions.begin(), revisions.end());
  return revisions;
}

store::TableRows container_rows(runtime::Runtime& rt, const config::Target& target) {
  auto r = runtime::run_in(rt, {"sh", "-c", container_rows_script, "dbsnap", container_file(target)}, {});
  if (!r.status.ok()) script_failed(target, rt, "counting the rows", r.status, r.err);
  auto rows = parse_rows(parse_prefixed(r.out, "dbsnap-rows:"));
  if (!rows) fail(ErrorKind::engine, "target '{}': cannot read the row counts the container printed", target.name);
  return *rows;
}

std::uint64_t container_size(runtime::Runtime& rt, const config::Target& target) {
  auto r = runtime::run_in(rt, {"stat", "-c", "%s", container_file(target)}, {});
  if (!r.status.ok()) script_failed(target, rt, "measuring the database file", r.status, r.err);
  auto size = util::parse_uint(util::trim(r.out));
  if (!size) fail(ErrorKind::engine, "target '{}': stat printed no size for {}", target.name, container_file(target));
  return *size;
}

std::unique_ptr<RestoreSession> start_container_restore(const config::Target& target,
                                                        std::shared_ptr<runtime::Runtime> rt) {
  return std::make_unique<ContainerSqliteRestore>(target, std::move(rt));
}

}  // namespace dbsnap::engine::sqlite

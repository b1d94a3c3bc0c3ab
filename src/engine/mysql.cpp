#include "dbsnap/engine/mysql.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <utility>

#include "dbsnap/engine/tool.hpp"
#include "dbsnap/runtime/runtime.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine {

// ---------------------------------------------------------------------------
// Pure logic (unit-tested in tests/unit/test_engine_mysql.cpp).

namespace mysql {

namespace {

constexpr std::size_t max_identifier = 64;

using util::short_hash;

// The longest prefix of `name` of at most `max_chars` characters, cut at a
// UTF-8 character boundary (MySQL counts identifier length in characters).
std::string_view utf8_prefix(std::string_view name, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if ((c & 0xC0) != 0x80) {
      if (chars == max_chars) return name.substr(0, i);
      ++chars;
    }
  }
  return name;
}

std::string with_suffix(std::string_view database, std::string_view kind) {
  const std::string suffix = fmt::format("_dbsnap_{}_{}", kind, short_hash(database, 8));
  return std::string(utf8_prefix(database, max_identifier - suffix.size())) + suffix;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  return out + "`";
}

std::string quote_string(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    switch (c) {
      case '\'': out += "''"; break;
      case '\\': out += "\\\\"; break;
      case '\0': out += "\\0"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\x1a': out += "\\Z"; break;
      default: out += c;
    }
  }
  return out + "'";
}

std::vector<std::vector<std::string>> parse_batch(std::string_view output) {
  std::vector<std::vector<std::string>> rows;
  while (!output.empty()) {
    auto newline = output.find('\n');
    std::string_view line = output.substr(0, newline);
    output.remove_prefix(newline == std::string_view::npos ? output.size() : newline + 1);
    std::vector<std::string> row(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '\t') {
        row.emplace_back();
      } else if (c == '\\' && i + 1 < line.size()) {
        char e = line[++i];
        switch (e) {
          case 't': row.back() += '\t'; break;
          case 'n': row.back() += '\n'; break;
          case '0': row.back() += '\0'; break;
          default: row.back() += e;  // \\ and anything else: the character itself
        }
      } else {
        row.back() += c;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool is_oracle(std::string_view version) {
  return version.find("MariaDB") == std::string_view::npos && version.find("mariadb") == std::string_view::npos;
}

std::vector<std::string> dump_flags(std::string_view tool_version) {
  std::vector<std::string> flags = {"--single-transaction",
                                    "--quick",
                                    "--routines",
                                    "--triggers",
                                    "--events",
                                    "--hex-blob",
                                    "--default-character-set=utf8mb4",
                                    "--no-tablespaces",
                                    "--max-allowed-packet=1G"};
  if (is_oracle(tool_version)) flags.push_back("--set-gtid-purged=OFF");
  return flags;
}

std::string shadow_schema(std::string_view database) { return with_suffix(database, "shadow"); }
std::string old_schema(std::string_view database) { return with_suffix(database, "old"); }
std::string lock_name(std::string_view database) { return "dbsnap-restore-" + short_hash(database, 16); }

bool client_has_sandbox(std::string_view version) {
  const auto at = version.find("-MariaDB");
  if (at == std::string_view::npos) return false;
  auto start = version.rfind(' ', at);
  start = start == std::string_view::npos ? 0 : start + 1;
  int major = 0, minor = 0, patch = 0;
  if (std::sscanf(std::string(version.substr(start, at - start)).c_str(), "%d.%d.%d", &major, &minor, &patch) != 3) {
    return false;
  }
  struct Fixed { int major, minor, patch; };
  constexpr Fixed fixed[] = {{10, 5, 25}, {10, 6, 18}, {10, 11, 8}, {11, 0, 6}, {11, 1, 5}, {11, 2, 4}, {11, 4, 2}};
  if (major > 11 || (major == 11 && minor > 4)) return true;
  for (const auto& f : fixed) {
    if (f.major == major && f.minor == minor) return patch >= f.patch;
  }
  return false;
}

Expected<void> ClientCommandGate::judge() const {
  std::string_view head = head_;
  while (!head.empty() && (head.front() == ' ' || head.front() == '\t')) head.remove_prefix(1);
  std::string word;
  for (char c : head.substr(0, 7)) word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  // The first word, lower-case, and whether it stands alone (a blank, ';' or the line's end after it).
  auto is_word = [&](std::string_view name) {
    if (!word.starts_with(name)) return false;
    return head.size() == name.size() ||
           (head.size() > name.size() && (head[name.size()] == ' ' || head[name.size()] == '\t' ||
                                          head[name.size()] == ';' || head[name.size()] == '`'));
  };
  const std::string_view shown = head.substr(0, std::min<std::size_t>(head.size(), 24));
  if (head.starts_with("\\!") || is_word("system")) {
    return make_error(ErrorKind::engine, "line {} of the dump is a client shell command ('{}'), which would run a "
                      "command where the client runs; refused, nothing was loaded", line_, util::printable(shown));
  }
  // A restore loads into its own schema: a dump that switches to another (or reconnects) would write
  // outside it, where nothing is all-or-nothing. mysqldump of one database never writes these.
  if (head.starts_with("\\u") || head.starts_with("\\r") || is_word("use") || is_word("connect")) {
    return make_error(ErrorKind::engine, "line {} of the dump switches database ('{}'), which would load it outside "
                      "the restore's own schema; refused, nothing was loaded", line_, util::printable(shown));
  }
  return {};
}

Expected<void> ClientCommandGate::forward(std::string_view bytes) {
  if (bytes.empty()) return {};
  return next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
}

Expected<void> ClientCommandGate::write(pipeline::Bytes data) {
  // Judged bytes go on in one piece per chunk; only a line start cut by the chunk's end waits in held_.
  const std::string_view in(reinterpret_cast<const char*>(data.data()), data.size());
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (at_line_start_) {
      const std::size_t begin = pos;  // 0 when the line began in an earlier chunk (its start is in held_)
      // Up to 32 bytes (leading blanks and a word) or the whole line, whichever ends first.
      while (pos < in.size() && head_.size() < 32 && in[pos] != '\n') head_.push_back(in[pos++]);
      if (pos == in.size() && head_.size() < 32) {
        auto r = forward(in.substr(0, begin));
        held_.append(in.substr(begin));
        return r;
      }
      if (auto r = judge(); !r) return r;
      head_.clear();
      at_line_start_ = false;
      if (!held_.empty()) {  // begin == 0: nothing of this chunk went on yet
        if (auto r = forward(held_); !r) return r;
        held_.clear();
      }
      continue;
    }
    const auto nl = in.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    at_line_start_ = true;
    ++line_;
  }
  return forward(in);
}

Expected<void> ClientCommandGate::finish() {
  if (!head_.empty()) {
    if (auto r = judge(); !r) return r;
    head_.clear();
    if (auto r = forward(held_); !r) return r;
    held_.clear();
  }
  return next_.finish();
}

bool is_sandbox_line(std::string_view line) {
  return line.starts_with("/*M!999999\\-") || line.starts_with("/*!999999\\-");
}

Expected<void> SandboxFilter::decide() {
  deciding_ = false;
  std::string_view first = first_;
  if (auto newline = first.find('\n'); newline != std::string_view::npos && is_sandbox_line(first)) {
    dropped_ = true;
    first.remove_prefix(newline + 1);
  }
  Expected<void> r;
  if (!first.empty()) r = next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(first.data()), first.size()));
  first_.clear();
  first_.shrink_to_fit();
  return r;
}

Expected<void> SandboxFilter::write(pipeline::Bytes data) {
  if (!deciding_) return next_.write(data);
  // Hold back the start of the stream until its first line is complete (the
  // sandbox line is short: give up looking after 256 bytes).
  const std::size_t take = std::min<std::size_t>(data.size(), 256 - std::min<std::size_t>(first_.size(), 256));
  first_.append(reinterpret_cast<const char*>(data.data()), take);
  data = data.subspan(take);
  if (first_.find('\n') == std::string::npos && first_.size() < 256 && data.empty()) return {};
  if (auto r = decide(); !r) return r;
  return data.empty() ? Expected<void>{} : next_.write(data);
}

Expected<void> SandboxFilter::finish() {
  if (deciding_) {
    if (auto r = decide(); !r) return r;
  }
  return next_.finish();
}

RevisionScanner::RevisionScanner(std::string table) : prefix_("INSERT INTO " + quote_identifier(table)) {}

void RevisionScanner::line(std::string_view line) {
  if (in_insert_) {
    rows(line);
    return;
  }
  if (line.empty()) return;
  // Routine, trigger and event bodies sit between DELIMITER ;; and DELIMITER ;.
  if (line[0] == 'D' && starts_with_ci(line, "DELIMITER ")) {
    in_delimiter_block_ = util::trim(line.substr(10)) != ";";
    return;
  }
  if (in_delimiter_block_ || line[0] != 'I' || !line.starts_with(prefix_)) return;
  std::string_view rest = line.substr(prefix_.size());
  if (rest.empty() || (rest[0] != ' ' && rest[0] != '(')) return;  // another table whose name starts alike
  auto values = rest.find("VALUES");
  if (values == std::string_view::npos) return;
  in_insert_ = true;
  rows(rest.substr(values + 6));
}

// Reads tuples "('a'),('b');" from one line of an INSERT; the first field of
// each is a revision. A line ending in ';' ends the statement.
void RevisionScanner::rows(std::string_view text) {
  std::size_t i = 0;
  auto at_end = [&] { return i >= text.size(); };
  for (;;) {
    while (!at_end() && (text[i] == ' ' || text[i] == ',' || text[i] == '\r')) ++i;
    if (at_end()) return;  // the statement goes on in the next line
    if (text[i] == ';') {
      in_insert_ = false;
      return;
    }
    if (text[i] != '(') {
      problem_ = "unexpected text in the version table's INSERT";
      in_insert_ = false;
      return;
    }
    ++i;
    std::string value;
    if (!at_end() && text[i] == '\'') {
      ++i;
      bool closed = false;
      while (!at_end()) {
        char c = text[i++];
        if (c == '\\' && !at_end()) {
          char e = text[i++];
          switch (e) {
            case 'n': value += '\n'; break;
            case 'r': value += '\r'; break;
            case 't': value += '\t'; break;
            case '0': value += '\0'; break;
            case 'Z': value += '\x1a'; break;
            default: value += e;
          }
        } else if (c == '\'') {
          if (!at_end() && text[i] == '\'') {
            value += '\'';
            ++i;
          } else {
            closed = true;
            break;
          }
        } else {
          value += c;
        }
      }
      if (!closed) {
        problem_ = "a row of the version table's INSERT is cut off (longer than 4 KiB)";
        in_insert_ = false;
        return;
      }
    } else if (text.substr(i).starts_with("0x")) {
      // --hex-blob writes binary columns as 0x...
      i += 2;
      while (i + 1 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i])) &&
             std::isxdigit(static_cast<unsigned char>(text[i + 1]))) {
        value += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
        i += 2;
      }
    } else {
      while (!at_end() && text[i] != ',' && text[i] != ')') value += text[i++];
    }
    // Skip any further fields of the tuple (a string field may hold ')').
    bool quoted = false;
    while (!at_end()) {
      char c = text[i++];
      if (quoted) {
        if (c == '\\') ++i;
        else if (c == '\'') quoted = false;
      } else if (c == '\'') {
        quoted = true;
      } else if (c == ')') {
        break;
      }
    }
    if (i > text.size() || (at_end() && text.back() != ')')) {
      problem_ = "a row of the version table's INSERT is cut off (longer than 4 KiB)";
      in_insert_ = false;
      return;
    }
    revisions_.push_back(std::move(value));
  }
}

std::vector<std::string> RevisionScanner::revisions() const {
  std::vector<std::string> out = revisions_;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void EngineScanner::line(std::string_view line) {
  if (line.empty() || (line[0] != '-' && line[0] != 'C' && line[0] != ')')) return;
  if (line.starts_with("-- Temporary")) {
    stand_in_ = true;  // mysqldump 5.7 stands views in with MyISAM tables until their real definition
  } else if (line.starts_with("CREATE TABLE `")) {
    table_.clear();
    if (std::exchange(stand_in_, false)) return;
    for (std::size_t i = 14; i < line.size(); ++i) {
      if (line[i] == '`') {
        if (i + 1 < line.size() && line[i + 1] == '`') {
          table_ += '`';
          ++i;
          continue;
        }
        break;
      }
      table_ += line[i];
    }
  } else if (!table_.empty() && line.starts_with(") ENGINE=")) {
    std::string_view engine = line.substr(9);
    std::size_t n = 0;
    while (n < engine.size() && (std::isalnum(static_cast<unsigned char>(engine[n])) || engine[n] == '_')) ++n;
    engine = engine.substr(0, n);
    if (engine != "InnoDB") found_.push_back(fmt::format("{} ({})", table_, engine));
    table_.clear();
  }
}

std::string server_version_from_header(std::string_view head) {
  constexpr std::string_view key = "\n-- Server version";
  auto pos = head.find(key);
  if (pos == std::string_view::npos) return {};
  std::string_view rest = head.substr(pos + key.size());
  rest = rest.substr(0, rest.find('\n'));
  return std::string(util::trim(rest));
}

std::string incomplete_dump(std::string_view head, std::string_view tail) {
  if (head.find("-- MariaDB dump") == std::string_view::npos && head.find("-- MySQL dump") == std::string_view::npos) {
    return "it does not start with the '-- MariaDB dump' or '-- MySQL dump' header";
  }
  if (!util::last_nonempty_line(tail).starts_with("-- Dump completed")) {
    return "it does not end with the '-- Dump completed' trailer";
  }
  return {};
}

std::optional<int> error_code(std::string_view stderr_text) {
  for (std::string_view marker : {"ERROR ", "Got error: "}) {
    auto pos = stderr_text.rfind(marker);
    if (pos == std::string_view::npos) continue;
    std::string_view rest = stderr_text.substr(pos + marker.size());
    int code = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), code);
    if (ec == std::errc() && end != rest.data()) return code;
  }
  return std::nullopt;
}

}  // namespace mysql

// ---------------------------------------------------------------------------
// Talking to the server.

namespace {

using mysql::quote_identifier;
using mysql::quote_string;
using Rows = std::vector<std::vector<std::string>>;
namespace fs = std::filesystem;

// Constant scripts (no user input ever reaches a shell; user values are argv
// entries after them). The probe prints the path and version of the dump
// tool ($1 = dump) or of the client ($1 = client); the runner finds the
// client and runs it with the arguments, so queries need no probe.
constexpr const char* probe_script =
    "if [ \"$1\" = dump ]; then t=$(command -v mariadb-dump || command -v mysqldump); "
    "else t=$(command -v mariadb || command -v mysql); fi; "
    "[ -n \"$t\" ] || exit 0; echo \"path=$t\"; echo \"version=$(\"$t\" --version 2>&1)\"";
constexpr const char* client_script =
    "c=$(command -v mariadb || command -v mysql) || { echo dbsnap-no-client >&2; exit 1; }; exec \"$c\" \"$@\"";
constexpr std::string_view no_client_marker = "dbsnap-no-client";

// How long a restore step waits for the restore lock, and the cap on
// lock_wait_timeout while swapping (a long transaction on a table then makes
// the swap fail and be undone instead of hanging).
constexpr int lock_wait_seconds = 30;
constexpr int swap_lock_wait_seconds = 30;

constexpr std::string_view loaded_marker = "dbsnap-loaded";
constexpr std::string_view swapped_marker = "dbsnap-swapped";
constexpr std::string_view cleaned_marker = "dbsnap-cleaned";
constexpr std::string_view undone_marker = "dbsnap-undone";
constexpr std::string_view lock_busy_marker = "dbsnap-lock-busy";
constexpr std::string_view holding_marker = "dbsnap-holding";

std::string version_table(const config::Target& target) {
  return target.string("version_table", "alembic_version");
}

std::string qualified(std::string_view schema, std::string_view name) {
  return quote_identifier(schema) + "." + quote_identifier(name);
}

// SQL that takes the restore lock (waiting up to `wait` seconds) or stops
// the client's script with an error naming lock_busy_marker.
std::string lock_sql(const std::string& lock, int wait) {
  return fmt::format(
      "SET @dbsnap_lock = GET_LOCK({}, {});\n"
      "SET @dbsnap_check = IF(@dbsnap_lock = 1, 'DO 1', '{}');\n"
      "PREPARE dbsnap_check FROM @dbsnap_check;\n"
      "DEALLOCATE PREPARE dbsnap_check;\n",
      quote_string(lock), wait, lock_busy_marker);
}

// Our own sessions: predictable string literals (no NO_BACKSLASH_ESCAPES,
// no ANSI_QUOTES) whatever the server's default mode.
constexpr std::string_view session_prologue = "SET SESSION sql_mode = '';\n";

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_plain_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A tool found where the database runs.
struct Tool {
  std::string path;
  std::string version;  // its --version line
};

// An exit status for people; docker exec reports a signal inside the container as 128 + N.
std::string describe(const runtime::ExitStatus& status) {
  std::string text = status.describe();
  if (status.signal == 0 && status.code > 128 && status.code < 160) {
    text += fmt::format(", killed by signal {} ({})", status.code - 128, strsignal(status.code - 128));
  }
  return text;
}

// A target's server: where its commands run and its credentials.
class Server {
 public:
  explicit Server(const config::Target& target)
      : target_(target),
        runtime_(runtime::make_runtime(target)),
        secret_(runtime::Secret::from_target(target, "MYSQL_PWD")),
        database_(target.string("database")) {
    if (database_.empty()) fail(ErrorKind::config, "target '{}': key 'database' is required", target.name);
    runtime_->check();
  }

  const config::Target& target() const { return target_; }
  runtime::Runtime& runtime() { return *runtime_; }
  const runtime::Secret& secret() const { return secret_; }
  const std::string& database() const { return database_; }
  std::string where() const { return fmt::format("database '{}' in {}", database_, runtime_->where()); }

  // mariadb-dump or mysqldump, with its version; a runtime error when neither is there.
  Tool dump_tool() {
    Tool tool = probe("dump");
    if (tool.path.empty()) {
      fail(ErrorKind::runtime, "target '{}': neither mariadb-dump nor mysqldump is installed in {}; install the "
           "MariaDB or MySQL client tools there", target_.name, runtime_->where());
    }
    return tool;
  }
  // mariadb or mysql, with its version; then client_argv() runs it directly.
  Tool client() {
    Tool tool = probe("client");
    if (tool.path.empty()) no_client();
    client_ = tool.path;
    return tool;
  }

  // --user/--host/--port: never a password (that travels in MYSQL_PWD).
  std::vector<std::string> connection() const {
    std::vector<std::string> args{"--user=" + target_.string("user", "root")};
    if (target_.has("host")) args.push_back("--host=" + target_.string("host"));
    if (target_.has("port")) args.push_back(fmt::format("--port={}", target_.integer("port", 3306)));
    if (target_.has("host") || target_.has("port")) args.emplace_back("--protocol=tcp");
    return args;
  }

  // The client's argv: the probed client, else the runner script that finds it.
  std::vector<std::string> client_argv(std::string_view database = {}) const {
    std::vector<std::string> argv;
    if (client_.empty()) {
      argv = {"sh", "-c", client_script, "dbsnap-client"};
    } else {
      argv = {client_};
    }
    auto conn = connection();
    argv.insert(argv.end(), conn.begin(), conn.end());
    argv.insert(argv.end(), {"--batch", "--skip-column-names", "--default-character-set=utf8mb4",
                             "--max-allowed-packet=1G"});
    if (!database.empty()) argv.push_back("--database=" + std::string(database));
    return argv;
  }

  // Runs a script through the client; the tool's own failure is the caller's to judge.
  runtime::RunResult run_sql(const std::string& sql, std::string_view database = {}) {
    auto r = runtime::run_in(*runtime_, client_argv(database), secret_, std::string(session_prologue) + sql);
    if (!r.status.ok() && r.err.find(no_client_marker) != std::string::npos) no_client();
    return r;
  }

  // Runs a script and returns its rows; throws an engine error saying `what` failed.
  Rows query(const std::string& sql, std::string_view what, std::string_view database = {}) {
    auto r = run_sql(sql, database);
    if (!r.status.ok()) fail(ErrorKind::engine, "target '{}': {} failed: {}", target_.name, what, explain(r.err, r.status));
    return mysql::parse_batch(r.out);
  }

  // The tool's error line with a hint on how to fix it.
  std::string explain(std::string_view err, const runtime::ExitStatus& status) const {
    std::string line;
    for (auto l : util::nonempty_lines(err)) {
      if (l.find("ERROR") != std::string_view::npos || l.find("rror:") != std::string_view::npos ||
          l.find("Got error") != std::string_view::npos || l.find("Couldn't") != std::string_view::npos) {
        line = l;
      }
    }
    if (line.empty()) line = util::last_nonempty_line(err);
    if (line.empty()) line = describe(status);
    switch (mysql::error_code(err).value_or(0)) {
      case 1045:
        return line + fmt::format(" (check 'user' and the password: password_env or password_from_container)");
      case 1049: return line + " (check 'database' in dbsnap.toml)";
      case 1044:
      case 1142:
      case 1227: return line + fmt::format(" (user '{}' lacks a privilege this needs)", target_.string("user", "root"));
      case 2002:
      case 2003:
      case 2005: return line + " (is the server running? check host and port)";
      case 2006:
      case 2013:
        return line + " (the server closed the connection: a statement over its max_allowed_packet, a restart or a "
                      "timeout)";
      default: return line;
    }
  }

 private:
  [[noreturn]] void no_client() const {
    fail(ErrorKind::runtime, "target '{}': neither the mariadb nor the mysql client is installed in {}; install "
         "the MariaDB or MySQL client tools there", target_.name, runtime_->where());
  }

  Tool probe(const char* which) {
    auto r = runtime::run_in(*runtime_, {"sh", "-c", probe_script, "dbsnap-probe", which}, runtime::Secret{});
    if (!r.status.ok()) {
      fail(ErrorKind::runtime, "target '{}': cannot look for the MySQL tools in {}: {}", target_.name,
           runtime_->where(), util::last_nonempty_line(r.err + r.out));
    }
    Tool tool;
    for (auto line : util::nonempty_lines(r.out)) {
      if (line.starts_with("path=")) tool.path = util::trim(line.substr(5));
      if (line.starts_with("version=")) tool.version = util::trim(line.substr(8));
    }
    return tool;
  }

  const config::Target& target_;
  std::unique_ptr<runtime::Runtime> runtime_;
  runtime::Secret secret_;
  std::string database_;
  std::string client_;
};

// ---------------------------------------------------------------------------
// A schema's objects, as the restore's swap needs them.

// How to re-create a trigger, view, routine or event: SHOW CREATE's statement
// and the session settings it was created under.
struct Definition {
  std::string kind;  // TRIGGER, VIEW, PROCEDURE, FUNCTION, EVENT
  std::string name;
  std::string statement;
  std::string sql_mode;
  std::string time_zone;
  std::string collation;  // collation_connection
};

struct Trigger {
  std::string name;
  std::string table;
};

struct Routine {
  std::string type;  // PROCEDURE or FUNCTION
  std::string name;
  bool operator==(const Routine&) const = default;
};

struct Schema {
  std::string name;
  bool exists = false;
  std::string collation;
  std::vector<std::string> tables;  // base tables, sequences, system-versioned tables
  std::vector<std::string> views;
  std::map<std::string, std::vector<std::string>> view_columns;
  std::vector<Trigger> triggers;  // in creation order
  std::vector<Routine> routines;
  std::vector<std::string> events;
  std::map<std::string, Definition> definitions;  // by "KIND name"
  std::vector<std::string> revisions;             // when asked for
  std::uint64_t foreign_keys_in = 0;              // foreign keys of other schemas' tables into this one

  bool has_objects() const { return !views.empty() || !triggers.empty() || !routines.empty() || !events.empty(); }
  bool has_trigger(const std::string& n) const {
    return std::any_of(triggers.begin(), triggers.end(), [&](const Trigger& t) { return t.name == n; });
  }
  bool has_routine(const Routine& r) const { return std::find(routines.begin(), routines.end(), r) != routines.end(); }
  const Definition& definition(const std::string& kind, const std::string& n) const {
    auto it = definitions.find(kind + " " + n);
    if (it == definitions.end()) {
      fail(ErrorKind::engine, "cannot read the definition of {} {}.{} (the user may not see it: it needs the "
           "SHOW_ROUTINE/TRIGGER/SHOW VIEW/EVENT privilege); target unchanged", kind, name, n);
    }
    return it->second;
  }
};

// Lists a schema's objects: rows tagged with `tag`.
std::string listing_sql(char tag, const std::string& schema) {
  const std::string s = quote_string(schema);
  return fmt::format(
      "SELECT 's', '{0}', DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {1};\n"
      "SELECT 't', '{0}', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {1} "
      "ORDER BY TABLE_NAME;\n"
      "SELECT 'c', '{0}', TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {1} AND "
      "TABLE_NAME IN (SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {1}) "
      "ORDER BY TABLE_NAME, ORDINAL_POSITION;\n"
      "SELECT 'g', '{0}', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {1} "
      "ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER;\n"
      "SELECT 'r', '{0}', ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {1} "
      "ORDER BY ROUTINE_TYPE, ROUTINE_NAME;\n"
      "SELECT 'e', '{0}', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {1} ORDER BY EVENT_NAME;\n"
      "SELECT 'f', '{0}', COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
      "WHERE UNIQUE_CONSTRAINT_SCHEMA = {1} AND CONSTRAINT_SCHEMA <> {1};\n",
      tag, s);
}

// One "rows <table> <count>" row per table of `schema` in `tables`.
std::string count_rows_sql(const std::string& schema, const std::vector<std::string>& tables) {
  std::string sql;
  for (const auto& t : tables) {
    sql += fmt::format("SELECT 'rows', {}, COUNT(*) FROM {};\n", quote_string(t), qualified(schema, t));
  }
  return sql;
}

// The counts count_rows_sql() printed, by table.
store::TableRows read_counts(const Rows& rows) {
  store::TableRows counts;
  for (const auto& row : rows) {
    auto count = row.size() == 3 && row[0] == "rows" ? util::parse_uint(row[2]) : std::nullopt;
    if (count) counts[row[1]] = *count;
  }
  return counts;
}

// Rows of the version table, tagged 'v', when the table exists.
std::string revisions_sql(const std::string& schema, const std::string& table) {
  const std::string select = "SELECT 'v', version_num FROM " + qualified(schema, table);
  return fmt::format(
      "SET @dbsnap_q = IF(EXISTS(SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}), "
      "{}, 'DO 0');\n"
      "PREPARE dbsnap_q FROM @dbsnap_q;\nEXECUTE dbsnap_q;\nDEALLOCATE PREPARE dbsnap_q;\n",
      quote_string(schema), quote_string(table), quote_string(select));
}

void read_listing(const Rows& rows, std::map<char, Schema*> schemas) {
  for (const auto& row : rows) {
    if (row.size() < 3 || row[0].size() != 1 || row[1].size() != 1) continue;
    auto it = schemas.find(row[1][0]);
    if (it == schemas.end()) continue;
    Schema& s = *it->second;
    switch (row[0][0]) {
      case 's':
        s.exists = true;
        s.collation = row[2];
        break;
      case 't':
        if (row.size() < 4) break;
        if (row[3] == "VIEW") {
          s.views.push_back(row[2]);
        } else if (row[3] == "BASE TABLE" || row[3] == "SEQUENCE" || row[3] == "SYSTEM VERSIONED") {
          s.tables.push_back(row[2]);
        }
        break;
      case 'c':
        if (row.size() >= 4) s.view_columns[row[2]].push_back(row[3]);
        break;
      case 'g':
        if (row.size() >= 4) s.triggers.push_back({row[2], row[3]});
        break;
      case 'r':
        if (row.size() >= 4 && (row[2] == "PROCEDURE" || row[2] == "FUNCTION")) s.routines.push_back({row[2], row[3]});
        break;
      case 'e': s.events.push_back(row[2]); break;
      case 'f': s.foreign_keys_in = std::strtoull(row[2].c_str(), nullptr, 10); break;
      case 'v': s.revisions.push_back(row[2]); break;
      default: break;
    }
  }
}

// SHOW CREATE for every trigger, view, routine and event of a schema, each
// after a marker row. Run with the schema as the current database, so that
// view definitions name its tables without the schema.
std::string definitions_sql(char tag, const Schema& s) {
  std::string sql = "USE " + quote_identifier(s.name) + ";\n";
  auto add = [&](const std::string& kind, const std::string& name) {
    sql += fmt::format("SELECT 'dbsnap-def', '{}', {}, {};\nSHOW CREATE {} {};\n", tag, quote_string(kind),
                       quote_string(name), kind, qualified(s.name, name));
  };
  for (const auto& t : s.triggers) add("TRIGGER", t.name);
  for (const auto& v : s.views) add("VIEW", v);
  for (const auto& r : s.routines) add(r.type, r.name);
  for (const auto& e : s.events) add("EVENT", e);
  return sql;
}

void read_definitions(const Rows& rows, std::map<char, Schema*> schemas) {
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {
    const auto& marker = rows[i];
    if (marker.size() != 4 || marker[0] != "dbsnap-def" || marker[1].size() != 1) continue;
    auto it = schemas.find(marker[1][0]);
    if (it == schemas.end()) continue;
    const auto& row = rows[++i];
    Definition d{.kind = marker[2], .name = marker[3]};
    // SHOW CREATE's columns differ by kind.
    if (d.kind == "TRIGGER" && row.size() >= 5) {
      d.sql_mode = row[1], d.statement = row[2], d.collation = row[4];
    } else if (d.kind == "VIEW" && row.size() >= 4) {
      d.statement = row[1], d.collation = row[3];
    } else if ((d.kind == "PROCEDURE" || d.kind == "FUNCTION") && row.size() >= 5) {
      d.sql_mode = row[1], d.statement = row[2], d.collation = row[4];
    } else if (d.kind == "EVENT" && row.size() >= 6) {
      d.sql_mode = row[1], d.time_zone = row[2], d.statement = row[3], d.collation = row[5];
    }
    if (d.statement.empty() || d.statement == "NULL") continue;  // no right to see it: definition() reports it
    it->second->definitions.emplace(d.kind + " " + d.name, std::move(d));
  }
}

// The statements that re-create a definition in the current database, with
// the sql_mode, collation and time zone it was made under. Bodies hold ';',
// so they go between DELIMITER ;; lines, as in mysqldump's own output.
std::string create_sql(const Definition& d, bool replace_view = false) {
  std::string sql;
  if (d.kind != "VIEW") sql += "SET SESSION sql_mode = " + quote_string(d.sql_mode) + ";\n";
  sql += "SET SESSION character_set_client = utf8mb4, character_set_results = utf8mb4";
  if (is_plain_name(d.collation)) sql += ", collation_connection = " + d.collation;
  sql += ";\n";
  if (!d.time_zone.empty()) sql += "SET SESSION time_zone = " + quote_string(d.time_zone) + ";\n";
  std::string statement = d.statement;
  if (replace_view && statement.starts_with("CREATE ")) statement.insert(7, "OR REPLACE ");
  sql += "DELIMITER ;;\n" + statement + "\n;;\nDELIMITER ;\nSET SESSION sql_mode = '';\n";
  return sql;
}

// A view that stands in for `name` (same columns, no dependencies) until its
// real definition replaces it: views may select from views, in any order.
std::string stand_in_sql(const Schema& s, const std::string& name) {
  std::vector<std::string> columns;
  auto it = s.view_columns.find(name);
  if (it != s.view_columns.end()) {
    for (const auto& c : it->second) columns.push_back("NULL AS " + quote_identifier(c));
  }
  if (columns.empty()) columns.emplace_back("NULL AS `dbsnap_stand_in`");
  return fmt::format("CREATE VIEW {} AS SELECT {};\n", quote_identifier(name), util::join(columns, ", "));
}

std::string drop_routine_sql(const std::string& schema, const Routine& r, bool if_exists = false) {
  return fmt::format("DROP {} {}{};\n", r.type, if_exists ? "IF EXISTS " : "", qualified(schema, r.name));
}

}  // namespace

// ---------------------------------------------------------------------------
// Restore.

namespace {

// Feeds the client that loads the dump; when the client stops reading (an
// SQL error ends it), the error says why, from the client's stderr.
class LoadSink final : public pipeline::Sink {
 public:
  LoadSink(ToolInput& tool, std::function<std::string()> why) : tool_(tool), why_(std::move(why)) {}
  Expected<void> write(pipeline::Bytes data) override {
    auto r = tool_.write(data);
    if (!r && r.error().kind != ErrorKind::interrupted) return make_error(ErrorKind::engine, "{}", why_());
    return r;
  }
  Expected<void> finish() override { return {}; }

 private:
  ToolInput& tool_;
  std::function<std::string()> why_;
};

// What a MysqlRestore is for: a restore, or a test restore (verify
// --restore), which loads the shadow schema, reads it and drops it: it never
// swaps and never loads into the database itself.
enum class Purpose { restore, trial };

class MysqlRestore final : public RestoreSession {
 public:
  MysqlRestore(const config::Target& target, const store::Manifest& snapshot, const WorkContext& context,
               Purpose purpose = Purpose::restore)
      : target_(target), revisions_(snapshot.revisions), server_(target), purpose_(purpose) {
    oracle_client_ = mysql::is_oracle(server_.client().version);
    sandbox_ = mysql::client_has_sandbox(server_.client().version);
    std::sort(revisions_.begin(), revisions_.end());
    shadow_ = mysql::shadow_schema(server_.database());
    old_ = mysql::old_schema(server_.database());
    lock_ = mysql::lock_name(server_.database());
    hold_restore_lock();
    prepare();
    if (direct_ && purpose_ == Purpose::trial) {
      release_restore_lock();
      fail(ErrorKind::engine, "target '{}': a test restore needs a scratch schema on {} and {}", target_.name,
           server_.where(), direct_reason_);
    }
    if (direct_) {
      fmt::print(stderr,
                 "dbsnap: warning: target '{}': {}; the verified dump will be loaded straight into database '{}' "
                 "at the end (not all-or-nothing: the pre-restore safety snapshot is the way back)\n",
                 target_.name, direct_reason_, server_.database());
      auto spool = value_or_throw(util::make_private_temp(context.scratch_dir, "mysql-restore"));
      spool_fd_ = std::move(spool.first);
      spool_path_ = std::move(spool.second);
      spool_sink_ = std::make_unique<pipeline::FdSink>(spool_fd_.get());
      input_ = spool_sink_.get();
    } else {
      try {
        start_loader();
      } catch (...) {
        loader_.reset();
        drop_shadow();
        throw;
      }
    }
  }

  ~MysqlRestore() override {
    if (!spool_path_.empty()) {
      std::error_code ec;
      fs::remove(spool_path_, ec);
    }
    if (committed_) return;
    try {
      // Closing the client's stdin ends its session: nothing it loaded is visible.
      filter_.reset();
      load_sink_.reset();
      loader_.reset();
      if (shadow_created_ && !keep_shadow_) drop_shadow();
    } catch (...) {
      // The next restore removes a leftover shadow schema.
    }
    release_restore_lock();
  }

  pipeline::Sink& input() override { return *input_; }

  // Where a test restore loads the dump.
  std::string scratch_where() const { return fmt::format("scratch schema '{}' on {}", shadow_, server_.where()); }

  // A test restore's end: waits for the load into the shadow schema, reads
  // its revisions and the rows of each of its tables, then drops it.
  TrialResult trial_result() {
    wait_for_load();
    auto [live, shadow] = inspect(false);
    if (!shadow.exists) {
      fail(ErrorKind::engine, "target '{}': the scratch schema '{}' disappeared during the test restore (another "
           "restore?)", target_.name, shadow_);
    }
    TrialResult result;
    result.revisions = std::move(shadow.revisions);
    std::sort(result.revisions.begin(), result.revisions.end());
    result.revisions.erase(std::unique(result.revisions.begin(), result.revisions.end()), result.revisions.end());
    if (!shadow.tables.empty()) {
      result.tables = read_counts(
          query(lock_sql(lock_, lock_wait_seconds) + count_rows_sql(shadow_, shadow.tables),
                "counting the rows of the scratch schema"));
    }
    drop_shadow();
    shadow_created_ = false;
    return result;
  }

  // Both commit paths compare the restored revision with the snapshot's
  // before they report success (the swap before it makes anything visible).
  bool checks_revision() const override { return true; }

  void commit() override {
    if (direct_) {
      commit_direct();
    } else {
      commit_swap();
    }
    committed_ = true;
    release_restore_lock();
    if (!leftovers_.empty()) {
      fmt::print(stderr, "dbsnap: removed what an interrupted restore of '{}' had left: {}\n", target_.name,
                 util::join(leftovers_, ", "));
    }
  }

 private:
  [[noreturn]] void fail_sql(std::string_view what, const runtime::RunResult& r) const {
    if (r.err.find(lock_busy_marker) != std::string::npos) {
      fail(ErrorKind::engine, "target '{}': another dbsnap restore into {} is running (or a killed one is still "
           "finishing); try again in a minute", target_.name, server_.where());
    }
    fail(ErrorKind::engine, "target '{}': {} failed: {}", target_.name, what, server_.explain(r.err, r.status));
  }

  // Two locks keep restores of one database apart. The run lock is held by a
  // session of its own (holder_) from the start of this restore to its end,
  // so no other restore can begin in between any two of its steps (the
  // shadow schema's name is the same for every restore of a database: a
  // second restore would take it for a leftover and drop it). The step lock
  // (lock_) is taken by each step's session, the loader included: a killed
  // restore's loader may still run statements left in its pipe, and the
  // next restore waits for it to finish before it touches the shadow.
  // The client that loads the dump: in --sandbox mode when it has one, so
  // that no line of a dump can reach a shell or a file (ClientCommandGate
  // refuses the shell commands for clients without it).
  std::vector<std::string> loader_argv(std::string_view database = {}) const {
    auto argv = server_.client_argv(database);
    if (sandbox_) argv.emplace_back("--sandbox");
    return argv;
  }

  void hold_restore_lock() {
    auto argv = server_.client_argv();
    argv.emplace_back("--unbuffered");  // the marker must come out while the client runs
    holder_ = ToolInput::start(server_.runtime(), argv, server_.secret());
    const std::string sql = std::string(session_prologue) + "SET SESSION wait_timeout = 31536000;\n" +
                            lock_sql(run_lock_name(), 0) + fmt::format("SELECT '{}';\n", holding_marker);
    if (holder_->send(sql) && holder_->wait_for_stdout(holding_marker)) return;
    runtime::ExitStatus status;
    try {
      status = holder_->close_and_wait();
    } catch (...) {
      holder_.reset();
      throw;
    }
    const std::string err = holder_->stderr_text();
    holder_.reset();
    if (err.find(lock_busy_marker) != std::string::npos) {
      fail(ErrorKind::engine, "target '{}': another dbsnap restore into {} is running; try again when it is done",
           target_.name, server_.where());
    }
    fail(ErrorKind::engine, "target '{}': taking the restore lock failed: {}", target_.name,
         server_.explain(err, status));
  }

  std::string run_lock_name() const { return lock_ + "-run"; }

  // Ends the holder's session, which releases the run lock; never throws.
  void release_restore_lock() noexcept {
    if (!holder_) return;
    try {
      holder_->close_and_wait();
    } catch (...) {
      // Its session ends with the client anyway.
    }
    holder_.reset();
  }

  // Takes the restore lock, removes what a killed restore left behind, and
  // creates the shadow schema with the database's collation, unless the
  // swap cannot be done safely (then: direct mode).
  void prepare() {
    const std::string db = quote_string(server_.database());
    std::string sql = lock_sql(lock_, 0);
    sql += fmt::format(
        "SELECT 'leftover', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({0}, {2});\n"
        "SET SESSION foreign_key_checks = 0;\n"
        "DROP DATABASE IF EXISTS {3};\n"
        "DROP DATABASE IF EXISTS {5};\n"
        "{6}"
        "SET @dbsnap_q = IF(@dbsnap_fk = 0, CONCAT({4}, IFNULL((SELECT "
        "DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {1}), @@collation_server)), "
        "'DO 0');\n"
        "PREPARE dbsnap_q FROM @dbsnap_q;\nEXECUTE dbsnap_q;\nDEALLOCATE PREPARE dbsnap_q;\n"
        "SELECT 'created', IF(@dbsnap_fk = 0, 1, 0);\n",
        quote_string(shadow_), db, quote_string(old_), quote_identifier(shadow_),
        quote_string("CREATE DATABASE " + quote_identifier(shadow_) + " COLLATE "), quote_identifier(old_),
        // Foreign keys of other schemas into the database keep a swap from
        // being safe; a test restore never swaps.
        purpose_ == Purpose::trial
            ? std::string("SET @dbsnap_fk = 0;\n")
            : fmt::format("SET @dbsnap_fk = (SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
                          "WHERE UNIQUE_CONSTRAINT_SCHEMA = {0} AND CONSTRAINT_SCHEMA <> {0});\n", db));
    auto r = server_.run_sql(sql);
    const auto rows = mysql::parse_batch(r.out);
    std::vector<std::string> leftovers;  // reported once the restore worked (errors stay one line)
    for (const auto& row : rows) {
      if (row.size() == 2 && row[0] == "leftover") leftovers.push_back(row[1]);
      if (row.size() == 2 && row[0] == "created") {
        shadow_created_ = row[1] == "1";
        if (!shadow_created_) {
          direct_ = true;
          direct_reason_ = fmt::format("tables of other schemas have foreign keys into database '{}', which a "
                                       "swap would leave pointing at the old tables", server_.database());
        }
      }
    }
    leftovers_ = std::move(leftovers);
    if (r.status.ok()) return;
    const int code = mysql::error_code(r.err).value_or(0);
    if ((code == 1044 || code == 1227) && r.err.find(lock_busy_marker) == std::string::npos) {
      direct_ = true;
      direct_reason_ = fmt::format("user '{}' may not create the shadow schema '{}' ({})",
                                   target_.string("user", "root"), shadow_, util::last_nonempty_line(r.err));
      return;
    }
    fail_sql("preparing the restore", r);
  }

  void start_loader() {
    loader_ = ToolInput::start(server_.runtime(), loader_argv(shadow_), server_.secret());
    load_sink_ = std::make_unique<LoadSink>(*loader_, [this] { return load_failure(); });
    gate_ = std::make_unique<mysql::ClientCommandGate>(*load_sink_);
    filter_ = std::make_unique<mysql::SandboxFilter>(*gate_, oracle_client_);
    input_ = filter_.get();
    // The loader holds the restore lock for as long as it runs.
    if (auto r = loader_->send(lock_sql(lock_, lock_wait_seconds)); !r) throw DbsnapError(r.error());
  }

  // Why the loading client stopped: waits for it and reads its stderr.
  std::string load_failure() {
    runtime::ExitStatus status;
    try {
      status = loader_->close_and_wait();
    } catch (const DbsnapError& e) {
      return e.what();
    }
    const std::string& err = loader_->stderr_text();
    if (err.find(lock_busy_marker) != std::string::npos) {
      return fmt::format("another dbsnap restore into {} is running; try again in a minute", server_.where());
    }
    return fmt::format("loading the dump into the shadow schema '{}' failed: {}", shadow_,
                       server_.explain(err, status));
  }

  // Runs a script of this restore; a busy restore lock gets its own message.
  Rows query(const std::string& sql, std::string_view what) {
    auto r = server_.run_sql(sql);
    if (!r.status.ok()) fail_sql(what, r);
    return mysql::parse_batch(r.out);
  }

  // Drops the shadow schema under the restore lock (the loader of an
  // abandoned restore may still be finishing a statement: wait for it).
  void drop_shadow() {
    std::string sql = lock_sql(lock_, lock_wait_seconds);
    sql += "DROP DATABASE IF EXISTS " + quote_identifier(shadow_) + ";\n";
    server_.run_sql(sql);
  }

  // Lists the database and the shadow schema; with `definitions`, also how
  // to re-create their triggers, views, routines and events.
  std::pair<Schema, Schema> inspect(bool definitions) {
    Schema live{.name = server_.database()};
    Schema shadow{.name = shadow_};
    std::string sql = lock_sql(lock_, lock_wait_seconds);
    sql += listing_sql('o', live.name) + listing_sql('n', shadow.name);
    sql += revisions_sql(shadow_, version_table(target_));
    auto rows = query(sql, "inspecting the restored schema");
    for (auto& row : rows) {
      if (row.size() == 2 && row[0] == "v") row = {"v", "n", row[1]};
    }
    read_listing(rows, {{'o', &live}, {'n', &shadow}});
    if (definitions && (live.has_objects() || shadow.has_objects())) {
      std::string defs;
      if (shadow.exists) defs += definitions_sql('n', shadow);
      if (live.exists) defs += definitions_sql('o', live);
      read_definitions(query(defs, "reading trigger, view, routine and event definitions"),
                       {{'o', &live}, {'n', &shadow}});
    }
    return {std::move(live), std::move(shadow)};
  }

  // Waits until the loader has read and run the whole dump; throws when it failed.
  void wait_for_load() {
    if (auto r = loader_->send(fmt::format("\nSELECT '{}';\n", loaded_marker)); !r) {
      fail(ErrorKind::engine, "target '{}': {}; target unchanged", target_.name, load_failure());
    }
    const auto status = loader_->close_and_wait();
    if (!status.ok() || loader_->stdout_text().find(loaded_marker) == std::string::npos) {
      fail(ErrorKind::engine, "target '{}': loading the dump into the shadow schema '{}' failed: {}; target "
           "unchanged", target_.name, shadow_, server_.explain(loader_->stderr_text(), status));
    }
  }

  void commit_swap() {
    // 1. The loader must have read and run the whole dump.
    wait_for_load();

    // 2. What is where, and the restored revision.
    auto [live, shadow] = inspect(true);
    if (!shadow.exists) {
      fail(ErrorKind::engine, "target '{}': the shadow schema '{}' disappeared during the restore (another "
           "restore?); target unchanged", target_.name, shadow_);
    }
    std::sort(shadow.revisions.begin(), shadow.revisions.end());
    shadow.revisions.erase(std::unique(shadow.revisions.begin(), shadow.revisions.end()), shadow.revisions.end());
    if (shadow.revisions != revisions_) {
      fail(ErrorKind::engine, "target '{}': the restored data holds revision {}, the snapshot recorded {}; "
           "target unchanged", target_.name, util::revision_text(shadow.revisions), util::revision_text(revisions_));
    }
    if (live.foreign_keys_in > 0) {
      fail(ErrorKind::engine, "target '{}': tables of other schemas now have foreign keys into database '{}', "
           "so its tables cannot be swapped; target unchanged", target_.name, live.name);
    }

    // 3. The swap.
    auto r = server_.run_sql(swap_sql(live, shadow));
    if (r.out.find(cleaned_marker) != std::string::npos) return;
    if (r.out.find(swapped_marker) != std::string::npos) {
      fmt::print(stderr, "dbsnap: warning: target '{}' is restored, but cleaning up failed ({}); the next "
                 "restore removes what is left\n", target_.name, util::last_nonempty_line(r.err));
      return;
    }
    const std::string why = r.err.find(lock_busy_marker) != std::string::npos
                                ? std::string("another dbsnap restore holds the lock")
                                : server_.explain(r.err, r.status);
    undo(live, shadow, why);
  }

  // Puts the restored tables in and the old ones aside with one RENAME
  // TABLE, then replaces triggers, views, routines and events. Everything
  // before the RENAME happens in the shadow schema, except dropping views
  // of the database that are in the way of a restored table.
  std::string swap_sql(const Schema& live, const Schema& shadow) const {
    const std::string& db = live.name;
    std::string sql = lock_sql(lock_, lock_wait_seconds);
    sql += fmt::format("SET SESSION lock_wait_timeout = LEAST(@@SESSION.lock_wait_timeout, {});\n",
                       swap_lock_wait_seconds);
    sql += "SET SESSION foreign_key_checks = 0;\n";
    if (!live.exists) sql += fmt::format("CREATE DATABASE {} COLLATE {};\n", quote_identifier(db), shadow.collation);
    for (const auto& t : shadow.triggers) sql += "DROP TRIGGER " + qualified(shadow.name, t.name) + ";\n";
    for (const auto& v : live.views) {
      if (contains(shadow.tables, v)) sql += "DROP VIEW " + qualified(db, v) + ";\n";
    }
    // Triggers cannot cross schemas: the live ones go now (they are replaced
    // anyway; undo() re-creates them from their saved definitions).
    for (const auto& t : live.triggers) sql += "DROP TRIGGER " + qualified(db, t.name) + ";\n";
    if (!live.tables.empty()) sql += "CREATE DATABASE " + quote_identifier(old_) + ";\n";
    std::vector<std::string> renames;
    for (const auto& t : live.tables) renames.push_back(qualified(db, t) + " TO " + qualified(old_, t));
    for (const auto& t : shadow.tables) renames.push_back(qualified(shadow.name, t) + " TO " + qualified(db, t));
    if (!renames.empty()) sql += "RENAME TABLE " + util::join(renames, ", ") + ";\n";
    // From here on the database holds the restored tables.
    sql += "USE " + quote_identifier(db) + ";\n";
    for (const auto& v : shadow.views) {
      if (!contains(live.views, v)) sql += stand_in_sql(shadow, v);
    }
    for (const auto& v : shadow.views) sql += create_sql(shadow.definition("VIEW", v), true);
    for (const auto& v : live.views) {
      if (!contains(shadow.views, v) && !contains(shadow.tables, v)) sql += "DROP VIEW " + qualified(db, v) + ";\n";
    }
    for (const auto& t : shadow.triggers) sql += create_sql(shadow.definition("TRIGGER", t.name));
    for (const auto& r : live.routines) sql += drop_routine_sql(db, r);
    for (const auto& r : shadow.routines) sql += create_sql(shadow.definition(r.type, r.name));
    for (const auto& e : live.events) sql += "DROP EVENT " + qualified(db, e) + ";\n";
    for (const auto& e : shadow.events) sql += create_sql(shadow.definition("EVENT", e));
    sql += fmt::format("SELECT '{}';\n", swapped_marker);
    // Done: the old tables and the shadow schema go.
    sql += "SET SESSION foreign_key_checks = 0;\n";
    if (!live.tables.empty()) sql += "DROP DATABASE " + quote_identifier(old_) + ";\n";
    sql += "DROP DATABASE " + quote_identifier(shadow.name) + ";\n";
    sql += fmt::format("SELECT '{}';\n", cleaned_marker);
    return sql;
  }

  // After a failed swap: looks at what it changed and changes only that
  // back. The RENAME happened or not (it is atomic); a trigger, view,
  // routine or event is put back when it is missing or its definition is
  // not the one it had (objects the swap never reached stay untouched, even
  // when another session holds them).
  [[noreturn]] void undo(const Schema& before, const Schema& restored, const std::string& why) {
    const std::string& db = before.name;
    try {
      auto [now, shadow_now] = inspect(true);
      // The RENAME is atomic: it happened when the old schema holds tables.
      const auto parked = query(lock_sql(lock_, lock_wait_seconds) +
                                    "SELECT 'parked', COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                    quote_string(old_) + ";\n",
                                "looking for the parked tables");
      bool renamed = false;
      for (const auto& row : parked) renamed = renamed || (row.size() == 2 && row[0] == "parked" && row[1] != "0");
      auto same = [&](const std::string& kind, const std::string& name) {
        auto a = before.definitions.find(kind + " " + name);
        auto b = now.definitions.find(kind + " " + name);
        return a != before.definitions.end() && b != now.definitions.end() &&
               a->second.statement == b->second.statement;
      };
      std::string sql = lock_sql(lock_, lock_wait_seconds);
      sql += fmt::format("SET SESSION lock_wait_timeout = LEAST(@@SESSION.lock_wait_timeout, {});\n",
                         swap_lock_wait_seconds);
      sql += "SET SESSION foreign_key_checks = 0;\n";
      if (!before.exists) {
        // The database was created by this restore: it goes again.
        sql += "DROP DATABASE IF EXISTS " + quote_identifier(db) + ";\n";
      } else {
        // 1. Drop what is not as it was (and every trigger on a restored table: it cannot move back).
        std::vector<std::string> kept_triggers, kept_views, kept_events;
        std::vector<Routine> kept_routines;
        for (const auto& t : now.triggers) {
          const bool on_restored = renamed;
          if (!on_restored && before.has_trigger(t.name) && same("TRIGGER", t.name)) {
            kept_triggers.push_back(t.name);
          } else {
            sql += "DROP TRIGGER " + qualified(db, t.name) + ";\n";
          }
        }
        for (const auto& v : now.views) {
          if (contains(before.views, v) && same("VIEW", v)) {
            kept_views.push_back(v);
          } else {
            sql += "DROP VIEW " + qualified(db, v) + ";\n";
          }
        }
        for (const auto& r : now.routines) {
          if (before.has_routine(r) && same(r.type, r.name)) {
            kept_routines.push_back(r);
          } else {
            sql += drop_routine_sql(db, r);
          }
        }
        for (const auto& e : now.events) {
          if (contains(before.events, e) && same("EVENT", e)) {
            kept_events.push_back(e);
          } else {
            sql += "DROP EVENT " + qualified(db, e) + ";\n";
          }
        }
        // 2. Tables back where they were, in one RENAME again.
        if (renamed) {
          std::vector<std::string> renames;
          for (const auto& t : restored.tables) {
            if (contains(now.tables, t)) renames.push_back(qualified(db, t) + " TO " + qualified(restored.name, t));
          }
          for (const auto& t : before.tables) renames.push_back(qualified(old_, t) + " TO " + qualified(db, t));
          if (!renames.empty()) sql += "RENAME TABLE " + util::join(renames, ", ") + ";\n";
        }
        // Empty now either way (the swap may have failed right after creating it).
        sql += "DROP DATABASE IF EXISTS " + quote_identifier(old_) + ";\n";
        // 3. Re-create what is missing.
        sql += "USE " + quote_identifier(db) + ";\n";
        for (const auto& v : before.views) {
          if (!contains(kept_views, v)) sql += stand_in_sql(before, v);
        }
        for (const auto& v : before.views) {
          if (!contains(kept_views, v)) sql += create_sql(before.definition("VIEW", v), true);
        }
        for (const auto& t : before.triggers) {
          if (!contains(kept_triggers, t.name)) sql += create_sql(before.definition("TRIGGER", t.name));
        }
        for (const auto& r : before.routines) {
          if (std::find(kept_routines.begin(), kept_routines.end(), r) == kept_routines.end()) {
            sql += create_sql(before.definition(r.type, r.name));
          }
        }
        for (const auto& e : before.events) {
          if (!contains(kept_events, e)) sql += create_sql(before.definition("EVENT", e));
        }
      }
      sql += fmt::format("SELECT '{}';\n", undone_marker);
      auto r = server_.run_sql(sql);
      if (!r.status.ok() || r.out.find(undone_marker) == std::string::npos) {
        throw DbsnapError(ErrorKind::engine, server_.explain(r.err, r.status));
      }
    } catch (const DbsnapError& e) {
      keep_shadow_ = true;
      fail(ErrorKind::engine, "target '{}': swapping the restored tables in failed ({}) and putting database '{}' "
           "back failed too ({}); it may be inconsistent: restore the pre-restore safety snapshot (dbsnap list "
           "--target {}); the restored tables are in schema '{}', the old ones in '{}'", target_.name, why,
           db, e.what(), target_.name, shadow_, old_);
    }
    fail(ErrorKind::engine, "target '{}': swapping the restored tables in failed: {}; database '{}' was put back "
         "as it was", target_.name, why, db);
  }

  // The fallback: the verified dump goes straight into the database.
  void commit_direct() {
    if (::lseek(spool_fd_.get(), 0, SEEK_SET) != 0) {
      fail(ErrorKind::failure, "cannot rewind {}: {}", spool_path_.string(), std::strerror(errno));
    }
    Schema live{.name = server_.database()};
    read_listing(query(lock_sql(lock_, lock_wait_seconds) + listing_sql('o', live.name), "inspecting the database"),
                 {{'o', &live}});
    const std::string& db = live.name;
    std::string prologue = lock_sql(lock_, lock_wait_seconds);
    if (!live.exists) prologue += "CREATE DATABASE " + quote_identifier(db) + ";\n";
    prologue += "USE " + quote_identifier(db) + ";\nSET SESSION foreign_key_checks = 0;\n";
    for (const auto& v : live.views) prologue += "DROP VIEW IF EXISTS " + qualified(db, v) + ";\n";
    for (const auto& t : live.tables) prologue += "DROP TABLE IF EXISTS " + qualified(db, t) + ";\n";
    for (const auto& r : live.routines) prologue += drop_routine_sql(db, r, true);
    for (const auto& e : live.events) prologue += "DROP EVENT IF EXISTS " + qualified(db, e) + ";\n";

    loader_ = ToolInput::start(server_.runtime(), loader_argv(), server_.secret());
    auto broken = [&](const std::string& why) {
      fail(ErrorKind::engine, "target '{}': restoring straight into database '{}' failed: {}; it is incomplete: "
           "restore the pre-restore safety snapshot (dbsnap list --target {})", target_.name, db, why,
           target_.name);
    };
    load_sink_ = std::make_unique<LoadSink>(*loader_, [this] { return load_failure(); });
    gate_ = std::make_unique<mysql::ClientCommandGate>(*load_sink_);
    filter_ = std::make_unique<mysql::SandboxFilter>(*gate_, oracle_client_);
    if (auto r = loader_->send(prologue); !r) broken(load_failure());
    pipeline::FdSource source(spool_fd_.get());
    if (auto moved = pipeline::pump(source, *filter_); !moved) broken(moved.error().message);
    if (auto r = loader_->send(fmt::format("\nSELECT '{}';\n", loaded_marker)); !r) broken(load_failure());
    const auto status = loader_->close_and_wait();
    if (!status.ok() || loader_->stdout_text().find(loaded_marker) == std::string::npos) {
      broken(server_.explain(loader_->stderr_text(), status));
    }
    Schema restored{.name = db};
    for (const auto& row : query(revisions_sql(db, version_table(target_)), "reading the restored revision")) {
      if (row.size() == 2 && row[0] == "v") restored.revisions.push_back(row[1]);
    }
    std::sort(restored.revisions.begin(), restored.revisions.end());
    if (restored.revisions != revisions_) {
      broken(fmt::format("it holds revision {}, the snapshot recorded {}", util::revision_text(restored.revisions),
                         util::revision_text(revisions_)));
    }
  }

  const config::Target& target_;
  std::vector<std::string> revisions_;
  Server server_;
  Purpose purpose_;
  std::string shadow_;
  std::string old_;  // where the swap parks the database's own tables
  std::string lock_;
  bool oracle_client_ = false;  // Oracle's mysql rejects MariaDB's sandbox line
  bool sandbox_ = false;        // the client has --sandbox: the loader runs with it
  bool direct_ = false;
  std::string direct_reason_;
  std::vector<std::string> leftovers_;
  bool shadow_created_ = false;
  bool keep_shadow_ = false;
  bool committed_ = false;
  std::unique_ptr<ToolInput> holder_;  // holds the run lock (see hold_restore_lock)
  std::unique_ptr<ToolInput> loader_;
  std::unique_ptr<LoadSink> load_sink_;
  std::unique_ptr<mysql::ClientCommandGate> gate_;
  std::unique_ptr<mysql::SandboxFilter> filter_;
  util::UniqueFd spool_fd_;
  fs::path spool_path_;
  std::unique_ptr<pipeline::FdSink> spool_sink_;
  pipeline::Sink* input_ = nullptr;
};

// A test restore: the shadow schema of a restore, loaded, read and dropped.
class MysqlTrial final : public TrialRestore {
 public:
  MysqlTrial(const config::Target& target, const store::Manifest& snapshot, const WorkContext& context)
      : restore_(target, snapshot, context, Purpose::trial) {}
  std::string where() const override { return restore_.scratch_where(); }
  pipeline::Sink& input() override { return restore_.input(); }
  TrialResult finish() override { return restore_.trial_result(); }

 private:
  MysqlRestore restore_;
};

}  // namespace

// ---------------------------------------------------------------------------
// The engine.

const std::vector<config::KeySpec>& MysqlEngine::keys() const {
  static const std::vector<config::KeySpec> keys = [] {
    std::vector<config::KeySpec> k = {
        {"database", config::KeyType::string, true, "the database (schema) name"},
        {"user", config::KeyType::string, false, "the database user (default root)"},
        {"host", config::KeyType::string, false, "the server's host, for TCP (default: the local socket)"},
        {"port", config::KeyType::integer, false, "the server's TCP port (default 3306)"},
    };
    k.insert(k.end(), runtime::credential_keys().begin(), runtime::credential_keys().end());
    return k;
  }();
  return keys;
}

bool MysqlEngine::exists(const config::Target& target, const WorkContext&) {
  Server server(target);
  auto rows = server.query("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                               quote_string(server.database()) + ";\n",
                           "checking that the database exists");
  return !rows.empty() && !rows[0].empty() && rows[0][0] != "0";
}

DumpInfo MysqlEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext&) {
  Server server(target);
  const Tool dumper = server.dump_tool();
  mysql::RevisionScanner scanner(version_table(target));
  mysql::EngineScanner engines;
  mysql::InsertRowCounter rows;
  DumpTap tap(
      out,
      [&](std::string_view line) {
        scanner.line(line);
        engines.line(line);
      },
      [&rows](std::string_view bytes) { rows.feed(bytes); });

  std::vector<std::string> argv{dumper.path};
  auto conn = server.connection();
  argv.insert(argv.end(), conn.begin(), conn.end());
  auto flags = mysql::dump_flags(dumper.version);
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"--", server.database()});
  const std::string tool = fs::path(dumper.path).filename().string();

  auto run = stream_from(server.runtime(), argv, server.secret(), tap);
  if (!run.status.ok()) {
    const std::string status = describe(run.status);
    const bool quiet = util::trim(run.stderr_text).empty();
    fail(ErrorKind::engine, "target '{}': {} of {} failed ({}){}", target.name, tool,
         server.where(), status, quiet ? "" : ": " + server.explain(run.stderr_text, run.status));
  }
  if (auto why = mysql::incomplete_dump(tap.head(), tap.tail()); !why.empty()) {
    std::string detail(util::last_nonempty_line(run.stderr_text));
    fail(ErrorKind::engine, "target '{}': the dump of {} is incomplete: {}{}", target.name,
         server.where(), why, detail.empty() ? "" : " (" + detail + ")");
  }
  if (!scanner.problem().empty()) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from the dump: {}",
         target.name, scanner.problem());
  }
  if (!engines.non_transactional().empty()) {
    fmt::print(stderr, "dbsnap: warning: target '{}': tables not in InnoDB: {}; --single-transaction cannot keep "
               "their copy consistent with writes made during the backup\n", target.name,
               util::join(engines.non_transactional(), ", "));
  }
  DumpInfo info;
  info.revisions = scanner.revisions();
  info.tables = rows.tables();
  info.tool_version = dumper.version;
  info.server_version = mysql::server_version_from_header(tap.head());
  info.source = server.where();
  return info;
}

std::vector<std::string> MysqlEngine::read_revisions(const config::Target& target, const WorkContext&) {
  Server server(target);
  auto rows = server.query(revisions_sql(server.database(), version_table(target)), "reading the revision");
  std::vector<std::string> revisions;
  for (const auto& row : rows) {
    if (row.size() == 2 && row[0] == "v") revisions.push_back(row[1]);
  }
  std::sort(revisions.begin(), revisions.end());
  revisions.erase(std::unique(revisions.begin(), revisions.end()), revisions.end());
  return revisions;
}

std::vector<Check> MysqlEngine::diagnose(const config::Target& target, const WorkContext&) {
  std::vector<Check> checks;
  try {
    Server server(target);
    for (const char* which : {"dump", "client"}) {
      const bool dump = std::string_view(which) == "dump";
      try {
        Tool tool = dump ? server.dump_tool() : server.client();
        checks.push_back({Check::Level::ok, dump ? "dump tool" : "client", tool.version, ""});
      } catch (const DbsnapError& e) {
        checks.push_back({Check::Level::fail, dump ? "dump tool" : "client", e.what(),
                          "install the MariaDB or MySQL client tools in the container"});
        return checks;
      }
    }
    auto rows = server.query("SELECT 'server', VERSION(), CURRENT_USER();\n"
                             "SELECT 'database', COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                                 quote_string(server.database()) + ";\n",
                             "logging in");
    for (const auto& row : rows) {
      if (row.size() == 3 && row[0] == "server") {
        checks.push_back({Check::Level::ok, "login", fmt::format("{} on {}", row[2], row[1]), ""});
      }
      if (row.size() == 2 && row[0] == "database") {
        if (row[1] != "0") {
          checks.push_back({Check::Level::ok, "database", fmt::format("'{}' exists", server.database()), ""});
        } else {
          checks.push_back({Check::Level::fail, "database", fmt::format("'{}' does not exist", server.database()),
                            "create it, or fix 'database' in dbsnap.toml"});
        }
      }
    }
  } catch (const DbsnapError& e) {
    checks.push_back({Check::Level::fail, "login", e.what(), "check user, password_env/password_from_container"});
  }
  return checks;
}

store::TableRows MysqlEngine::count_rows(const config::Target& target, const WorkContext&) {
  Server server(target);
  auto tables = server.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                 quote_string(server.database()) + " AND TABLE_TYPE = 'BASE TABLE';\n",
                             "listing the tables");
  std::vector<std::string> names;
  for (const auto& row : tables) {
    if (row.size() == 1) names.push_back(row[0]);
  }
  if (names.empty()) return {};
  return read_counts(server.query(count_rows_sql(server.database(), names), "counting the rows"));
}

std::optional<std::uint64_t> MysqlEngine::size_bytes(const config::Target& target, const WorkContext&) {
  try {
    Server server(target);
    auto rows = server.query("SELECT IFNULL(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
                             "WHERE TABLE_SCHEMA = " + quote_string(server.database()) + ";\n",
                             "measuring the database");
    if (!rows.empty() && !rows[0].empty()) return std::stoull(rows[0][0]);
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string MysqlEngine::data_directory(const config::Target& target, const WorkContext&) {
  try {
    Server server(target);
    auto rows = server.query("SELECT @@datadir;\n", "asking for the data directory");
    if (!rows.empty() && !rows[0].empty()) {
      std::string dir = rows[0][0];
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      return dir;
    }
  } catch (const std::exception&) {
  }
  return {};
}

std::unique_ptr<RestoreSession> MysqlEngine::begin_restore(const config::Target& target,
                                                           const store::Manifest& snapshot,
                                                           const WorkContext& context) {
  return std::make_unique<MysqlRestore>(target, snapshot, context);
}

std::unique_ptr<TrialRestore> MysqlEngine::begin_trial_restore(const config::Target& target,
                                                               const store::Manifest& snapshot,
                                                               const WorkContext& context) {
  return std::make_unique<MysqlTrial>(target, snapshot, context);
}

}  // namespace dbsnap::engine

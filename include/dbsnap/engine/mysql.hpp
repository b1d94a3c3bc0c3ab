#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine {

// MySQL and MariaDB, usually in a container. Dumps run the server's own dump
// tool (mariadb-dump or mysqldump) through the target's runtime; the Alembic
// revision is read from the dump's own INSERT into the version table (the
// --single-transaction view). Restores load the dump into a shadow schema
// (<db>_dbsnap_shadow_<hash>) while the database stays as it is, check the
// load and its revision once the stream is verified, then swap with ONE
// multi-table RENAME TABLE: the database's tables into a side schema
// (<db>_dbsnap_old_<hash>), the shadow's tables into the database. Parking the
// old tables in their own schema keeps explicitly named foreign keys apart
// (their names are unique per schema); their triggers, which cannot cross
// schemas, are dropped just before and re-created by an undo. Triggers,
// views, routines and events are re-created around the swap; a failure after it is undone by name, and the
// old tables are dropped only after success. A restore lock (GET_LOCK) keeps
// restores of one database apart and lets the next one remove what a killed
// one left. When a swap cannot be done safely (no right to create a schema,
// foreign keys from other schemas), the verified dump is replayed straight
// into the database at commit(), guarded by the caller's pre-restore safety
// snapshot; a warning says so.
class MysqlEngine final : public Engine {
 public:
  std::string_view name() const override { return "mysql"; }
  const std::vector<config::KeySpec>& keys() const override;
  std::string blob_extension() const override { return "sql"; }
  bool exists(const config::Target& target, const WorkContext& context) override;
  DumpInfo dump(const config::Target& target, pipeline::Sink& out, const WorkContext& context) override;
  std::vector<std::string> read_revisions(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<RestoreSession> begin_restore(const config::Target& target, const store::Manifest& snapshot,
                                                const WorkContext& context) override;
  store::TableRows count_rows(const config::Target& target, const WorkContext& context) override;
  std::unique_ptr<TrialRestore> begin_trial_restore(const config::Target& target, const store::Manifest& snapshot,
                                                    const WorkContext& context) override;
  std::vector<Check> diagnose(const config::Target& target, const WorkContext& context) override;
  std::optional<std::uint64_t> size_bytes(const config::Target& target, const WorkContext& context) override;
  std::string data_directory(const config::Target& target, const WorkContext& context) override;
};

// The engine's pure logic, exposed for the unit tests.
namespace mysql {

// `name` as a MySQL identifier: `a``b`.
std::string quote_identifier(std::string_view name);
// `text` as a single-quoted SQL string literal (backslashes and quotes escaped).
std::string quote_string(std::string_view text);

// One row of the client's --batch --skip-column-names output per element,
// fields split at tabs and unescaped (\t \n \\ \0).
std::vector<std::vector<std::string>> parse_batch(std::string_view output);

// True for version strings of Oracle's tools and servers ("mysqldump  Ver
// 8.0.36 for Linux ..."), false for MariaDB's ("... Distrib 10.11.8-MariaDB").
bool is_oracle(std::string_view version);

// Whether a client (its --version line) has --sandbox, which refuses the
// client commands that reach the shell or the file system (system, \!,
// source, tee, pager, edit): MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6,
// 11.1.5, 11.2.4, 11.4.2 and later in each series, and every series after.
bool client_has_sandbox(std::string_view version);

// Refuses a dump line that starts a client shell command (`system ...` or
// `\!...`): what a hostile server's dump (or an altered snapshot) uses to run
// commands where the client runs, for clients without --sandbox; and one
// that switches database (`USE`, `connect`, `\\u`, `\\r`), which would load
// outside the restore's own schema. It looks only at the first bytes of each line, so memory stays small however long
// the line (extended INSERTs are megabytes); everything else passes as it is.
class ClientCommandGate final : public pipeline::Sink {
 public:
  explicit ClientCommandGate(pipeline::Sink& next) : next_(next) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;

 private:
  Expected<void> judge() const;
  Expected<void> forward(std::string_view bytes);
  pipeline::Sink& next_;
  bool at_line_start_ = true;
  std::string head_;  // the current line's first bytes (at most 32), to judge it
  std::string held_;  // the start of a line that began in an earlier chunk, not yet judged nor forwarded
  std::size_t line_ = 1;
};

// The dump tool's flags (after the connection options): MySQL's mysqldump
// also gets --set-gtid-purged=OFF, which mariadb-dump rejects.
std::vector<std::string> dump_flags(std::string_view tool_version);

// The schema a restore of `database` loads into: the database's name (cut to
// fit MySQL's 64 characters) + "_dbsnap_shadow_" + a hash of the full name,
// so a leftover of a killed dbsnap is found again by the next restore.
std::string shadow_schema(std::string_view database);
// The schema the swap moves the database's own tables into until the
// restore has succeeded: <db>_dbsnap_old_<hash>, like the shadow's name.
std::string old_schema(std::string_view database);
// The GET_LOCK name that serialises restores into `database` (at most 64 characters).
std::string lock_name(std::string_view database);

// True for MariaDB's first dump line "/*M!999999\- enable the sandbox mode */"
// (older builds: "/*!999999\- ..."), which Oracle's mysql client rejects.
bool is_sandbox_line(std::string_view line);

// Forwards a dump, dropping its first line when it is MariaDB's sandbox line
// (for Oracle's client); with `enabled` false it forwards everything.
class SandboxFilter final : public pipeline::Sink {
 public:
  SandboxFilter(pipeline::Sink& next, bool enabled) : next_(next), deciding_(enabled) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;
  bool dropped() const noexcept { return dropped_; }

 private:
  Expected<void> decide();
  pipeline::Sink& next_;
  bool deciding_;
  bool dropped_ = false;
  std::string first_;
};

// Reads the Alembic revisions out of a dump, one line at a time (DumpTap's
// line handler): the rows of `INSERT INTO `table` VALUES (...),(...);`, in
// either layout (all rows on one line, or MariaDB's one row per line).
// Lines inside DELIMITER blocks (routine and trigger bodies) are ignored.
class RevisionScanner {
 public:
  explicit RevisionScanner(std::string table);
  void line(std::string_view line);
  // Sorted, without duplicates; empty when the dump has no rows for the table.
  std::vector<std::string> revisions() const;
  // Set when a row could not be read (a line cut at DumpTap's 4 KiB).
  const std::string& problem() const noexcept { return problem_; }

 private:
  void rows(std::string_view text);
  std::string prefix_;
  bool in_insert_ = false;
  bool in_delimiter_block_ = false;
  std::vector<std::string> revisions_;
  std::string problem_;
};

// Notes the tables a dump creates with a storage engine other than InnoDB
// (DumpTap's line handler): --single-transaction gives no consistent view of
// those when they are written during the backup.
class EngineScanner {
 public:
  void line(std::string_view line);
  // "name (MyISAM)", in dump order.
  const std::vector<std::string>& non_transactional() const noexcept { return found_; }

 private:
  std::string table_;
  bool stand_in_ = false;
  std::vector<std::string> found_;
};

// Counts the rows of each table in a mysqldump/mariadb-dump script as it
// streams by (fed the raw bytes, so rows on lines of any length count): a
// table is registered by its `CREATE TABLE `name`` line (view stand-ins,
// announced by a "-- Temporary ..." comment, are not tables) and its rows are
// the tuples of the `INSERT INTO `name` [(cols)] VALUES (...),(...);`
// statements that start a line outside DELIMITER blocks (routine bodies).
// String literals are followed with mysqldump's escaping ('' and \x), so a
// ')' or '(' inside a value never counts.
class InsertRowCounter {
 public:
  void feed(std::string_view bytes);
  // Rows per table; nullopt when the script held an INSERT this counter
  // could not follow (better no counts than wrong ones).
  std::optional<store::TableRows> tables() const;

 private:
  enum class Mode { line_start, classify, skip_line, after_name, values, tuple, string, string_quote, string_escape };
  void classify(char c);
  void end_line();
  Mode mode_ = Mode::line_start;
  std::string head_;          // the first bytes of the current line, while classifying it
  std::string name_;          // the table of the INSERT being counted
  std::string after_;         // the bytes after the INSERT's table name, up to "VALUES"
  bool in_backticks_ = false; // inside a `name` of an INSERT's column list
  int depth_ = 0;             // parentheses open inside the current tuple
  bool stand_in_ = false;
  bool in_delimiter_block_ = false;
  bool broken_ = false;
  store::TableRows rows_;
};

// What `Server version` in a dump's header says, or empty.
std::string server_version_from_header(std::string_view head);

// A dump is complete when the tool exited 0, the header names the tool and
// the last non-empty line is the trailer. Returns what is wrong, or empty.
std::string incomplete_dump(std::string_view head, std::string_view tail);

// The client's error number: "ERROR 1045 (28000): ..." -> 1045; mariadb-dump's "Got error: 1045: ..." too.
std::optional<int> error_code(std::string_view stderr_text);

}  // namespace mysql

}  // namespace dbsnap::engine

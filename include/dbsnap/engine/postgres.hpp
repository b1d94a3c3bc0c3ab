#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine {

// PostgreSQL, usually in a container. Dumps run pg_dump (plain SQL,
// --no-owner --no-privileges) through the target's runtime, and the Alembic
// revision is read from the dump's own COPY block of the version table (the
// dump's consistent snapshot). Restores run one psql session in a
// transaction dbsnap drives: BEGIN, every user schema renamed aside
// (extensions, event triggers, publications, casts, foreign-data wrappers and
// large objects dropped) and a fresh public schema, then the dump; commit()
// checks the restored revision, drops the renamed schemas (waiting for other
// sessions' locks without holding any, up to lock_timeout seconds), prints
// the transaction id, sends COMMIT and confirms from a new connection that
// the transaction committed. Closing psql's stdin without COMMIT rolls it all
// back, so a dbsnap killed at any point changes nothing; other sessions read
// the old data until COMMIT. Lines that would end the transaction early (the
// BEGIN/COMMIT pg_dump writes around large objects) are refused before psql
// sees them.
class PostgresEngine final : public Engine {
 public:
  std::string_view name() const override { return "postgres"; }
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
namespace postgres {

// `name` as a PostgreSQL identifier, always quoted: "a""b".
std::string quote_identifier(std::string_view name);
// `text` as a standard-conforming string literal: 'it''s'.
std::string quote_literal(std::string_view text);
// `body` between dollar quotes whose tag does not occur in it: $dbsnap$...$dbsnap$.
std::string dollar_quote(std::string_view body);
// A libpq connection string for -d (so a database name with '=' or spaces is
// never taken for something else): dbname='my db' application_name='dbsnap'.
std::string conninfo(std::string_view database, std::string_view application);

// One field of COPY's text format with its backslash escapes undone
// (\b \f \n \r \t \v \\, octal \NNN, hex \xHH, any other \c is c).
std::string copy_unescape(std::string_view field);
// A COPY text row split at tabs and unescaped; \N (NULL) is std::nullopt.
std::vector<std::optional<std::string>> parse_copy_row(std::string_view line);

// `COPY schema.table (col, ...) FROM stdin;` as pg_dump writes it, with
// identifiers unquoted; std::nullopt for anything else.
struct CopyHeader {
  std::string schema;
  std::string table;
  std::vector<std::string> columns;
};
std::optional<CopyHeader> parse_copy_header(std::string_view line);

// Reads a plain pg_dump script one line at a time (as DumpTap hands it over,
// or the restore's input gate): follows COPY data blocks and dollar-quoted
// function bodies, collects the version table's rows from its COPY block,
// and notes the first top-level line that cannot run inside dbsnap's restore
// transaction (BEGIN;/COMMIT;/ROLLBACK;, large objects, psql meta-commands
// other than \restrict and \unrestrict).
class ScriptScanner {
 public:
  // `snapshot` names the snapshot in the refusal's "dbsnap cat ID | psql" hint.
  ScriptScanner(std::string schema, std::string table, std::string snapshot = "ID");
  ScriptScanner(const ScriptScanner&) = delete;  // copy_rows_ points into rows_
  ScriptScanner& operator=(const ScriptScanner&) = delete;
  ScriptScanner(ScriptScanner&&) = default;  // a moved map keeps its nodes
  ScriptScanner& operator=(ScriptScanner&&) = default;
  // One line without its newline; `cut` when it was longer than what was kept.
  void line(std::string_view line, bool cut = false);
  // True outside COPY data and function bodies (where a line is a statement).
  bool at_top_level() const noexcept { return !in_copy_ && body_tag_.empty(); }
  // True inside a COPY data block.
  bool in_copy() const noexcept { return in_copy_; }
  // The version table's rows: sorted, without duplicates.
  std::vector<std::string> revisions() const { return {revisions_.begin(), revisions_.end()}; }
  // Why the script cannot be restored all-or-nothing; empty when it can.
  const std::string& refusal() const noexcept { return refusal_; }
  // Set when a version table row could not be read.
  const std::string& problem() const noexcept { return problem_; }
  std::uint64_t lines() const noexcept { return lines_; }
  // Rows per "schema.table", one per line of its COPY block; nullopt when a
  // COPY header could not be read or the script ends inside a block.
  std::optional<store::TableRows> tables() const {
    if (rows_broken_ || in_copy_) return std::nullopt;
    return rows_;
  }

 private:
  std::string schema_;
  std::string table_;
  std::string snapshot_;
  bool in_copy_ = false;
  int version_column_ = -1;  // the version_num field while in the version table's COPY block
  std::string body_tag_;     // the closing $tag$ while inside a function body
  std::set<std::string> revisions_;
  std::string refusal_;
  std::string problem_;
  std::uint64_t lines_ = 0;
  store::TableRows rows_;
  std::uint64_t* copy_rows_ = nullptr;  // the count of the COPY block being read
  bool rows_broken_ = false;
};

// Finds what psql would take for a meta-command anywhere in a script's SQL
// (psql runs "SELECT 1; \\! id" too, not only lines that start with '\\'):
// a backslash outside string literals ('...', E'...' with its escapes),
// quoted identifiers, dollar quotes and comments, fed a byte at a time so
// that no line is too long to check. COPY data lines are not fed to it. The
// only backslash lines it lets through are pg_dump's own \\restrict and
// \\unrestrict lines, which psql handles as pg_dump meant.
class MetaCommandScanner {
 public:
  // Feeds one segment of a line (no newline in it); `line_start` when it
  // begins the line. Returns false at the first meta-command.
  bool feed(std::string_view segment, bool line_start);
  // Ends the current line (a newline); '--' comments end there.
  void end_line();
  // The meta-command found (its first bytes), once feed() returned false.
  const std::string& found() const { return found_; }

 private:
  enum class State { code, single, escaped_single, identifier, block_comment, line_comment, dollar };
  State state_ = State::code;
  int comment_depth_ = 0;
  bool step(char c);
  std::string tag_;        // the open dollar quote's tag, "$body$"
  std::string window_;     // the last bytes seen inside a dollar quote, to find its end
  std::string candidate_;  // a '$' sequence that may open a dollar quote
  std::string backslash_;  // a line that starts with '\\': held until it shows whether it is \\restrict
  bool line_start_ = true;
  bool skip_next_ = false;  // an E'' string's escaped byte
  char previous_ = '\n';
  char before_previous_ = '\n';
  std::string found_;
};

// Forwards a restore script to psql after ScriptScanner has seen every line:
// a chunk whose lines include a refused one is not forwarded (write fails),
// and the start of a top-level line is held back until its newline (or 64
// bytes), so psql, which runs an unterminated last line when its input ends,
// can never receive a cut-off "COMMIT" from the script.
class ScriptGate final : public pipeline::Sink {
 public:
  ScriptGate(pipeline::Sink& next, ScriptScanner& scanner) : next_(next), scanner_(scanner) {}
  Expected<void> write(pipeline::Bytes data) override;
  Expected<void> finish() override;
  static constexpr std::size_t hold_limit = 64;
  static constexpr std::size_t keep = 4096;

 private:
  Expected<void> refused() const;
  Expected<void> forward(std::string_view data);
  pipeline::Sink& next_;
  ScriptScanner& scanner_;
  std::string line_;  // the current line's first `keep` bytes, for the scanner
  std::uint64_t line_length_ = 0;
  MetaCommandScanner meta_;
  bool line_checked_ = true;  // the current line began outside COPY data: its bytes go to meta_
  std::string meta_refusal_;
  bool holding_ = true;  // the current line's bytes so far are all in pending_
  std::string pending_;
};

// What a dump's header says after "-- Dumped from database version " (key
// "database") or "-- Dumped by pg_dump version " (key "pg_dump"), or empty.
std::string header_version(std::string_view head, std::string_view key);

// A dump is complete when pg_dump exited 0, it starts with the
// "-- PostgreSQL database dump" header and its last lines are the
// "-- PostgreSQL database dump complete" trailer (then "--" and, from pg_dump
// 15.14 on, "\unrestrict KEY"). Returns what is wrong, or empty.
std::string incomplete_dump(std::string_view head, std::string_view tail);

// The useful part of a PostgreSQL tool's stderr, on one line: the last
// FATAL/ERROR/error message (with psql's script line number), plus a hint on
// how to fix the usual causes (password, missing database or role, server
// not answering).
std::string describe_failure(std::string_view stderr_text);

// True when a tool's stderr says the database itself does not exist.
bool database_missing(std::string_view stderr_text);

// SQL sent before the dump, inside the restore's transaction: user schemas
// renamed aside (their oids kept in the transaction-local setting
// dbsnap.old_schemas), database-wide objects that a dump re-creates dropped,
// and an empty public schema as initdb makes it.
std::string restore_prologue(int lock_timeout_seconds);
// The body of a DO block that drops the schemas restore_prologue() renamed
// aside (restore_epilogue() runs it; a test restore, before its COMMIT).
std::string drop_old_schemas_body();
// SQL sent at commit(), before COMMIT: the restored revision must equal
// `revisions` (RAISE otherwise); ACCESS EXCLUSIVE locks on the renamed
// schemas' tables (tried without waiting, then queued for twice
// deadlock_timeout so that an autovacuum in the way is cancelled, retried
// until `lock_timeout_seconds`); the renamed schemas dropped; the transaction
// id printed as "dbsnap-xid:N". dbsnap sends COMMIT only once it has read
// that line, so dying before then still means a rollback.
std::string restore_epilogue(std::string_view schema, std::string_view table,
                             const std::vector<std::string>& revisions, int lock_timeout_seconds,
                             int server_version_num);
// The rest of the last complete line of `output` that starts with `marker`
// ("dbsnap-xid:" in "...\ndbsnap-xid:123\n" -> "123"); std::nullopt when
// there is none (or its line has not ended yet).
std::optional<std::string> find_marker(std::string_view output, std::string_view marker);

}  // namespace postgres

}  // namespace dbsnap::engine

#pragma once

// PostgreSQL text: quoting, connection strings, COPY's text format, what a
// dump's header and trailer say, psql's messages and its tagged output
// lines. Pure functions, unit-tested in tests/unit/test_engine_postgres.cpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbsnap::engine::postgres {

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

// The rest of the last complete line of `output` that starts with `marker`
// ("dbsnap-xid:" in "...\ndbsnap-xid:123\n" -> "123"); std::nullopt when
// there is none (or its line has not ended yet).
std::optional<std::string> find_marker(std::string_view output, std::string_view marker);

// Values of the lines "prefix:value" in psql's output, in order.
std::vector<std::string> tagged(std::string_view output, std::string_view prefix);

}  // namespace dbsnap::engine::postgres

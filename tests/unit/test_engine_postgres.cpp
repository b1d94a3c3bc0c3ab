#include "dbsnap/engine/postgres/restore_sql.hpp"
#include "dbsnap/engine/postgres/script_gate.hpp"
#include "dbsnap/engine/postgres/script_scanner.hpp"
#include "dbsnap/engine/postgres/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace dbsnap::engine::postgres;

namespace {

// A pg_dump 15.18 plain dump, trimmed, with the tricky parts kept.
const std::string sample_dump = R"(--
-- PostgreSQL database dump
--

\restrict jG9TZ7zmlmCYdXCN3J9aoVsGvaQgJmvkJLhXVFvdRBDmo1JMw9Mzeeq8ZiAhEsb

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE SCHEMA other;

CREATE FUNCTION public.f() RETURNS integer
    LANGUAGE sql
    BEGIN ATOMIC
 SELECT 1;
END;

CREATE PROCEDURE public.p()
    LANGUAGE plpgsql
    AS $$
begin
COMMIT;
end;
$$;

CREATE FUNCTION public.g() RETURNS integer
    LANGUAGE sql
    AS $_$ SELECT 1 $_$;

CREATE TABLE public."Weird Table" (
    id integer NOT NULL,
    t text
);

COPY other.alembic_version (version_num) FROM stdin;
not-this-one
\.

COPY public."Weird Table" (id, t) FROM stdin;
1	COMMIT;
2	x
COMMIT;
COPY public.alembic_version (version_num) FROM stdin;
\.


COPY public.alembic_version (version_num) FROM stdin;
abc123
x\\y
abc123
\.


SELECT pg_catalog.setval('public."Weird Table_id_seq"', 1, true);

--
-- PostgreSQL database dump complete
--

\unrestrict jG9TZ7zmlmCYdXCN3J9aoVsGvaQgJmvkJLhXVFvdRBDmo1JMw9Mzeeq8ZiAhEsb

)";

ScriptScanner scan(const std::string& text, std::string schema = "public", std::string table = "alembic_version") {
  ScriptScanner scanner(std::move(schema), std::move(table));
  std::string_view rest = text;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    scanner.line(rest.substr(0, newline));
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  return scanner;
}

// Feeds `text` through a ScriptGate in chunks of `step` bytes; returns what it forwarded.
std::string gate(const std::string& text, std::size_t step, bool& ok) {
  test::StringSink out;
  ScriptScanner scanner("public", "alembic_version");
  ScriptGate g(out, scanner);
  ok = true;
  for (std::size_t pos = 0; pos < text.size() && ok; pos += step) {
    std::string chunk = text.substr(pos, step);
    ok = g.write(test::as_bytes(chunk)).has_value();
  }
  if (ok) ok = g.finish().has_value();
  return out.text;
}

}  // namespace

TEST_CASE("postgres quoting") {
  CHECK(quote_identifier("Weird \"T\"") == "\"Weird \"\"T\"\"\"");
  CHECK(quote_literal("it's") == "'it''s'");
  CHECK(quote_literal("a\\b") == "'a\\b'");
  CHECK(dollar_quote("x") == "$dbsnap$x$dbsnap$");
  CHECK(dollar_quote("a $dbsnap$ b") == "$dbsnap0$a $dbsnap$ b$dbsnap0$");
  CHECK(conninfo("my db=x", "dbsnap") == "dbname='my db=x' application_name='dbsnap'");
  CHECK(conninfo("a'b\\c", "x") == "dbname='a\\'b\\\\c' application_name='x'");
}

TEST_CASE("postgres COPY text format") {
  CHECK(copy_unescape("plain") == "plain");
  CHECK(copy_unescape("a\\tb\\nc\\\\d") == "a\tb\nc\\d");
  CHECK(copy_unescape("\\x41\\101\\7") == "AA\x07");
  CHECK(copy_unescape("\\b\\f\\r\\v") == "\b\f\r\v");
  CHECK(copy_unescape("h\xc3\xa9llo") == "h\xc3\xa9llo");
  auto row = parse_copy_row("1\t\\N\tx\\ty\t");
  REQUIRE(row.size() == 4);
  CHECK(row[0] == "1");
  CHECK_FALSE(row[1].has_value());
  CHECK(row[2] == "x\ty");
  CHECK(row[3] == "");
}

TEST_CASE("postgres COPY headers") {
  auto h = parse_copy_header("COPY public.alembic_version (version_num) FROM stdin;");
  REQUIRE(h);
  CHECK(h->schema == "public");
  CHECK(h->table == "alembic_version");
  CHECK(h->columns == std::vector<std::string>{"version_num"});

  h = parse_copy_header("COPY \"My \"\"Schema\"\".x\".\"Weird Table\" (id, \"Col (1)\", t) FROM stdin;");
  REQUIRE(h);
  CHECK(h->schema == "My \"Schema\".x");
  CHECK(h->table == "Weird Table");
  CHECK(h->columns == std::vector<std::string>{"id", "Col (1)", "t"});

  h = parse_copy_header("COPY public.empty  FROM stdin;");
  REQUIRE(h);
  CHECK(h->table == "empty");
  CHECK(h->columns.empty());

  CHECK_FALSE(parse_copy_header("COPY public.t (a) TO stdout;"));
  CHECK_FALSE(parse_copy_header("COPY public.\"unterminated (a) FROM stdin;"));
}

TEST_CASE("postgres scanner reads the revision from the dump's COPY block") {
  auto scanner = scan(sample_dump);
  CHECK(scanner.revisions() == std::vector<std::string>{"abc123", "x\\y"});
  CHECK(scanner.refusal().empty());
  CHECK(scanner.problem().empty());
  CHECK(scanner.at_top_level());

  CHECK(scan(sample_dump, "other").revisions() == std::vector<std::string>{"not-this-one"});
  CHECK(scan(sample_dump, "public", "nothing").revisions().empty());
  CHECK(scan("COPY public.alembic_version (version_num) FROM stdin;\n\\.\n").revisions().empty());
}

TEST_CASE("postgres scanner counts each table's rows: the lines of its COPY blocks") {
  auto scanner = scan(sample_dump);
  auto tables = scanner.tables();
  REQUIRE(tables.has_value());
  // Lines that look like statements inside a block are rows; an empty block is a table without rows.
  CHECK(*tables == store::TableRows{{"other.alembic_version", 1}, {"public.Weird Table", 4},
                                    {"public.alembic_version", 3}});
  CHECK(scan("COPY public.t (a) FROM stdin;\n\\.\n").tables() == store::TableRows{{"public.t", 0}});
  // A script that ends inside a block, or a header too long to read, gives no counts.
  CHECK_FALSE(scan("COPY public.t (a) FROM stdin;\n1\n").tables().has_value());
  ScriptScanner cut("public", "alembic_version");
  cut.line("COPY public.wide (" + std::string(4000, 'c'), true);
  cut.line("1");
  cut.line("\\.");
  CHECK_FALSE(cut.tables().has_value());
}

TEST_CASE("postgres scanner refuses what would end the restore transaction") {
  auto lo = scan(sample_dump + "SELECT pg_catalog.lo_create('16405');\n");
  CHECK(lo.refusal().find("large objects") != std::string::npos);

  auto commit = scan("SET x = 1;\nBEGIN;\nSELECT 1;\nCOMMIT;\n");
  CHECK(commit.refusal().find("line 2 of the dump is 'BEGIN;'") != std::string::npos);
  CHECK(scan("COMMIT;\n").refusal().find("'COMMIT;'") != std::string::npos);
  CHECK(scan("START TRANSACTION;\n").refusal() != "");
  CHECK(scan("\\connect other\n").refusal().find("psql command") != std::string::npos);
  CHECK(scan("\\restrict KEY\n\\unrestrict KEY\n").refusal().empty());
  // Inside a function body or COPY data, the same text is harmless.
  CHECK(scan("    AS $$\nCOMMIT;\n$$;\n").refusal().empty());
  CHECK(scan("COPY public.t (a) FROM stdin;\nCOMMIT;\nBEGIN;\n\\.\n").refusal().empty());
  // ... but not after the body or block ends.
  CHECK(scan("    AS $$\nx\n$$;\nCOMMIT;\n").refusal() != "");
  CHECK(scan("    AS $_$ SELECT 1 $_$;\nCOMMIT;\n").refusal() != "");
}

TEST_CASE("postgres scanner follows COPY blocks whose header line was cut") {
  ScriptScanner scanner("public", "alembic_version");
  scanner.line("COPY public.wide (" + std::string(4000, 'c'), true);
  CHECK_FALSE(scanner.at_top_level());
  scanner.line("COMMIT;");
  CHECK(scanner.refusal().empty());
  scanner.line("\\.");
  CHECK(scanner.at_top_level());
}

TEST_CASE("postgres gate forwards a dump unchanged in any chunking") {
  for (std::size_t step : {1, 2, 3, 7, 63, 64, 65, 1000, 1 << 20}) {
    bool ok = false;
    CHECK(gate(sample_dump, step, ok) == sample_dump);
    CHECK(ok);
  }
  // A dump without a final newline keeps its last line.
  bool ok = false;
  CHECK(gate("SELECT 1;\nSELECT 2;", 4, ok) == "SELECT 1;\nSELECT 2;");
  CHECK(ok);
}

TEST_CASE("postgres gate never hands psql a refused line, even cut short") {
  const std::string script = "SELECT 1;\nSELECT 2;\nCOMMIT;\nSELECT 3;\n";
  for (std::size_t step = 1; step <= script.size(); ++step) {
    bool ok = true;
    std::string sent = gate(script, step, ok);
    CHECK_FALSE(ok);
    // Whole lines only: not even the "C" of "COMMIT" reached psql.
    CHECK(script.starts_with(sent));
    CHECK((sent.empty() || sent.ends_with(";\n")));
    CHECK(sent.find("COMMIT") == std::string::npos);
  }
  // A long line is released once it cannot be a short transaction command.
  test::StringSink out;
  ScriptScanner scanner("public", "alembic_version");
  ScriptGate g(out, scanner);
  const std::string long_line = "INSERT INTO t VALUES ('" + std::string(100, 'x');
  REQUIRE(g.write(test::as_bytes(long_line)));
  CHECK(out.text == long_line);
  REQUIRE(g.write(test::as_bytes(std::string("');\nCOMM"))));
  CHECK(out.text == long_line + "');\n");
}

TEST_CASE("postgres dump completeness") {
  const std::string head = sample_dump.substr(0, 4096);
  CHECK(incomplete_dump(head, sample_dump) == "");
  const std::string old_style = "--\n-- PostgreSQL database dump\n--\nSELECT 1;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
  CHECK(incomplete_dump(old_style, old_style) == "");
  CHECK(incomplete_dump(head, sample_dump.substr(0, sample_dump.size() / 2)).find("trailer") != std::string::npos);
  CHECK(incomplete_dump("garbage\n", sample_dump).find("header") != std::string::npos);
  CHECK(incomplete_dump(head, "").find("trailer") != std::string::npos);
  CHECK(header_version(head, "pg_dump") == "15.18 (Debian 15.18-0+deb12u1)");
  CHECK(header_version(head, "database") == "15.18 (Debian 15.18-0+deb12u1)");
  CHECK(header_version("nothing", "database") == "");
}

TEST_CASE("postgres error messages") {
  const std::string password =
      "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication "
      "failed for user \"postgres\"\n";
  CHECK(describe_failure(password).starts_with("password authentication failed for user \"postgres\"; check the password"));
  const std::string missing =
      "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database "
      "\"nope\" does not exist\n";
  CHECK(database_missing(missing));
  CHECK_FALSE(database_missing(password));
  CHECK(describe_failure(missing) == "database \"nope\" does not exist; create the database or fix the target's 'database'");
  CHECK(describe_failure("psql:<stdin>:1234: ERROR:  canceling statement due to user request\nCONTEXT:  COPY t, line 5\n") ==
        "canceling statement due to user request (script line 1234)");
  CHECK(describe_failure("") == "");
  CHECK(describe_failure("something odd\n\n") == "something odd");
}

TEST_CASE("postgres restore SQL") {
  const std::string prologue = restore_prologue(7);
  CHECK(prologue.starts_with("BEGIN;\n"));
  CHECK(prologue.find("SET lock_timeout = '7s';") != std::string::npos);
  CHECK(prologue.find("COMMIT") == std::string::npos);

  const std::string epilogue = restore_epilogue("My Schema", "alembic_version", {"a'b", "$dbsnap$"}, 9, 150018);
  CHECK(epilogue.find("ARRAY['a''b', '$dbsnap$']::text[]") != std::string::npos);
  CHECK(epilogue.find("'\"My Schema\".\"alembic_version\"'") != std::string::npos);
  CHECK(epilogue.find("DO $dbsnap0$") != std::string::npos);
  CHECK(epilogue.find("interval '9 seconds'") != std::string::npos);
  CHECK(epilogue.find("pg_current_xact_id()") != std::string::npos);
  CHECK(epilogue.ends_with("SELECT 'dbsnap-xid:' || pg_catalog.pg_current_xact_id();\n"));
  CHECK(epilogue.find("COMMIT") == std::string::npos);
  CHECK(restore_epilogue("public", "alembic_version", {}, 9, 120000).find("txid_current()") != std::string::npos);
  CHECK(restore_epilogue("public", "alembic_version", {}, 9, 150000).find("ARRAY[]::text[]") != std::string::npos);

  CHECK(find_marker("\n\n1\ndbsnap-xid:12345\n", "dbsnap-xid:") == "12345");
  CHECK(find_marker("dbsnap-xid:1\nx\ndbsnap-xid:2\n", "dbsnap-xid:") == "2");
  CHECK(find_marker("dbsnap-xid:1\ndbsnap-xid:2", "dbsnap-xid:") == "1");  // the last line is not complete yet
  CHECK(find_marker("nothing\n", "dbsnap-xid:") == std::nullopt);
  CHECK(find_marker("a dbsnap-xid:7\n", "dbsnap-xid:") == std::nullopt);  // only at the start of a line
  CHECK(find_marker("dbsnap-version:150018\n", "dbsnap-version:") == "150018");
}

TEST_CASE("postgres: psql commands anywhere in the script's SQL are refused; backslashes in data, strings and bodies pass") {
  const std::string header = "--\n-- PostgreSQL database dump\n--\n\n\\restrict a1B2c3D4e5F6g7H8i9J0\n\n";
  const std::string legit =
      header +
      "SET standard_conforming_strings = on;\n"
      "COMMENT ON TABLE public.t IS 'a \\ backslash, ''quoted''\nover two lines \\! still text';\n"
      "INSERT INTO public.x VALUES (E'it\\'s \\\\ fine', 'plain \\ too');\n"
      "CREATE TABLE \"we\\ird\" (\"col\\\" integer);\n"
      "/* a comment \\! with /* a nested */ one */ SELECT 1; -- and \\! here\n"
      "CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $_$\n"
      "BEGIN\n"
      "  PERFORM 1; \\! inside a body is text\n"
      "  RETURN E'\\n';\n"
      "END;\n"
      "$_$;\n"
      "SELECT $q$ \\! $q$, 'x$$y';\n"
      "COPY public.t (id, v) FROM stdin;\n"
      "1\t\\\\! \\N \\x41\n"
      "\\.\n"
      "\n"
      "\\unrestrict a1B2c3D4e5F6g7H8i9J0\n";
  for (std::size_t step : {1ul, 2ul, 7ul, 64ul, 4096ul}) {
    CAPTURE(step);
    bool ok = false;
    CHECK(gate(legit, step, ok) == legit);
    CHECK(ok);
    for (const std::string& bad : std::vector<std::string>{
             "SELECT 1; \\! touch /tmp/PWNED\n", "SELECT 1 \\g /tmp/out\n", "CREATE TABLE t (a int); \\o |sh\n",
          "$_$ LANGUAGE sql; \\! id\n", "SELECT 'a' \\gexec\n", "\\restrict\n", "\\set x 1\n",
          "SELECT E'\\'' \\! id\n", std::string(5000, ' ') + "SELECT 1; \\! id\n"}) {
      CAPTURE(bad);
      const std::string opener = bad.starts_with("$_$") ? "CREATE FUNCTION g() RETURNS int AS $_$ SELECT 1\n" : "";
      bool refused_ok = true;
      const std::string forwarded = gate(header + opener + bad + "SELECT 2;\n", step, refused_ok);
      CHECK_FALSE(refused_ok);
      CHECK(forwarded.find(bad) == std::string::npos);  // the line never reaches psql whole
      CHECK(forwarded.find("\\!") == std::string::npos);
    }
  }
}

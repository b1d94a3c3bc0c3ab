#include "dbsnap/engine/mysql/client_gate.hpp"
#include "dbsnap/engine/mysql/dump_scan.hpp"
#include "dbsnap/engine/mysql/text.hpp"
#include "dbsnap/engine/tool.hpp"
#include "helpers.hpp"

using namespace dbsnap;
using namespace dbsnap::engine;

namespace {

// Feeds `text` through a sink in pieces of `step` bytes, then finishes it.
void feed(pipeline::Sink& sink, const std::string& text, std::size_t step) {
  for (std::size_t i = 0; i < text.size(); i += step) {
    REQUIRE(sink.write(test::as_bytes(text.substr(i, step))));
  }
  REQUIRE(sink.finish());
}

std::vector<std::string> scan(const std::string& dump, const std::string& table = "alembic_version") {
  mysql::RevisionScanner scanner(table);
  test::StringSink out;
  DumpTap tap(out, [&](std::string_view line) { scanner.line(line); });
  feed(tap, dump, 7);
  CHECK(scanner.problem().empty());
  return scanner.revisions();
}

const std::string mariadb_dump =
    "/*M!999999\\- enable the sandbox mode */ \n"
    "-- MariaDB dump 10.19  Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64)\n"
    "--\n-- Host: localhost    Database: app\n"
    "-- ------------------------------------------------------\n"
    "-- Server version\t10.11.18-MariaDB-0+deb12u1\n\n"
    "LOCK TABLES `alembic_version` WRITE;\n"
    "INSERT INTO `alembic_version` VALUES\n"
    "('def456'),\n"
    "('abc123');\n"
    "UNLOCK TABLES;\n"
    "INSERT INTO `alembic_version_old` VALUES\n('zzz');\n"
    "-- Dump completed on 2026-11-21 13:19:15\n";

}  // namespace

TEST_CASE("mysql identifiers and strings are quoted") {
  CHECK(mysql::quote_identifier("my-app db") == "`my-app db`");
  CHECK(mysql::quote_identifier("a`b") == "`a``b`");
  CHECK(mysql::quote_string("it's") == "'it''s'");
  CHECK(mysql::quote_string("a\\b\nc") == "'a\\\\b\\nc'");
  CHECK(mysql::quote_string(std::string("x\0y", 3)) == "'x\\0y'");
}

TEST_CASE("mysql --batch output is split and unescaped") {
  auto rows = mysql::parse_batch("a\tb\\tc\n\\n\\\\\t\t\\0\nlast");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"a", "b\tc"});
  CHECK(rows[1] == std::vector<std::string>{"\n\\", "", std::string(1, '\0')});
  CHECK(rows[2] == std::vector<std::string>{"last"});
  CHECK(mysql::parse_batch("").empty());
}

TEST_CASE("mysql dump flags follow the tool") {
  auto maria = mysql::dump_flags("mariadb-dump  Ver 10.19 Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64)");
  auto oracle = mysql::dump_flags("mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)");
  auto has = [](const std::vector<std::string>& v, const char* f) { return std::find(v.begin(), v.end(), f) != v.end(); };
  for (const char* f : {"--single-transaction", "--quick", "--routines", "--triggers", "--events", "--hex-blob",
                        "--default-character-set=utf8mb4", "--no-tablespaces"}) {
    CHECK(has(maria, f));
    CHECK(has(oracle, f));
  }
  CHECK_FALSE(has(maria, "--set-gtid-purged=OFF"));
  CHECK(has(oracle, "--set-gtid-purged=OFF"));
  CHECK_FALSE(has(maria, "--databases"));
  CHECK(mysql::is_oracle("mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"));
  CHECK_FALSE(mysql::is_oracle("mariadb  Ver 15.1 Distrib 10.11.18-MariaDB, for debian-linux-gnu"));
  CHECK_FALSE(mysql::is_oracle("mysql  Ver 15.1 Distrib 10.5.23-MariaDB, for debian-linux-gnu"));
}

TEST_CASE("mysql shadow schema and lock names fit in 64 characters and are stable") {
  CHECK(mysql::shadow_schema("app").starts_with("app_dbsnap_shadow_"));
  CHECK(mysql::shadow_schema("app") == mysql::shadow_schema("app"));
  CHECK(mysql::shadow_schema("app") != mysql::shadow_schema("app2"));
  const std::string long_name(64, 'x');
  CHECK(mysql::shadow_schema(long_name).size() == 64);
  CHECK(mysql::shadow_schema(long_name) != mysql::shadow_schema(long_name.substr(0, 63) + "y"));
  // Cut at a character boundary: 64 characters, not bytes.
  std::string accents;
  for (int i = 0; i < 64; ++i) accents += "é";
  const auto shadow = mysql::shadow_schema(accents);
  std::size_t chars = 0;
  for (unsigned char c : shadow) chars += (c & 0xC0) != 0x80;
  CHECK(chars == 64);
  CHECK(mysql::lock_name(long_name).size() <= 64);
  CHECK(mysql::old_schema("app").starts_with("app_dbsnap_old_"));
  CHECK(mysql::old_schema("app") != mysql::shadow_schema("app"));
  CHECK(mysql::old_schema(accents).size() <= 64 * 4);
}

TEST_CASE("mysql sandbox line is dropped only for Oracle's client") {
  CHECK(mysql::is_sandbox_line("/*M!999999\\- enable the sandbox mode */ "));
  CHECK(mysql::is_sandbox_line("/*!999999\\- enable the sandbox mode */"));
  CHECK_FALSE(mysql::is_sandbox_line("-- MariaDB dump 10.19"));
  CHECK_FALSE(mysql::is_sandbox_line("/*!40101 SET NAMES utf8mb4 */;"));

  for (std::size_t step : {1, 3, 40, 4096}) {
    test::StringSink out;
    mysql::SandboxFilter filter(out, true);
    feed(filter, mariadb_dump, step);
    CHECK(filter.dropped());
    CHECK(out.text == mariadb_dump.substr(mariadb_dump.find('\n') + 1));
    CHECK(out.finished == 1);

    test::StringSink kept;
    mysql::SandboxFilter off(kept, false);
    feed(off, mariadb_dump, step);
    CHECK(kept.text == mariadb_dump);
  }
  // A MySQL dump (no sandbox line) and a short stream pass unchanged.
  const std::string mysql_dump = "-- MySQL dump 10.13  Distrib 8.0.36\n--\nSELECT 1;\n";
  test::StringSink out;
  mysql::SandboxFilter filter(out, true);
  feed(filter, mysql_dump, 5);
  CHECK_FALSE(filter.dropped());
  CHECK(out.text == mysql_dump);
  test::StringSink tiny;
  mysql::SandboxFilter tiny_filter(tiny, true);
  feed(tiny_filter, "x", 1);
  CHECK(tiny.text == "x");
  // A first line longer than 256 bytes is not held back for ever.
  const std::string long_line = std::string(1000, 'a') + "\nb\n";
  test::StringSink long_out;
  mysql::SandboxFilter long_filter(long_out, true);
  feed(long_filter, long_line, 100);
  CHECK(long_out.text == long_line);
}

TEST_CASE("mysql revisions are read from the dump's INSERT") {
  CHECK(scan(mariadb_dump) == std::vector<std::string>{"abc123", "def456"});
  // MySQL's layout: every row on one line; escapes; a table name needing quotes.
  CHECK(scan("INSERT INTO `alembic_version` VALUES ('b2'),('a\\'1'),('c''3');\n") ==
        std::vector<std::string>{"a'1", "b2", "c'3"});
  CHECK(scan("INSERT INTO `my ``versions``` VALUES ('x1');\n", "my `versions`") == std::vector<std::string>{"x1"});
  // Several INSERT statements (long tables are split) add up; duplicates go.
  CHECK(scan("INSERT INTO `alembic_version` VALUES ('a');\nINSERT INTO `alembic_version` VALUES ('b'),('a');\n") ==
        std::vector<std::string>{"a", "b"});
  // Binary version columns come as --hex-blob literals.
  CHECK(scan("INSERT INTO `alembic_version` VALUES (0x616263);\n") == std::vector<std::string>{"abc"});
  // No table, or an empty one: no revision.
  CHECK(scan("-- MariaDB dump\nCREATE TABLE `t` (id int);\n").empty());
  // Text inside routine bodies does not count.
  CHECK(scan("DELIMITER ;;\nINSERT INTO `alembic_version` VALUES ('fake');\n;;\nDELIMITER ;\n"
             "INSERT INTO `alembic_version` VALUES ('real');\n") == std::vector<std::string>{"real"});
  // Another table whose name starts the same is ignored.
  CHECK(scan("INSERT INTO `alembic_version2` VALUES ('no');\n").empty());
  // A row cut at DumpTap's 4 KiB line limit is reported, not guessed.
  mysql::RevisionScanner scanner("alembic_version");
  scanner.line("INSERT INTO `alembic_version` VALUES ('abc");
  CHECK_FALSE(scanner.problem().empty());
}

TEST_CASE("mysql dump completeness and header") {
  const std::string head = mariadb_dump.substr(0, 300);
  CHECK(mysql::incomplete_dump(head, "...\n-- Dump completed on 2026-11-21 13:19:15\n\n").empty());
  CHECK(mysql::incomplete_dump("-- MySQL dump 10.13\n", "-- Dump completed on 2026\n").empty());
  CHECK_FALSE(mysql::incomplete_dump(head, "INSERT INTO `t` VALUES (1),\n").empty());
  CHECK_FALSE(mysql::incomplete_dump("garbage\n", "-- Dump completed\n").empty());
  CHECK(mysql::server_version_from_header(head) == "10.11.18-MariaDB-0+deb12u1");
  CHECK(mysql::server_version_from_header("-- MySQL dump\n").empty());
}

TEST_CASE("mysql error codes are read from client and dump tool messages") {
  CHECK(mysql::error_code("ERROR 1045 (28000): Access denied for user 'root'@'localhost'") == 1045);
  CHECK(mysql::error_code("--------------\nPREPARE c\n--------------\n\nERROR 1064 (42000) at line 18: You have") ==
        1064);
  CHECK(mysql::error_code("mariadb-dump: Got error: 1049: \"Unknown database 'nope'\" when selecting the database") ==
        1049);
  CHECK_FALSE(mysql::error_code("mariadb-dump: Got errno 32 on write").has_value());
}

TEST_CASE("mysql dump tables that are not InnoDB are noticed") {
  mysql::EngineScanner scanner;
  for (const char* line : {"CREATE TABLE `t1` (", "  `id` int(11) NOT NULL,", ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
                           "CREATE TABLE `odd``name` (", ") ENGINE=MyISAM DEFAULT CHARSET=latin1;",
                           "-- Temporary table structure for view `v`", "CREATE TABLE `v` (",
                           ") ENGINE=MyISAM */;", "CREATE TABLE `mem` (", ") ENGINE=MEMORY;"}) {
    scanner.line(line);
  }
  CHECK(scanner.non_transactional() == std::vector<std::string>{"odd`name (MyISAM)", "mem (MEMORY)"});
}

TEST_CASE("mysql: which clients have --sandbox") {
  using engine::mysql::client_has_sandbox;
  CHECK(client_has_sandbox("mariadb  Ver 15.1 Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64) using  EditLine wrapper"));
  CHECK(client_has_sandbox("mariadb  Ver 15.1 Distrib 10.11.8-MariaDB, for debian-linux-gnu (x86_64)"));
  CHECK_FALSE(client_has_sandbox("mariadb  Ver 15.1 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)"));
  CHECK(client_has_sandbox("mysql  Ver 15.1 Distrib 10.6.18-MariaDB, for Linux (x86_64)"));
  CHECK_FALSE(client_has_sandbox("mysql  Ver 15.1 Distrib 10.6.17-MariaDB, for Linux (x86_64)"));
  CHECK_FALSE(client_has_sandbox("mysql  Ver 15.1 Distrib 10.9.8-MariaDB, for Linux (x86_64)"));
  CHECK(client_has_sandbox("mariadb from 11.4.2-MariaDB, client 15.2 for debian-linux-gnu (x86_64)"));
  CHECK(client_has_sandbox("mariadb from 11.8.1-MariaDB, client 15.2 for Linux (x86_64)"));
  CHECK_FALSE(client_has_sandbox("mariadb from 11.3.2-MariaDB, client 15.2 for Linux (x86_64)"));
  CHECK_FALSE(client_has_sandbox("mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"));
}

TEST_CASE("mysql: the client command gate refuses shell commands at a line's start, and passes everything else") {
  auto through = [](const std::string& dump, std::size_t piece) -> Expected<std::string> {
    test::StringSink sink;
    engine::mysql::ClientCommandGate gate(sink);
    for (std::size_t at = 0; at < dump.size(); at += piece) {
      auto r = gate.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(dump.data() + at),
                                          std::min(piece, dump.size() - at)));
      if (!r) return std::unexpected(r.error());
    }
    if (auto r = gate.finish(); !r) return std::unexpected(r.error());
    return sink.text;
  };
  const std::string clean = "-- MariaDB dump 10.19\n/*!40101 SET NAMES utf8mb4 */;\nINSERT INTO `t` VALUES (1,'" +
                            std::string(100000, 'x') + "'),(2,'system is fine inside a row');\n" +
                            "DELIMITER ;;\n  systemic_call();\n  user_count = 1;\n  connection_id();\n  useful();\n  SELECT 'a\\\\!b';\nDELIMITER ;\n\nno newline at the end";
  for (std::size_t piece : {1ul, 3ul, 31ul, 32ul, 33ul, 4096ul, 1ul << 20}) {
    CAPTURE(piece);
    CHECK(through(clean, piece).value() == clean);
    for (const std::string bad : {"system touch /tmp/x\n", "  SYSTEM id\n", "\\! id\n", "\t\\!id\n", "system\n", "system",
                                  "USE `mysql`;\n", "use other\n", "connect other\n", "\\u other\n", "\\r\n"}) {
      CAPTURE(bad);
      auto refused = through("-- dump\nSELECT 1;\n" + bad + (bad.ends_with('\n') ? "SELECT 2;\n" : ""), piece);
      REQUIRE_FALSE(refused.has_value());
      CHECK(refused.error().kind == ErrorKind::engine);
      CHECK(refused.error().message.find("line 3 of the dump") != std::string::npos);
      CHECK(refused.error().message.find("nothing was loaded") != std::string::npos);
    }
  }
}

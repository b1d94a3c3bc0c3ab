#include "dbsnap/engine/tool.hpp"
#include "dbsnap/runtime/runtime.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("DumpTap forwards everything and sees lines across chunk boundaries") {
  test::StringSink out;
  std::vector<std::string> lines;
  engine::DumpTap tap(out, [&](std::string_view line) { lines.emplace_back(line); });
  const std::string dump = "-- MariaDB dump 10.19\nINSERT INTO `alembic_version` VALUES ('a1'),('b2');\n\n-- Dump completed on x\n";
  for (std::size_t i = 0; i < dump.size(); i += 7) REQUIRE(tap.write(test::as_bytes(dump.substr(i, 7))));
  REQUIRE(tap.finish());
  CHECK(out.text == dump);
  CHECK(out.finished == 1);
  CHECK(tap.bytes() == dump.size());
  REQUIRE(lines.size() == 4);
  CHECK(lines[1] == "INSERT INTO `alembic_version` VALUES ('a1'),('b2');");
  CHECK(lines[2].empty());
  CHECK(tap.head().starts_with("-- MariaDB dump"));
  CHECK(tap.tail() == dump);
}

TEST_CASE("DumpTap keeps only the last 4 KiB as tail and cuts long lines") {
  test::StringSink out;
  std::vector<std::string> lines;
  engine::DumpTap tap(out, [&](std::string_view line) { lines.emplace_back(line); });
  std::string huge(100'000, 'x');
  std::string dump = "first\n" + huge + "\n-- PostgreSQL database dump complete\n\\unrestrict abc\n";
  for (std::size_t i = 0; i < dump.size(); i += 65536) REQUIRE(tap.write(test::as_bytes(dump.substr(i, 65536))));
  REQUIRE(tap.finish());
  CHECK(tap.tail().size() == 4096);
  CHECK(tap.tail() == dump.substr(dump.size() - 4096));
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].size() == 4096);
  CHECK(lines[3] == "\\unrestrict abc");
  CHECK(tap.head() == dump.substr(0, 4096));
}

TEST_CASE("DumpTap hands over a last line without a newline") {
  test::StringSink out;
  std::vector<std::string> lines;
  engine::DumpTap tap(out, [&](std::string_view line) { lines.emplace_back(line); });
  REQUIRE(tap.write(test::as_bytes("a\nb")));
  REQUIRE(tap.finish());
  CHECK(lines == std::vector<std::string>{"a", "b"});
}

TEST_CASE("ToolInput::wait_for_stdout sees a marker while the tool runs, and the end of a tool that stops") {
  config::Target t;
  t.name = "dev";
  t.engine = "sqlite";
  auto rt = runtime::make_runtime(t);
  // A tool that echoes its input line by line and keeps running: the marker comes back before stdin closes.
  auto echo = engine::ToolInput::start(*rt, {"sh", "-c", "while read -r l; do echo \"$l\"; done"}, {});
  REQUIRE(echo->send("first\nholding\n"));
  CHECK(echo->wait_for_stdout("holding"));
  REQUIRE(echo->send("later\n"));
  CHECK(echo->close_and_wait().ok());
  CHECK(echo->stdout_text() == "first\nholding\nlater\n");
  // A tool that stops without printing the marker: the wait ends with false.
  auto stops = engine::ToolInput::start(*rt, {"sh", "-c", "echo busy >&2; exit 3"}, {});
  CHECK_FALSE(stops->wait_for_stdout("holding"));
  CHECK_FALSE(stops->close_and_wait().ok());
  CHECK(stops->stderr_text().find("busy") != std::string::npos);
}

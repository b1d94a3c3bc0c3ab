#include "dbsnap/util/text.hpp"
#include "helpers.hpp"

using namespace dbsnap;

TEST_CASE("UTC timestamps round trip and sort as text") {
  util::TimePoint t(std::chrono::milliseconds(1'795'000'123'456));
  std::string text = util::format_utc(t);
  CHECK(text == "2026-11-18T11:08:43.456Z");
  util::TimePoint back;
  REQUIRE(util::parse_utc(text, back));
  CHECK(back == t);
  CHECK_FALSE(util::parse_utc("yesterday", back));
}

TEST_CASE("sizes, ratios and lines for people") {
  CHECK(util::human_bytes(512) == "512 B");
  CHECK(util::human_bytes(1536) == "1.5 KiB");
  CHECK(util::compression_ratio(1000, 250) == "4.00x");
  CHECK(util::compression_ratio(1000, 0) == "-");
  CHECK(util::last_nonempty_line("a\nb\n-- Dump completed\n\n  \n") == "-- Dump completed");
  CHECK(util::tail_lines("1\n2\n3\n4\n", 2) == "3\n4");
  CHECK(util::revision_text({}) == "(none)");
  CHECK(util::revision_text({"a", "b"}) == "a,b");
}

TEST_CASE("nonempty_lines trims and drops blank lines") {
  CHECK(util::nonempty_lines("  a \n\n b\r\n\t\nc") == std::vector<std::string_view>{"a", "b", "c"});
  CHECK(util::nonempty_lines("").empty());
  CHECK(util::nonempty_lines("\n\n").empty());
}

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

TEST_CASE("closest_match suggests what git would, and nothing for a word close to nothing") {
  const std::vector<std::string> commands = {"backup", "list", "show", "restore", "revisions", "rollback"};
  CHECK(util::closest_match("lst", commands) == "list");
  CHECK(util::closest_match("resotre", commands) == "restore");  // a swap counts one
  CHECK(util::closest_match("revision", commands) == "revisions");
  CHECK(util::closest_match("frobnicate", commands).empty());
  CHECK(util::closest_match("x", commands).empty());
  CHECK(util::closest_match("--lable", {"--label", "--level", "--json"}) == "--label");
}

TEST_CASE("display_time shows local time with its offset, and leaves what it cannot parse") {
  ::setenv("TZ", "Asia/Tokyo", 1);
  ::tzset();
  CHECK(util::display_time("2026-11-21T13:09:57.123Z") == "2026-11-21 22:09:57 +0900");
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  CHECK(util::display_time("2026-11-21T13:09:57.123Z") == "2026-11-21 13:09:57 +0000");
  CHECK(util::display_time("yesterday") == "yesterday");
  ::unsetenv("TZ");
  ::tzset();
}

TEST_CASE("displayable names keep UTF-8 and escape controls and bytes that are not UTF-8") {
  CHECK(util::displayable_name("Sales \"Data\" \xce\xa9.totals") == "Sales \"Data\" \xce\xa9.totals");
  CHECK(util::displayable_name("日本語 😀") == "日本語 😀");
  CHECK(util::displayable_name("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f");
  CHECK(util::displayable_name("\xc2\x9b[31m") == "\\xc2\\x9b[31m");   // C1 CSI
  CHECK(util::displayable_name("\xff\xfe") == "\\xff\\xfe");
  CHECK(util::displayable_name("\xc0\xaf") == "\\xc0\\xaf");         // overlong '/'
  CHECK(util::displayable_name("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(util::displayable_name("\xe6\x97") == "\\xe6\\x97");         // cut short
}

TEST_CASE("hex digits and the one-letter control escapes C, Python and COPY share") {
  CHECK(util::hex_value('0') == 0);
  CHECK(util::hex_value('9') == 9);
  CHECK(util::hex_value('a') == 10);
  CHECK(util::hex_value('F') == 15);
  CHECK(util::hex_value('g') == -1);
  CHECK(util::hex_value('/') == -1);
  CHECK(util::control_escape('n') == '\n');
  CHECK(util::control_escape('t') == '\t');
  CHECK(util::control_escape('b') == '\b');
  CHECK(util::control_escape('f') == '\f');
  CHECK(util::control_escape('r') == '\r');
  CHECK(util::control_escape('v') == '\v');
  // Letters whose meaning differs between the formats are each format's own decision.
  CHECK_FALSE(util::control_escape('a'));
  CHECK_FALSE(util::control_escape('x'));
  CHECK_FALSE(util::control_escape('0'));
  CHECK_FALSE(util::control_escape('\\'));
}

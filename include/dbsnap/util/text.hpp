#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dbsnap::util {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

// "1.5 MiB"-style size for people; exact byte counts go to --json.
std::string human_bytes(std::uint64_t bytes);

// Raw size over stored size, e.g. "4.21x"; "-" when stored is zero.
std::string compression_ratio(std::uint64_t raw, std::uint64_t stored);

// "850 ms", "12.3 s", "4 min 05 s".
std::string human_duration(std::chrono::milliseconds duration);

// "3 min ago", "2 h ago", "5 days ago": how old a snapshot is.
std::string human_age(TimePoint then, TimePoint now);

// The current time, at millisecond resolution.
TimePoint now_ms();

// RFC 3339 UTC with milliseconds: "2026-11-21T13:05:01.123Z". This is the
// form stored in manifests and the catalog; it sorts as text.
std::string format_utc(TimePoint time);

// Parses the form format_utc writes; std::nullopt-like failure as false.
bool parse_utc(std::string_view text, TimePoint& out);

// Local time for tables: "2026-11-21 14:05:01".
// The local time with its UTC offset ("2026-11-21 14:09:57 +0100"): how every
// command shows a time to people (JSON keeps RFC 3339 UTC).
std::string format_local(TimePoint time);
// An RFC 3339 UTC time from a manifest as format_local shows it (unchanged if unparsable).
std::string display_time(std::string_view utc);

// Lowercase hex of a byte range.
std::string to_hex(std::span<const unsigned char> bytes);

// Lowercase hex of `bytes` bytes from the system's random source: names that
// two writers never pick alike (packs, lock objects, key objects).
std::string random_hex(std::size_t bytes);

// The first `hex_digits` (at most 16) hex digits of the FNV-1a hash of
// `text`: a stable, short name suffix (scratch schemas, lock names), not a
// checksum.
std::string short_hash(std::string_view text, int hex_digits);

// The value of a hexadecimal digit (0-9, a-f, A-F), or -1.
int hex_value(char c);

// The byte a one-letter backslash escape stands for where C, Python string
// literals and PostgreSQL's COPY text format agree: \b \f \n \r \t \v;
// nullopt for any other letter (each format decides what those mean).
std::optional<char> control_escape(char letter);

// Joins strings with a separator.
std::string join(const std::vector<std::string>& parts, std::string_view separator);

// `text` safe to put in a one-line message: control and non-ASCII bytes as
// \xNN, cut to 200 characters with "..." when longer.
std::string printable(std::string_view text);

// A decimal unsigned integer that is the whole of `text` (a tool's printed
// count); nullopt for anything else, out of range included.
std::optional<std::uint64_t> parse_uint(std::string_view text);

// A name (a table's, a schema's) for a message: valid UTF-8 text is kept as
// it is, and control characters (C0, DEL, C1) and bytes that are not UTF-8
// are written as \xNN, so no name can move the cursor or end the line.
std::string displayable_name(std::string_view text);

// The candidate closest to a mistyped `word` (Damerau-Levenshtein distance,
// adjacent swaps counting one), as git suggests for a mistyped command: only
// when it is within a third of the word's length (at least 1, at most 3);
// empty otherwise.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Strips ASCII whitespace from both ends.
std::string_view trim(std::string_view text);

// The text with its line breaks (\n, \r) made spaces: a value kept on one
// line of a key=value record.
std::string on_one_line(std::string text);

// The text with ASCII letters lowercased (other bytes as they are).
std::string ascii_lower(std::string text);

// The value of environment variable `name`, or "" when it is unset.
std::string env_or_empty(const char* name);

// The lines of a text, each trimmed, empty ones dropped (for parsing what a
// command printed).
std::vector<std::string_view> nonempty_lines(std::string_view text);

// The last non-empty line of a text (trailing whitespace ignored).
std::string_view last_nonempty_line(std::string_view text);

// The last `max_lines` lines of a text (for showing a tool's stderr).
std::string tail_lines(std::string_view text, std::size_t max_lines);

// A revision set as shown to people: "a1b2c3" or "a1,b2" or "(none)".
std::string revision_text(const std::vector<std::string>& revisions);

}  // namespace dbsnap::util

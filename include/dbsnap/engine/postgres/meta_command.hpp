#pragma once

#include <string>
#include <string_view>

namespace dbsnap::engine::postgres {

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

}  // namespace dbsnap::engine::postgres

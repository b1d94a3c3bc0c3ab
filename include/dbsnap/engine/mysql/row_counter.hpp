#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine::mysql {

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

}  // namespace dbsnap::engine::mysql

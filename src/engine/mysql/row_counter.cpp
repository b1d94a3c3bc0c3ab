// Per-table row counts of a mysqldump/mariadb-dump script, read from the raw
// bytes as the dump streams into the store (mysql::InsertRowCounter).
//
// A byte-at-a-time state machine, because the rows of an extended INSERT sit
// on one line of any length (mysqldump cuts statements at
// --net-buffer-length, 1 MiB by default; --max-allowed-packet=1G lets a
// single row be far longer), which no line-based reader that keeps a bounded
// prefix can count. Inside a string literal it skips ahead to the next quote
// or backslash, so counting costs little next to compressing the same bytes.

#include <algorithm>
#include <cstring>

#include "dbsnap/engine/mysql/row_counter.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

constexpr std::string_view insert_prefix = "INSERT INTO `";
constexpr std::string_view create_prefix = "CREATE TABLE `";
constexpr std::string_view stand_in_prefix = "-- Temporary";
constexpr std::string_view delimiter_prefix = "DELIMITER ";
// Newer dump tools stand a view in with a view ("/*!50001 CREATE VIEW"), not a table.
constexpr std::string_view versioned_create_prefix = "/*!50001 CREATE";
constexpr std::size_t longest_head = 1024;  // a quoted name of 64 characters is at most 514 bytes

// The name quoted with backticks that starts at `text[from]`: nullopt while
// the closing backtick (or the byte after it) has not arrived; `end` is the
// index after the closing backtick.
std::optional<std::string> quoted_name(std::string_view text, std::size_t from, std::size_t& end) {
  std::string name;
  for (std::size_t i = from; i < text.size(); ++i) {
    if (text[i] != '`') {
      name += text[i];
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;  // "``" or the end: the next byte decides
    if (text[i + 1] == '`') {
      name += '`';
      ++i;
      continue;
    }
    end = i + 1;
    return name;
  }
  return std::nullopt;
}

}  // namespace

void InsertRowCounter::end_line() {
  head_.clear();
  mode_ = Mode::line_start;
}

// Decides what the line that starts with head_ is, once enough of it arrived.
void InsertRowCounter::classify(char c) {
  if (c == '\n') {
    if (head_.starts_with(delimiter_prefix)) {
      in_delimiter_block_ = util::trim(std::string_view(head_).substr(delimiter_prefix.size())) != ";";
    }
    end_line();
    return;
  }
  head_ += c;
  auto is_prefix = [this](std::string_view pattern) {
    return head_.size() <= pattern.size() ? pattern.starts_with(head_) : head_.starts_with(pattern);
  };
  if (head_.size() > longest_head) {
    if (head_.starts_with(insert_prefix) && !in_delimiter_block_) broken_ = true;
    mode_ = Mode::skip_line;
    return;
  }
  if (is_prefix(delimiter_prefix)) return;  // decided at the end of the line
  if (is_prefix(versioned_create_prefix)) {
    if (head_.size() < versioned_create_prefix.size()) return;
    stand_in_ = false;
    mode_ = Mode::skip_line;
    return;
  }
  if (is_prefix(stand_in_prefix)) {
    if (head_.size() < stand_in_prefix.size()) return;
    stand_in_ = true;  // mysqldump stands views in with tables until their real definition
    mode_ = Mode::skip_line;
    return;
  }
  const bool insert = is_prefix(insert_prefix);
  const bool create = !insert && is_prefix(create_prefix);
  if (!insert && !create) {
    mode_ = Mode::skip_line;
    return;
  }
  const std::size_t from = insert ? insert_prefix.size() : create_prefix.size();
  if (head_.size() <= from || in_delimiter_block_) {
    if (head_.size() > from) mode_ = Mode::skip_line;  // a routine body's statement
    return;
  }
  std::size_t end = 0;
  auto name = quoted_name(head_, from, end);
  if (!name) return;
  if (create) {
    if (!std::exchange(stand_in_, false)) rows_.try_emplace(*name, 0);
    mode_ = Mode::skip_line;
    return;
  }
  name_ = std::move(*name);
  rows_.try_emplace(name_, 0);
  after_.clear();
  in_backticks_ = false;
  const std::string rest = head_.substr(end);
  head_.clear();
  mode_ = Mode::after_name;
  feed(rest);
}

void InsertRowCounter::feed(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    switch (mode_) {
      case Mode::line_start:
        head_.clear();
        mode_ = Mode::classify;
        [[fallthrough]];
      case Mode::classify:
        classify(c);
        break;
      case Mode::skip_line: {
        const void* newline = std::memchr(bytes.data() + i, '\n', bytes.size() - i);
        if (!newline) return;
        i = static_cast<std::size_t>(static_cast<const char*>(newline) - bytes.data());
        end_line();
        break;
      }
      case Mode::after_name:
        // Up to VALUES, past an optional column list of `names`.
        if (c == '`') {
          in_backticks_ = !in_backticks_;
        } else if (c == '\n') {
          broken_ = true;
          end_line();
        } else if (!in_backticks_) {
          after_ += c;
          if (after_.size() > 6) after_.erase(0, after_.size() - 6);
          if (after_ == "VALUES") mode_ = Mode::values;
        }
        break;
      case Mode::values:
        if (c == '(') {
          ++rows_[name_];
          depth_ = 1;
          mode_ = Mode::tuple;
        } else if (c == ';') {
          mode_ = Mode::skip_line;
        } else if (c != ' ' && c != ',' && c != '\n' && c != '\r' && c != '\t') {
          broken_ = true;
          mode_ = Mode::skip_line;
        }
        break;
      case Mode::tuple:
        if (c == '\'') {
          mode_ = Mode::string;
        } else if (c == '(') {
          ++depth_;
        } else if (c == ')' && --depth_ == 0) {
          mode_ = Mode::values;
        }
        break;
      case Mode::string: {
        // Skip to the next quote, or to a backslash before it (memchr scans
        // far faster than a loop over the bytes, and most bytes are inside strings).
        const char* from = bytes.data() + i;
        const std::size_t left = bytes.size() - i;
        const auto* quote = static_cast<const char*>(std::memchr(from, '\'', left));
        const std::size_t span = quote ? static_cast<std::size_t>(quote - from) : left;
        const auto* backslash = static_cast<const char*>(std::memchr(from, '\\', span));
        if (backslash) {
          i += static_cast<std::size_t>(backslash - from);
          mode_ = Mode::string_escape;
        } else if (quote) {
          i += span;
          mode_ = Mode::string_quote;
        } else {
          return;  // the string goes on in the next bytes
        }
        break;
      }
      case Mode::string_escape:
        mode_ = Mode::string;
        break;
      case Mode::string_quote:
        if (c == '\'') {
          mode_ = Mode::string;  // '' is a quote inside the string
        } else {
          mode_ = Mode::tuple;
          --i;  // the byte after the closing quote belongs to the tuple
        }
        break;
    }
  }
}

std::optional<store::TableRows> InsertRowCounter::tables() const {
  const bool inside_insert = mode_ == Mode::after_name || mode_ == Mode::values || mode_ == Mode::tuple ||
                             mode_ == Mode::string || mode_ == Mode::string_escape || mode_ == Mode::string_quote;
  if (broken_ || inside_insert) return std::nullopt;
  return rows_;
}

}  // namespace dbsnap::engine::mysql

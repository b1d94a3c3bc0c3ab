#include "dbsnap/engine/postgres/meta_command.hpp"

#include <cctype>

namespace dbsnap::engine::postgres {

namespace {

bool identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

}  // namespace

bool MetaCommandScanner::step(char c) {
  if (!backslash_.empty()) {
    // A line that starts with '\\': pg_dump's \\restrict and \\unrestrict pass, nothing else does.
    backslash_.push_back(c);
    if (backslash_.size() < 12) return true;
    if (backslash_.starts_with("\\restrict ") || backslash_.starts_with("\\unrestrict ")) {
      backslash_.clear();
      state_ = State::line_comment;  // the key runs to the end of the line
      return true;
    }
    found_ = backslash_;
    return false;
  }
  if (skip_next_) {
    skip_next_ = false;
    return true;
  }
  const bool first = line_start_;
  line_start_ = false;
  switch (state_) {
    case State::line_comment:
      return true;
    case State::single:
      if (c == '\'') state_ = State::code;
      break;
    case State::escaped_single:
      if (c == '\\') skip_next_ = true;
      if (c == '\'') state_ = State::code;
      break;
    case State::identifier:
      if (c == '"') state_ = State::code;
      break;
    case State::block_comment:
      if (previous_ == '/' && c == '*') {
        ++comment_depth_;
        c = ' ';  // "/*/" opens one comment, it does not also close it
      } else if (previous_ == '*' && c == '/') {
        if (--comment_depth_ == 0) state_ = State::code;
        c = ' ';
      }
      break;
    case State::dollar:
      window_.push_back(c);
      if (window_.size() > tag_.size()) window_.erase(0, window_.size() - tag_.size());
      if (window_ == tag_) {
        state_ = State::code;
        window_.clear();
      }
      break;
    case State::code:
      if (!candidate_.empty()) {
        // Inside "$tag": a tag character continues it, '$' opens the quote, anything else was not a tag.
        if (c == '$') {
          tag_ = candidate_ + "$";
          candidate_.clear();
          state_ = State::dollar;
          break;
        }
        const bool digit_first = candidate_.size() == 1 && std::isdigit(static_cast<unsigned char>(c));
        if (identifier_char(c) && !digit_first) {
          candidate_.push_back(c);
          break;
        }
        candidate_.clear();
      }
      if (c == '\\') {
        if (first) {
          backslash_ = "\\";
          return true;
        }
        found_ = "\\";
        return false;
      }
      if (c == '\'') {
        const bool e_prefix = (previous_ == 'E' || previous_ == 'e') && !identifier_char(before_previous_);
        state_ = e_prefix ? State::escaped_single : State::single;
      } else if (c == '"') {
        state_ = State::identifier;
      } else if (previous_ == '-' && c == '-') {
        state_ = State::line_comment;
      } else if (previous_ == '/' && c == '*') {
        state_ = State::block_comment;
        comment_depth_ = 1;
        c = ' ';
      } else if (c == '$' && !identifier_char(previous_)) {
        candidate_ = "$";
      }
      break;
  }
  before_previous_ = previous_;
  previous_ = c;
  return true;
}

bool MetaCommandScanner::feed(std::string_view segment, bool line_start) {
  if (line_start) line_start_ = true;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (!step(segment[i])) {
      // Say what it is: the backslash and what follows it on this line.
      if (found_ == "\\") found_ = std::string(segment.substr(i, 24));
      return false;
    }
  }
  return true;
}

void MetaCommandScanner::end_line() {
  if (!backslash_.empty()) {
    const bool framing = backslash_.starts_with("\\restrict ") || backslash_.starts_with("\\unrestrict ");
    if (!framing && found_.empty()) found_ = backslash_;
    backslash_.clear();
  }
  if (state_ == State::line_comment) state_ = State::code;
  candidate_.clear();
  before_previous_ = previous_;
  previous_ = '\n';
  line_start_ = true;
}

}  // namespace dbsnap::engine::postgres

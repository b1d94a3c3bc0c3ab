#include "dbsnap/engine/mysql/dump_scan.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "dbsnap/engine/mysql/text.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

RevisionScanner::RevisionScanner(std::string table) : prefix_("INSERT INTO " + quote_identifier(table)) {}

void RevisionScanner::line(std::string_view line) {
  if (in_insert_) {
    rows(line);
    return;
  }
  if (line.empty()) return;
  // Routine, trigger and event bodies sit between DELIMITER ;; and DELIMITER ;.
  if (line[0] == 'D' && starts_with_ci(line, "DELIMITER ")) {
    in_delimiter_block_ = util::trim(line.substr(10)) != ";";
    return;
  }
  if (in_delimiter_block_ || line[0] != 'I' || !line.starts_with(prefix_)) return;
  std::string_view rest = line.substr(prefix_.size());
  if (rest.empty() || (rest[0] != ' ' && rest[0] != '(')) return;  // another table whose name starts alike
  auto values = rest.find("VALUES");
  if (values == std::string_view::npos) return;
  in_insert_ = true;
  rows(rest.substr(values + 6));
}

// Reads tuples "('a'),('b');" from one line of an INSERT; the first field of
// each is a revision. A line ending in ';' ends the statement.
void RevisionScanner::rows(std::string_view text) {
  std::size_t i = 0;
  auto at_end = [&] { return i >= text.size(); };
  for (;;) {
    while (!at_end() && (text[i] == ' ' || text[i] == ',' || text[i] == '\r')) ++i;
    if (at_end()) return;  // the statement goes on in the next line
    if (text[i] == ';') {
      in_insert_ = false;
      return;
    }
    if (text[i] != '(') {
      problem_ = "unexpected text in the version table's INSERT";
      in_insert_ = false;
      return;
    }
    ++i;
    std::string value;
    if (!at_end() && text[i] == '\'') {
      ++i;
      bool closed = false;
      while (!at_end()) {
        char c = text[i++];
        if (c == '\\' && !at_end()) {
          char e = text[i++];
          switch (e) {
            case 'n': value += '\n'; break;
            case 'r': value += '\r'; break;
            case 't': value += '\t'; break;
            case '0': value += '\0'; break;
            case 'Z': value += '\x1a'; break;
            default: value += e;
          }
        } else if (c == '\'') {
          if (!at_end() && text[i] == '\'') {
            value += '\'';
            ++i;
          } else {
            closed = true;
            break;
          }
        } else {
          value += c;
        }
      }
      if (!closed) {
        problem_ = "a row of the version table's INSERT is cut off (longer than 4 KiB)";
        in_insert_ = false;
        return;
      }
    } else if (text.substr(i).starts_with("0x")) {
      // --hex-blob writes binary columns as 0x...
      i += 2;
      while (i + 1 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i])) &&
             std::isxdigit(static_cast<unsigned char>(text[i + 1]))) {
        value += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
        i += 2;
      }
    } else {
      while (!at_end() && text[i] != ',' && text[i] != ')') value += text[i++];
    }
    // Skip any further fields of the tuple (a string field may hold ')').
    bool quoted = false;
    while (!at_end()) {
      char c = text[i++];
      if (quoted) {
        if (c == '\\') ++i;
        else if (c == '\'') quoted = false;
      } else if (c == '\'') {
        quoted = true;
      } else if (c == ')') {
        break;
      }
    }
    if (i > text.size() || (at_end() && text.back() != ')')) {
      problem_ = "a row of the version table's INSERT is cut off (longer than 4 KiB)";
      in_insert_ = false;
      return;
    }
    revisions_.push_back(std::move(value));
  }
}

std::vector<std::string> RevisionScanner::revisions() const {
  std::vector<std::string> out = revisions_;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void EngineScanner::line(std::string_view line) {
  if (line.empty() || (line[0] != '-' && line[0] != 'C' && line[0] != ')')) return;
  if (line.starts_with("-- Temporary")) {
    stand_in_ = true;  // mysqldump 5.7 stands views in with MyISAM tables until their real definition
  } else if (line.starts_with("CREATE TABLE `")) {
    table_.clear();
    if (std::exchange(stand_in_, false)) return;
    for (std::size_t i = 14; i < line.size(); ++i) {
      if (line[i] == '`') {
        if (i + 1 < line.size() && line[i + 1] == '`') {
          table_ += '`';
          ++i;
          continue;
        }
        break;
      }
      table_ += line[i];
    }
  } else if (!table_.empty() && line.starts_with(") ENGINE=")) {
    std::string_view engine = line.substr(9);
    std::size_t n = 0;
    while (n < engine.size() && (std::isalnum(static_cast<unsigned char>(engine[n])) || engine[n] == '_')) ++n;
    engine = engine.substr(0, n);
    if (engine != "InnoDB") found_.push_back(fmt::format("{} ({})", table_, engine));
    table_.clear();
  }
}

std::string server_version_from_header(std::string_view head) {
  constexpr std::string_view key = "\n-- Server version";
  auto pos = head.find(key);
  if (pos == std::string_view::npos) return {};
  std::string_view rest = head.substr(pos + key.size());
  rest = rest.substr(0, rest.find('\n'));
  return std::string(util::trim(rest));
}

std::string incomplete_dump(std::string_view head, std::string_view tail) {
  if (head.find("-- MariaDB dump") == std::string_view::npos && head.find("-- MySQL dump") == std::string_view::npos) {
    return "it does not start with the '-- MariaDB dump' or '-- MySQL dump' header";
  }
  if (!util::last_nonempty_line(tail).starts_with("-- Dump completed")) {
    return "it does not end with the '-- Dump completed' trailer";
  }
  return {};
}

}  // namespace dbsnap::engine::mysql

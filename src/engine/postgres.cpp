#include "dbsnap/engine/postgres.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "dbsnap/engine/tool.hpp"
#include "dbsnap/runtime/runtime.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine {

// ---------------------------------------------------------------------------
// Pure logic (unit-tested in tests/unit/test_engine_postgres.cpp).

namespace postgres {

namespace {

bool is_tag_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one identifier at the start of `text` (quoted "a""b" or bare up to a
// space, dot, comma or parenthesis) and removes it from `text`.
std::optional<std::string> take_identifier(std::string_view& text) {
  std::string out;
  if (text.starts_with('"')) {
    std::size_t i = 1;
    for (;;) {
      if (i >= text.size()) return std::nullopt;
      if (text[i] == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          out += '"';
          i += 2;
          continue;
        }
        text.remove_prefix(i + 1);
        return out;
      }
      out += text[i++];
    }
  }
  std::size_t n = 0;
  while (n < text.size() && std::strchr(" .,()", text[n]) == nullptr) ++n;
  if (n == 0) return std::nullopt;
  out.assign(text.substr(0, n));
  text.remove_prefix(n);
  return out;
}

// "$tag$" when `line` opens a dollar-quoted function body the way pg_dump
// writes it ("    AS $_$"), else empty.
std::string_view body_opening(std::string_view line) {
  std::size_t start = 0;
  while (start < line.size() && line[start] == ' ') ++start;
  line.remove_prefix(start);
  if (!line.starts_with("AS $")) return {};
  line.remove_prefix(3);
  std::size_t end = 1;
  while (end < line.size() && is_tag_char(line[end])) ++end;
  if (end >= line.size() || line[end] != '$') return {};
  return line.substr(0, end + 1);
}

// Everything after `marker` on its line, trimmed; npos-safe.
std::string after(std::string_view line, std::string_view marker) {
  auto at = line.find(marker);
  if (at == std::string_view::npos) return {};
  return std::string(util::trim(line.substr(at + marker.size())));
}

std::string collapse_spaces(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string array_literal(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const auto& v : values) quoted.push_back(quote_literal(v));
  return fmt::format("ARRAY[{}]::text[]", util::join(quoted, ", "));
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string dollar_quote(std::string_view body) {
  std::string tag = "$dbsnap$";
  for (int i = 0; body.find(tag) != std::string_view::npos; ++i) tag = fmt::format("$dbsnap{}$", i);
  return fmt::format("{}{}{}", tag, body, tag);
}

std::string conninfo(std::string_view database, std::string_view application) {
  auto value = [](std::string_view v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  };
  return fmt::format("dbname={} application_name={}", value(database), value(application));
}

std::string copy_unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    char c = field[i];
    if (c != '\\' || i + 1 == field.size()) {
      out += c;
      continue;
    }
    char e = field[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': {
        int value = 0, digits = 0;
        while (digits < 2 && i + 1 < field.size() && hex_value(field[i + 1]) >= 0) {
          value = value * 16 + hex_value(field[++i]);
          ++digits;
        }
        if (digits == 0) {
          out += 'x';
        } else {
          out += static_cast<char>(value);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int value = e - '0';
          for (int digits = 1; digits < 3 && i + 1 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '7';
               ++digits) {
            value = value * 8 + (field[++i] - '0');
          }
          out += static_cast<char>(value & 0xff);
        } else {
          out += e;  // \\ and any other escaped character: the character itself
        }
    }
  }
  return out;
}

std::vector<std::optional<std::string>> parse_copy_row(std::string_view line) {
  std::vector<std::optional<std::string>> fields;
  for (;;) {
    auto tab = line.find('\t');
    std::string_view field = line.substr(0, tab);
    if (field == "\\N") {
      fields.emplace_back(std::nullopt);
    } else {
      fields.emplace_back(copy_unescape(field));
    }
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
  }
  return fields;
}

std::optional<CopyHeader> parse_copy_header(std::string_view line) {
  if (!line.starts_with("COPY ") || !line.ends_with(" FROM stdin;")) return std::nullopt;
  line.remove_prefix(5);
  line.remove_suffix(12);
  CopyHeader h;
  auto first = take_identifier(line);
  if (!first) return std::nullopt;
  if (line.starts_with('.')) {
    line.remove_prefix(1);
    auto second = take_identifier(line);
    if (!second) return std::nullopt;
    h.schema = std::move(*first);
    h.table = std::move(*second);
  } else {
    h.table = std::move(*first);
  }
  while (line.starts_with(' ')) line.remove_prefix(1);
  if (line.empty()) return h;
  if (!line.starts_with('(')) return std::nullopt;
  line.remove_prefix(1);
  for (;;) {
    while (line.starts_with(' ')) line.remove_prefix(1);
    auto column = take_identifier(line);
    if (!column) return std::nullopt;
    h.columns.push_back(std::move(*column));
    if (line.starts_with(',')) {
      line.remove_prefix(1);
      continue;
    }
    if (line == ")") return h;
    return std::nullopt;
  }
}

ScriptScanner::ScriptScanner(std::string schema, std::string table, std::string snapshot)
    : schema_(std::move(schema)), table_(std::move(table)), snapshot_(std::move(snapshot)) {}

void ScriptScanner::line(std::string_view line, bool cut) {
  ++lines_;
  if (in_copy_) {
    if (line == "\\.") {
      in_copy_ = false;
      version_column_ = -1;
      return;
    }
    if (copy_rows_) ++*copy_rows_;  // COPY's text format escapes newlines in values: a line is a row
    if (version_column_ < 0) return;
    if (cut) {
      if (problem_.empty()) problem_ = fmt::format("a row of {}.{} is too long to read", schema_, table_);
      return;
    }
    auto row = parse_copy_row(line);
    if (static_cast<std::size_t>(version_column_) < row.size() && row[version_column_]) {
      revisions_.insert(std::move(*row[version_column_]));
    }
    return;
  }
  if (!body_tag_.empty()) {
    if (line.find(body_tag_) != std::string_view::npos) body_tag_.clear();
    return;
  }
  if (line.empty() || line.starts_with("--")) return;
  if (line.starts_with("COPY ")) {
    // pg_dump's COPY statements end with "FROM stdin;"; a longer one was cut.
    if (!cut && !line.ends_with(" FROM stdin;")) return;
    in_copy_ = true;
    auto header = parse_copy_header(line);
    if (header) {
      copy_rows_ = &rows_[header->schema.empty() ? header->table : header->schema + "." + header->table];
    } else {
      copy_rows_ = nullptr;
      rows_broken_ = true;  // a header too long to read: its rows would count nowhere
    }
    if (header && header->schema == schema_ && header->table == table_) {
      auto it = std::find(header->columns.begin(), header->columns.end(), "version_num");
      if (it != header->columns.end()) version_column_ = static_cast<int>(it - header->columns.begin());
    }
    return;
  }
  if (auto tag = body_opening(line); !tag.empty()) {
    auto rest = line.substr(line.find(tag) + tag.size());
    if (rest.find(tag) == std::string_view::npos) body_tag_.assign(tag);
    return;
  }
  if (!refusal_.empty()) return;
  if (line.starts_with("SELECT pg_catalog.lo_create(") || line.starts_with("SELECT pg_catalog.lo_open(")) {
    refusal_ = fmt::format(
        "the dump contains large objects, which pg_dump writes in a transaction of their own, so it cannot be "
        "restored all-or-nothing; load it by hand (dbsnap cat {} | psql) or move the data out of large objects",
        snapshot_);
    return;
  }
  const bool ends_transaction = line == "BEGIN;" || line == "COMMIT;" || line == "ROLLBACK;" || line == "ABORT;" ||
                                line.starts_with("START TRANSACTION") || line.starts_with("COMMIT ") ||
                                line.starts_with("ROLLBACK ");
  if (ends_transaction) {
    refusal_ = fmt::format(
        "line {} of the dump is '{}', which would end dbsnap's restore transaction early, so it cannot be restored "
        "all-or-nothing; load it by hand (dbsnap cat {} | psql)",
        lines_, line, snapshot_);
    return;
  }
  if (line.starts_with('\\') && !line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) {
    refusal_ = fmt::format(
        "line {} of the dump is the psql command '{}', which could leave dbsnap's restore transaction; "
        "load it by hand (dbsnap cat {} | psql)",
        lines_, line.substr(0, std::min<std::size_t>(line.size(), 40)), snapshot_);
  }
}

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

Expected<void> ScriptGate::refused() const {
  if (!meta_refusal_.empty()) return make_error(ErrorKind::engine, "{}", meta_refusal_);
  return make_error(ErrorKind::engine, "{}", scanner_.refusal());
}

Expected<void> ScriptGate::forward(std::string_view data) {
  if (data.empty()) return {};
  return next_.write(pipeline::Bytes(reinterpret_cast<const std::byte*>(data.data()), data.size()));
}

Expected<void> ScriptGate::write(pipeline::Bytes bytes) {
  if (!scanner_.refusal().empty() || !meta_refusal_.empty()) return refused();
  const std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // 1. Every complete line of the chunk goes past the scanner first, and every
  // byte outside COPY data past the meta-command scanner (partial lines too).
  std::size_t last_newline = std::string_view::npos;
  for (std::size_t pos = 0; pos < data.size();) {
    const char* newline = static_cast<const char*>(std::memchr(data.data() + pos, '\n', data.size() - pos));
    const std::size_t n = newline ? static_cast<std::size_t>(newline - (data.data() + pos)) : data.size() - pos;
    const bool line_start = line_length_ == 0;
    if (line_start) line_checked_ = !scanner_.in_copy();
    if (line_checked_ && !meta_.feed(data.substr(pos, n), line_start)) {
      meta_refusal_ = fmt::format(
          "line {} of the dump holds the psql command '{}', which psql would run (a shell command, a file "
          "read or written); refused, nothing was restored; load it by hand after reading it (dbsnap cat)",
          scanner_.lines() + 1, util::printable(meta_.found()));
      return refused();
    }
    if (line_.size() < keep) line_.append(data.substr(pos, std::min(n, keep - line_.size())));
    line_length_ += n;
    if (!newline) break;
    if (line_checked_) meta_.end_line();
    scanner_.line(line_, line_length_ > line_.size());
    line_.clear();
    line_length_ = 0;
    last_newline = pos + n;
    pos += n + 1;
  }
  if (!scanner_.refusal().empty()) return refused();

  // 2. Forward all of it but the start of a short top-level line.
  if (last_newline == std::string_view::npos) {
    if (!holding_) return forward(data);
    pending_.append(data);
    if (line_length_ < hold_limit) return {};
    holding_ = false;
    auto r = forward(pending_);
    pending_.clear();
    return r;
  }
  if (auto r = forward(pending_); !r) return r;
  pending_.clear();
  if (auto r = forward(data.substr(0, last_newline + 1)); !r) return r;
  const std::string_view tail = data.substr(last_newline + 1);
  holding_ = scanner_.at_top_level();
  if (holding_ && tail.size() < hold_limit) {
    pending_.assign(tail);
    return {};
  }
  holding_ = false;
  return forward(tail);
}

Expected<void> ScriptGate::finish() {
  if (!meta_refusal_.empty()) return refused();
  if (line_length_ > 0) {
    scanner_.line(line_, line_length_ > line_.size());
    line_.clear();
    line_length_ = 0;
  }
  if (!scanner_.refusal().empty()) return refused();
  if (auto r = forward(pending_); !r) return r;
  pending_.clear();
  return next_.finish();
}

std::string header_version(std::string_view head, std::string_view key) {
  const std::string marker =
      key == "pg_dump" ? "\n-- Dumped by pg_dump version " : "\n-- Dumped from database version ";
  auto at = head.find(marker);
  if (at == std::string_view::npos) return {};
  auto rest = head.substr(at + marker.size());
  return std::string(util::trim(rest.substr(0, rest.find('\n'))));
}

std::string incomplete_dump(std::string_view head, std::string_view tail) {
  if (!head.starts_with("--\n-- PostgreSQL database dump\n") && !head.starts_with("-- PostgreSQL database dump\n")) {
    return "it does not start with pg_dump's '-- PostgreSQL database dump' header";
  }
  // The last non-empty lines, newest first.
  std::vector<std::string_view> last;
  while (!tail.empty() && last.size() < 3) {
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
    auto newline = tail.rfind('\n');
    auto line = newline == std::string_view::npos ? tail : tail.substr(newline + 1);
    if (!util::trim(line).empty()) last.push_back(util::trim(line));
    tail = newline == std::string_view::npos ? std::string_view{} : tail.substr(0, newline);
  }
  std::size_t i = 0;
  if (i < last.size() && last[i].starts_with("\\unrestrict ")) ++i;
  if (i + 1 < last.size() && last[i] == "--" && last[i + 1] == "-- PostgreSQL database dump complete") return {};
  return "it ends without pg_dump's '-- PostgreSQL database dump complete' trailer (the dump was cut short)";
}

std::string describe_failure(std::string_view stderr_text) {
  std::string message;
  std::string_view rest = stderr_text;
  std::string_view chosen;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (line.find("FATAL:") != std::string_view::npos || line.find("ERROR:") != std::string_view::npos ||
        line.find("error:") != std::string_view::npos) {
      chosen = line;
    }
  }
  if (chosen.empty()) chosen = util::last_nonempty_line(stderr_text);
  if (chosen.find("FATAL:") != std::string_view::npos) {
    message = after(chosen, "FATAL:");
  } else if (chosen.find("ERROR:") != std::string_view::npos) {
    message = after(chosen, "ERROR:");
    // psql:<stdin>:123: ERROR:  ...
    if (chosen.starts_with("psql:")) {
      auto parts = chosen.substr(0, chosen.find("ERROR:"));
      auto colon = parts.rfind(':', parts.size() >= 2 ? parts.size() - 2 : 0);
      auto before = parts.substr(0, colon);
      auto line_no = before.substr(before.rfind(':') + 1);
      if (!line_no.empty() && std::all_of(line_no.begin(), line_no.end(), ::isdigit)) {
        message += fmt::format(" (script line {})", line_no);
      }
    }
  } else if (chosen.find("error:") != std::string_view::npos) {
    message = after(chosen, "error:");
  } else {
    message = std::string(util::trim(chosen));
  }
  message = collapse_spaces(message);
  const std::string all(stderr_text);
  std::string hint;
  if (all.find("password authentication failed") != std::string::npos) {
    hint = "check the password that password_env or password_from_container names";
  } else if (all.find("no password supplied") != std::string::npos) {
    hint = "set password_env or password_from_container, or connect over the socket without host";
  } else if (database_missing(all)) {
    hint = "create the database or fix the target's 'database'";
  } else if (all.find("role \"") != std::string::npos && all.find("does not exist") != std::string::npos) {
    hint = "fix the target's 'user'";
  } else if (all.find("Connection refused") != std::string::npos ||
             all.find("No such file or directory") != std::string::npos ||
             all.find("could not translate host name") != std::string::npos) {
    hint = "is PostgreSQL running and listening there? check host and port";
  } else if (all.find("permission denied") != std::string::npos ||
             all.find("must be owner") != std::string::npos) {
    hint = "connect as a superuser or the database owner";
  }
  if (!hint.empty()) message += "; " + hint;
  return message;
}

bool database_missing(std::string_view stderr_text) {
  auto at = stderr_text.find("FATAL:  database \"");
  return at != std::string_view::npos && stderr_text.find("\" does not exist", at) != std::string_view::npos;
}

std::string restore_prologue(int lock_timeout_seconds) {
  const std::string body = R"(
DECLARE
  r record;
  old oid[] := '{}';
BEGIN
  FOR r IN SELECT evtname FROM pg_catalog.pg_event_trigger LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_catalog.pg_publication LOOP
    EXECUTE pg_catalog.format('DROP PUBLICATION IF EXISTS %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' LOOP
    EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT c.castsource::pg_catalog.regtype::text AS s, c.casttarget::pg_catalog.regtype::text AS t
           FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 LOOP
    EXECUTE pg_catalog.format('DROP CAST IF EXISTS (%s AS %s) CASCADE', r.s, r.t);
  END LOOP;
  FOR r IN SELECT fdwname FROM pg_catalog.pg_foreign_data_wrapper LOOP
    EXECUTE pg_catalog.format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;
  FOR r IN SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n
           WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY n.oid LOOP
    EXECUTE pg_catalog.format('ALTER SCHEMA %I RENAME TO %I', r.nspname, 'dbsnap_old_' || r.oid::text);
    old := old || r.oid;
  END LOOP;
  PERFORM pg_catalog.set_config('dbsnap.old_schemas', old::text, true);
  IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
    CREATE SCHEMA public AUTHORIZATION pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    CREATE SCHEMA public;
    GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC;
  END IF;
  COMMENT ON SCHEMA public IS 'standard public schema';
END
)";
  return fmt::format(
      "BEGIN;\n"
      "SET client_min_messages = warning;\n"
      "SET lock_timeout = '{}s';\n"
      "DO {};\n",
      lock_timeout_seconds, dollar_quote(body));
}

std::string drop_old_schemas_body() {
  return R"(
DECLARE
  r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_catalog.pg_namespace n
           WHERE n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]) LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
END
)";
}

std::string restore_epilogue(std::string_view schema, std::string_view table,
                             const std::vector<std::string>& revisions, int lock_timeout_seconds,
                             int server_version_num) {
  const std::string qualified = quote_identifier(schema) + "." + quote_identifier(table);
  const std::string check = fmt::format(R"(
DECLARE
  found text[];
  wanted text[] := {wanted};
BEGIN
  IF pg_catalog.to_regclass({qualified}) IS NULL THEN
    found := '{{}}';
  ELSE
    EXECUTE {select} INTO found;
    found := coalesce(found, '{{}}');
  END IF;
  IF NOT (found @> wanted AND found <@ wanted) THEN
    RAISE EXCEPTION 'dbsnap: the restored % holds revision %, the snapshot recorded %', {qualified}, found, wanted;
  END IF;
END
)",
                                        fmt::arg("wanted", array_literal(revisions)),
                                        fmt::arg("qualified", quote_literal(qualified)),
                                        fmt::arg("select", quote_literal("SELECT pg_catalog.array_agg(DISTINCT "
                                                                         "version_num::text) FROM " +
                                                                         qualified)));
  const std::string old_relations = R"(
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]) AND c.relkind IN ('r', 'p', 'm'))";
  // First without waiting; then waiting in the lock queue for a moment
  // (twice deadlock_timeout, so that PostgreSQL cancels an autovacuum in the
  // way), giving up that wait (and every lock it got) on a timeout or a
  // deadlock, until the deadline.
  const std::string lock = fmt::format(R"(
DECLARE
  relations text;
  holders text;
  queue_wait text;
  deadline timestamptz := pg_catalog.clock_timestamp() + interval '{seconds} seconds';
BEGIN
  SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', '){old_relations};
  IF relations IS NULL THEN
    RETURN;
  END IF;
  queue_wait := GREATEST(2000, 2000 * EXTRACT(epoch FROM
                  pg_catalog.current_setting('deadlock_timeout')::interval))::bigint::text || 'ms';
  LOOP
    BEGIN
      EXECUTE 'LOCK TABLE ' || relations || ' IN ACCESS EXCLUSIVE MODE NOWAIT';
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', queue_wait, true);
      EXECUTE 'LOCK TABLE ' || relations || ' IN ACCESS EXCLUSIVE MODE';
      RETURN;
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
      IF pg_catalog.clock_timestamp() > deadline THEN
        SELECT pg_catalog.string_agg(DISTINCT l.pid::text, ', ') INTO holders
          FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid()
            AND n.oid = ANY (pg_catalog.current_setting('dbsnap.old_schemas')::oid[]);
        RAISE EXCEPTION 'dbsnap: other sessions (pid %) kept the tables locked for {seconds} s; end them or raise lock_timeout',
          coalesce(holders, '?');
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05);
    END;
  END LOOP;
END
)",
                                       fmt::arg("seconds", lock_timeout_seconds),
                                       fmt::arg("old_relations", " INTO relations" + old_relations));
  const std::string drop = drop_old_schemas_body();
  const char* xid = server_version_num >= 130000 ? "pg_catalog.pg_current_xact_id()" : "pg_catalog.txid_current()";
  return fmt::format(
      "\n"
      "SET client_min_messages = warning;\n"
      "SET lock_timeout = 0;\n"
      "DO {check};\n"
      "DO {lock};\n"
      "SET lock_timeout = '{seconds}s';\n"
      "DO {drop};\n"
      "SELECT 'dbsnap-xid:' || {xid};\n",
      fmt::arg("check", dollar_quote(check)), fmt::arg("lock", dollar_quote(lock)),
      fmt::arg("seconds", lock_timeout_seconds), fmt::arg("drop", dollar_quote(drop)), fmt::arg("xid", xid));
}

std::optional<std::string> find_marker(std::string_view output, std::string_view marker) {
  for (auto at = output.rfind(marker); at != std::string_view::npos;
       at = at == 0 ? std::string_view::npos : output.rfind(marker, at - 1)) {
    if (at != 0 && output[at - 1] != '\n') continue;
    auto rest = output.substr(at + marker.size());
    auto newline = rest.find('\n');
    if (newline == std::string_view::npos) continue;  // not the whole line yet
    return std::string(rest.substr(0, newline));
  }
  return std::nullopt;
}

}  // namespace postgres

// ---------------------------------------------------------------------------
// The engine.

namespace {

using namespace postgres;

constexpr int default_lock_timeout = 60;

// One target's server: where its tools run and how they connect.
class Server {
 public:
  explicit Server(const config::Target& target)
      : target_(target),
        runtime_(runtime::make_runtime(target)),
        secret_(runtime::Secret::from_target(target, "PGPASSWORD")),
        database_(target.string("database")),
        user_(target.string("user", "postgres")),
        host_(target.string("host")),
        port_(target.integer("port", 0)),
        schema_(target.string("schema", "public")),
        table_(target.string("version_table", "alembic_version")) {
    if (database_.empty()) fail(ErrorKind::config, "target '{}': key 'database' is required", target.name);
    if (user_.empty()) fail(ErrorKind::config, "target '{}': 'user' is empty", target.name);
    if (port_ < 0 || port_ > 65535) fail(ErrorKind::config, "target '{}': port {} is out of range", target.name, port_);
  }

  const config::Target& target() const { return target_; }
  runtime::Runtime& runtime() { return *runtime_; }
  const runtime::Secret& secret() const { return secret_; }
  const std::string& database() const { return database_; }
  const std::string& schema() const { return schema_; }
  const std::string& table() const { return table_; }
  std::string where() const { return fmt::format("database '{}' in {}", database_, runtime_->where()); }

  // The connection options every tool gets: user values are argv entries of
  // their own, the database goes in a connection string, the password never.
  // `database`, when given, instead of the target's (a test restore's scratch database).
  std::vector<std::string> connection(std::string_view application, std::string_view database = {}) const {
    std::vector<std::string> args;
    if (!host_.empty()) args.insert(args.end(), {"-h", host_});
    if (port_ != 0) args.insert(args.end(), {"-p", std::to_string(port_)});
    args.insert(args.end(), {"-U", user_, "-d", conninfo(database.empty() ? database_ : database, application)});
    return args;
  }

  std::vector<std::string> psql(std::string_view application, std::string_view database = {}) const {
    std::vector<std::string> argv = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
    auto c = connection(application, database);
    argv.insert(argv.end(), c.begin(), c.end());
    return argv;
  }
  const std::string& user() const { return user_; }

  // Runs a short script in psql; the tool's failures are the caller's to judge.
  runtime::RunResult run_script(const std::string& sql) { return runtime::run_in(*runtime_, psql("dbsnap"), secret_, sql); }

  // Runs a short script and returns its output; throws an engine error
  // (saying what `doing` was) when psql fails.
  std::string query(const std::string& sql, std::string_view doing) {
    auto result = run_script(sql);
    if (!result.status.ok()) {
      fail(ErrorKind::engine, "target '{}': cannot {} ({}): {}", target_.name, doing, where(),
           describe_failure(result.err.empty() ? result.out : result.err));
    }
    return result.out;
  }

  // Values of lines "prefix:value" in psql's output.
  static std::vector<std::string> tagged(std::string_view output, std::string_view prefix) {
    std::vector<std::string> values;
    while (!output.empty()) {
      auto newline = output.find('\n');
      auto line = output.substr(0, newline);
      output.remove_prefix(newline == std::string_view::npos ? output.size() : newline + 1);
      if (line.starts_with(prefix)) values.emplace_back(line.substr(prefix.size()));
    }
    return values;
  }

 private:
  const config::Target& target_;
  std::unique_ptr<runtime::Runtime> runtime_;
  runtime::Secret secret_;
  std::string database_;
  std::string user_;
  std::string host_;
  std::int64_t port_;
  std::string schema_;
  std::string table_;
};

// psql reading a script on stdin. Unlike ToolInput, its stdout is read here
// by a thread of our own as it comes, so that commit() can wait for the
// transaction id before it sends COMMIT.
class PsqlSession {
 public:
  PsqlSession(runtime::Runtime& runtime, const std::vector<std::string>& argv, const runtime::Secret& secret)
      : runtime_(runtime), session_(runtime.start_input(argv, secret)) {
    reader_ = std::thread([this] { read_stdout(); });
  }

  ~PsqlSession() {
    // Without COMMIT, closing stdin makes psql roll back; wait for it, so
    // the database is back to its old state when dbsnap exits.
    session_->close_stdin();
    if (reader_.joinable()) reader_.join();
    if (!waited_) session_->wait();
  }

  Expected<void> write(pipeline::Bytes data) {
    auto r = session_->write(data);
    if (!r && r.error().kind != ErrorKind::interrupted) {
      return make_error(ErrorKind::engine, "psql stopped reading its input: {}", r.error().message);
    }
    return r;
  }

  Expected<void> send(std::string_view text) {
    return write(pipeline::Bytes(reinterpret_cast<const std::byte*>(text.data()), text.size()));
  }

  // Waits until psql printed a line "<marker><value>" (returns value) or its
  // output ended (std::nullopt). A SIGINT/SIGTERM meanwhile throws `interrupted`.
  std::optional<std::string> wait_for_line(std::string_view marker) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (auto value = find_marker(stdout_, marker)) return value;
      if (eof_) return std::nullopt;
      lock.unlock();
      util::check_interrupted();
      lock.lock();
      changed_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  // Closes stdin and waits for psql to end; throws a `runtime` error when
  // the exec itself failed.
  runtime::ExitStatus close_and_wait() {
    session_->close_stdin();
    if (reader_.joinable()) reader_.join();
    status_ = session_->wait();
    waited_ = true;
    const std::string said = session_->stderr_text() + output();
    if (auto why = runtime_.exec_failure(status_, "psql", said)) {
      // docker exec prints "executable file not found" on stdout.
      if (said.find("executable file not found") != std::string::npos) {
        fail(ErrorKind::runtime, "'psql' is not installed in {}; install the PostgreSQL client there or point the "
             "target at the database's own container", runtime_.where());
      }
      fail(ErrorKind::runtime, "{}", *why);
    }
    return status_;
  }

  std::string output() const {
    std::lock_guard lock(mutex_);
    return stdout_;
  }
  const std::string& stderr_text() const { return session_->stderr_text(); }

  // Whether close_and_wait() ran.
  bool closed() const { return waited_; }

  // psql's own message (the error that stopped it) or, without one, how it ended.
  std::string failure_text(const runtime::ExitStatus& status) const {
    std::string text = describe_failure(stderr_text());
    return text.empty() ? fmt::format("psql ended with {} and no message", status.describe()) : text;
  }

  // "<what>: <psql's message>", closing psql first when it still runs (it
  // then rolls back what it did not commit).
  std::string stopped(std::string_view what) {
    runtime::ExitStatus status = status_;
    if (!waited_) {
      try {
        status = close_and_wait();
      } catch (const DbsnapError& e) {
        return fmt::format("{}: {}", what, e.what());
      }
    }
    return fmt::format("{}: {}", what, failure_text(status));
  }

 private:
  void read_stdout() {
    std::byte buffer[8192];
    for (;;) {
      auto n = session_->read_stdout(buffer);
      std::lock_guard lock(mutex_);
      if (!n || *n == 0) {
        eof_ = true;
        changed_.notify_all();
        return;
      }
      stdout_.append(reinterpret_cast<const char*>(buffer), *n);
      if (stdout_.size() > 128 * 1024) stdout_.erase(0, stdout_.size() - 64 * 1024);
      changed_.notify_all();
    }
  }

  runtime::Runtime& runtime_;
  std::unique_ptr<runtime::InputSession> session_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string stdout_;
  bool eof_ = false;
  bool waited_ = false;
  runtime::ExitStatus status_;
};

// Writes the dump into psql; when psql has stopped reading, the error says why.
class PsqlInput final : public pipeline::Sink {
 public:
  PsqlInput(PsqlSession& psql, std::function<std::string()> why) : psql_(psql), why_(std::move(why)) {}
  Expected<void> write(pipeline::Bytes data) override {
    auto r = psql_.write(data);
    if (!r && r.error().kind != ErrorKind::interrupted) return make_error(ErrorKind::engine, "{}", why_());
    return r;
  }
  Expected<void> finish() override { return {}; }

 private:
  PsqlSession& psql_;
  std::function<std::string()> why_;
};

class PostgresRestore final : public RestoreSession {
 public:
  PostgresRestore(std::unique_ptr<Server> server, const store::Manifest& snapshot, int lock_timeout)
      : server_(std::move(server)),
        revisions_(snapshot.revisions),
        lock_timeout_(lock_timeout),
        scanner_(server_->schema(), server_->table(), snapshot.id) {
    psql_ = std::make_unique<PsqlSession>(server_->runtime(), server_->psql("dbsnap-restore"), server_->secret());
    input_ = std::make_unique<PsqlInput>(*psql_, [this] { return stopped("psql stopped reading the dump"); });
    gate_ = std::make_unique<ScriptGate>(*input_, scanner_);
    // The server's version proves the session is connected (a missing
    // database gets its own message); the prologue starts the transaction.
    auto sent = psql_->send(
        "SELECT 'dbsnap-version:' || pg_catalog.current_setting('server_version_num');\n" +
        restore_prologue(lock_timeout_));
    auto version = sent ? psql_->wait_for_line("dbsnap-version:") : std::nullopt;
    if (!version) {
      const auto status = close();
      if (database_missing(psql_->stderr_text())) {
        // The suggestion is a shell command line: the name goes in single quotes there.
        std::string quoted = "'";
        for (char c : server_->database()) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        fail(ErrorKind::engine, "target '{}': {} does not exist; create it first (createdb {}') or fix 'database'",
             name(), server_->where(), quoted);
      }
      fail(ErrorKind::engine, "target '{}': cannot start the restore ({}): {}", name(), server_->where(),
           failure_text(status));
    }
    version_ = std::atoi(version->c_str());
    if (version_ < 100000) {
      fail(ErrorKind::engine, "target '{}': {} runs server_version_num {}; dbsnap needs PostgreSQL 10 or newer",
           name(), server_->where(), *version);
    }
  }

  pipeline::Sink& input() override { return *gate_; }

  void commit() override {
    if (psql_->closed()) fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql had stopped"));
    if (!scanner_.refusal().empty()) fail(ErrorKind::engine, "target '{}': {}", name(), scanner_.refusal());
    if (!scanner_.at_top_level()) {
      fail(ErrorKind::engine, "target '{}': the dump ends inside a COPY block or function body; nothing was restored",
           name());
    }
    if (auto r = psql_->send(restore_epilogue(server_->schema(), server_->table(), revisions_, lock_timeout_,
                                              version_));
        !r) {
      fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql stopped before COMMIT"));
    }
    // COMMIT goes out only once psql is past everything that can fail or
    // wait: a dbsnap killed before this point leaves a rollback behind.
    const std::string xid = psql_->wait_for_line("dbsnap-xid:").value_or("");
    if (xid.empty() || !std::all_of(xid.begin(), xid.end(), ::isdigit)) {
      const auto status = close();
      fail(ErrorKind::engine, "target '{}': the restore was rolled back, {} is unchanged: {}", name(),
           server_->where(), failure_text(status));
    }
    // The same session then asks how its transaction ended: with
    // ON_ERROR_STOP a failed COMMIT never gets there, and a 'committed'
    // answer from the server settles it without another connection.
    (void)psql_->send("COMMIT;\n" + status_query(xid));
    const auto status = close();
    const auto values = Server::tagged(psql_->output(), "dbsnap-status:");
    if (status.ok() && values.size() == 1 && values.front() == "committed") return;
    confirm(xid, status);
  }

  bool checks_revision() const override { return true; }

 private:
  const std::string& name() const { return server_->target().name; }

  runtime::ExitStatus close() { return psql_->close_and_wait(); }
  std::string failure_text(const runtime::ExitStatus& status) const { return psql_->failure_text(status); }
  // Closes psql (it rolls back) and says why it stopped.
  std::string stopped(std::string_view what) { return psql_->stopped(what) + "; the transaction was rolled back"; }

  // The query that prints "dbsnap-status:<committed|aborted|in progress|unknown>" for transaction `xid`.
  std::string status_query(const std::string& xid) const {
    return version_ >= 130000
               ? fmt::format("SELECT 'dbsnap-status:' || coalesce(pg_catalog.pg_xact_status('{}'::xid8), 'unknown');\n",
                             xid)
               : fmt::format("SELECT 'dbsnap-status:' || coalesce(pg_catalog.txid_status({}), 'unknown');\n", xid);
  }

  // psql exits 0 even when its transaction rolled back: ask a new connection.
  void confirm(const std::string& xid, const runtime::ExitStatus& status) {
    const std::string sql = status_query(xid);
    std::string state;
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto values = Server::tagged(server_->query(sql, "confirm the restore's COMMIT"), "dbsnap-status:");
      state = values.empty() ? "unknown" : values.front();
      if (state != "in progress") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (state == "committed") return;
    if (state == "aborted") {
      fail(ErrorKind::engine, "target '{}': COMMIT of the restore failed, {} is unchanged: {}", name(),
           server_->where(), failure_text(status));
    }
    fail(ErrorKind::engine,
         "target '{}': cannot tell whether the restore committed (transaction {} is '{}'); check {} before using it",
         name(), xid, state, server_->where());
  }

  std::unique_ptr<Server> server_;
  std::vector<std::string> revisions_;
  int version_ = 0;
  int lock_timeout_;
  ScriptScanner scanner_;
  std::unique_ptr<PsqlSession> psql_;
  std::unique_ptr<PsqlInput> input_;
  std::unique_ptr<ScriptGate> gate_;
};

// psql input that prints "dbsnap-rows:<schema.table in hex>:<rows>" for every
// ordinary table outside the system schemas (\gexec runs one count per table).
std::string count_rows_sql() {
  return "SELECT pg_catalog.format('SELECT %L || count(*) FROM ONLY %I.%I;', 'dbsnap-rows:' || "
         "pg_catalog.encode(pg_catalog.convert_to(n.nspname || '.' || c.relname, 'UTF8'), 'hex') || ':', "
         "n.nspname, c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
         "WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \\gexec\n";
}

// The rows count_rows_sql() printed.
store::TableRows parse_count_rows(std::string_view output) {
  store::TableRows rows;
  for (const auto& line : Server::tagged(output, "dbsnap-rows:")) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon % 2 != 0) continue;
    const auto count = util::parse_uint(std::string_view(line).substr(colon + 1));
    std::string table;
    for (std::size_t i = 0; i < colon && count; i += 2) {
      const int high = hex_value(line[i]);
      const int low = hex_value(line[i + 1]);
      if (high < 0 || low < 0) break;
      table += static_cast<char>(high * 16 + low);
    }
    if (count && table.size() * 2 == colon) rows[table] = *count;
  }
  return rows;
}

// A test restore (`verify --restore`) into a scratch database on the same
// server, dbsnap_test_<hash of the database's name>, created from template0
// with the database's encoding and locale. The dump loads in one transaction
// after the same prologue as a restore's, which commits (deferred
// constraints are checked); a second connection then reads the revision and
// counts each table's rows, and the scratch database is dropped. A killed
// run's scratch database is dropped by the next test restore of the target
// (when no session still uses it).
class PostgresTrial final : public TrialRestore {
 public:
  PostgresTrial(std::unique_ptr<Server> server, const store::Manifest& snapshot)
      : server_(std::move(server)),
        scratch_("dbsnap_test_" + util::short_hash(server_->database(), 16)),
        scanner_(server_->schema(), server_->table(), snapshot.id) {
    create_scratch();
    try {
      psql_ = std::make_unique<PsqlSession>(server_->runtime(), server_->psql("dbsnap-verify", scratch_),
                                            server_->secret());
      input_ = std::make_unique<PsqlInput>(*psql_, [this] { return stopped("psql stopped reading the dump"); });
      gate_ = std::make_unique<ScriptGate>(*input_, scanner_);
      auto sent = psql_->send("SELECT 'dbsnap-started:1';\n" + restore_prologue(default_lock_timeout));
      if (!sent || !psql_->wait_for_line("dbsnap-started:")) {
        fail(ErrorKind::engine, "target '{}': cannot start the test restore in {}: {}", name(), where(),
             stopped("psql stopped"));
      }
    } catch (...) {
      // No destructor runs for an object whose constructor threw: the scratch database goes here.
      discard();
      throw;
    }
  }

  ~PostgresTrial() override { discard(); }

  std::string where() const override {
    return fmt::format("scratch database '{}' in {}", scratch_, server_->runtime().where());
  }
  pipeline::Sink& input() override { return *gate_; }

  TrialResult finish() override {
    if (psql_->closed()) fail(ErrorKind::engine, "target '{}': {}", name(), stopped("psql had stopped"));
    if (!scanner_.refusal().empty()) fail(ErrorKind::engine, "target '{}': {}", name(), scanner_.refusal());
    if (!scanner_.at_top_level()) {
      fail(ErrorKind::engine, "target '{}': the dump ends inside a COPY block or function body", name());
    }
    // The prologue's renamed schemas go, then the load commits.
    auto sent = psql_->send("\nDO " + dollar_quote(drop_old_schemas_body()) +
                            ";\nCOMMIT;\nSELECT 'dbsnap-loaded:1';\n");
    if (!sent || !psql_->wait_for_line("dbsnap-loaded:")) {
      fail(ErrorKind::engine, "target '{}': {}", name(), stopped("loading the dump into " + where() + " failed"));
    }
    if (const auto status = close(); !status.ok()) {
      fail(ErrorKind::engine, "target '{}': loading the dump into {} failed: {}", name(), where(),
           failure_text(status));
    }
    const std::string version_table = quote_identifier(server_->schema()) + "." + quote_identifier(server_->table());
    const std::string sql = fmt::format(
        "SELECT pg_catalog.format('SELECT %L || version_num::text FROM %s;', 'dbsnap-rev:', c) "
        "FROM (SELECT pg_catalog.to_regclass({0}) AS c) s WHERE c IS NOT NULL \\gexec\n",
        quote_literal(version_table)) + count_rows_sql();
    auto r = runtime::run_in(server_->runtime(), server_->psql("dbsnap-verify", scratch_), server_->secret(), sql);
    if (!r.status.ok()) {
      fail(ErrorKind::engine, "target '{}': cannot read the test restore in {}: {}", name(), where(),
           describe_failure(r.err.empty() ? r.out : r.err));
    }
    TrialResult result;
    result.revisions = Server::tagged(r.out, "dbsnap-rev:");
    std::sort(result.revisions.begin(), result.revisions.end());
    result.revisions.erase(std::unique(result.revisions.begin(), result.revisions.end()), result.revisions.end());
    result.tables = parse_count_rows(r.out);
    drop_scratch();
    return result;
  }

 private:
  const std::string& name() const { return server_->target().name; }

  runtime::ExitStatus close() { return psql_->close_and_wait(); }
  std::string failure_text(const runtime::ExitStatus& status) const { return psql_->failure_text(status); }
  std::string stopped(std::string_view what) { return psql_->stopped(what); }

  // Ends psql (it rolls back) and drops the scratch database; never throws:
  // what cannot be dropped is said, and the next test restore drops it.
  void discard() noexcept {
    try {
      if (psql_ && !psql_->closed()) close();
      if (created_) drop_scratch();
    } catch (const std::exception& e) {
      fmt::print(stderr, "dbsnap: warning: target '{}': cannot drop the scratch database '{}' ({}); the next test "
                 "restore drops it\n", name(), scratch_, e.what());
    }
  }

  // Drops a leftover of a killed run, then creates the scratch database with
  // the target database's encoding and locale.
  void create_scratch() {
    const std::string probe = fmt::format(
        "SELECT 'dbsnap-version:' || pg_catalog.current_setting('server_version_num');\n"
        "SELECT 'dbsnap-create:' || pg_catalog.format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L "
        "LC_COLLATE %L LC_CTYPE %L;', {}, pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype) "
        "FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database();\n",
        quote_literal(scratch_));
    const std::string out = server_->query(probe, "prepare a test restore");
    const auto version = Server::tagged(out, "dbsnap-version:");
    const auto create = Server::tagged(out, "dbsnap-create:");
    if (version.empty() || create.empty()) {
      fail(ErrorKind::engine, "target '{}': cannot read the server's version and the database's encoding", name());
    }
    if (std::atoi(version.front().c_str()) < 100000) {
      fail(ErrorKind::engine, "target '{}': {} runs server_version_num {}; dbsnap needs PostgreSQL 10 or newer",
           name(), server_->where(), version.front());
    }
    drop_scratch();
    auto r = server_->run_script(create.front() + "\n");
    if (!r.status.ok()) {
      const std::string why = describe_failure(r.err.empty() ? r.out : r.err);
      if (why.find("permission denied") != std::string::npos) {
        fail(ErrorKind::engine, "target '{}': a test restore needs a scratch database on {} and user '{}' may not "
             "create one ({}); grant it CREATEDB (ALTER ROLE ... CREATEDB) or test as a user who may",
             name(), server_->runtime().where(), server_->user(), why);
      }
      fail(ErrorKind::engine, "target '{}': cannot create the scratch database '{}' for a test restore: {}", name(),
           scratch_, why);
    }
    created_ = true;
  }

  // Drops the scratch database. Never with FORCE: a session that still uses
  // it is another test restore's (a killed run's psql ends with its stdin),
  // so this waits a few seconds for sessions to end, then says so.
  void drop_scratch() {
    const std::string sql = fmt::format("DROP DATABASE IF EXISTS {};\n", quote_identifier(scratch_));
    for (int attempt = 0;; ++attempt) {
      auto r = server_->run_script(sql);
      if (r.status.ok()) break;
      const std::string why = describe_failure(r.err.empty() ? r.out : r.err);
      if (why.find("is being accessed by other users") != std::string::npos && attempt < 25) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      fail(ErrorKind::engine, "target '{}': cannot drop the scratch database '{}' (is another test restore of it "
           "running?): {}", name(), scratch_, why);
    }
    created_ = false;
  }

  std::unique_ptr<Server> server_;
  std::string scratch_;
  ScriptScanner scanner_;
  bool created_ = false;
  std::unique_ptr<PsqlSession> psql_;
  std::unique_ptr<PsqlInput> input_;
  std::unique_ptr<ScriptGate> gate_;
};

}  // namespace

const std::vector<config::KeySpec>& PostgresEngine::keys() const {
  static const std::vector<config::KeySpec> keys = [] {
    std::vector<config::KeySpec> k = {
        {"database", config::KeyType::string, true, "the database name"},
        {"user", config::KeyType::string, false, "the database user (default postgres)"},
        {"host", config::KeyType::string, false, "connect over TCP to this host (default: the unix socket)"},
        {"port", config::KeyType::integer, false, "the server's port (default 5432; also names the unix socket)"},
        {"schema", config::KeyType::string, false, "the schema of the version table (default public)"},
        {"lock_timeout", config::KeyType::integer, false,
         "seconds a restore waits for other sessions' locks before giving up (default 60)"},
    };
    k.insert(k.end(), runtime::credential_keys().begin(), runtime::credential_keys().end());
    return k;
  }();
  return keys;
}

bool PostgresEngine::exists(const config::Target& target, const WorkContext&) {
  Server server(target);
  server.runtime().check();
  auto result = server.run_script("SELECT 1;\n");
  if (result.status.ok()) return true;
  const std::string& err = result.err.empty() ? result.out : result.err;
  if (database_missing(err)) return false;
  fail(ErrorKind::engine, "target '{}': cannot connect to {}: {}", target.name, server.where(), describe_failure(err));
}

DumpInfo PostgresEngine::dump(const config::Target& target, pipeline::Sink& out, const WorkContext&) {
  Server server(target);
  server.runtime().check();
  ScriptScanner scanner(server.schema(), server.table());
  DumpTap tap(out, [&scanner](std::string_view line) { scanner.line(line, line.size() >= 4096); });
  std::vector<std::string> argv = {"pg_dump", "--no-owner", "--no-privileges"};
  auto c = server.connection("dbsnap");
  argv.insert(argv.end(), c.begin(), c.end());

  ToolRun run;
  try {
    run = stream_from(server.runtime(), argv, server.secret(), tap);
  } catch (const DbsnapError& e) {
    // docker exec prints "executable file not found" on stdout, i.e. into the dump.
    if (e.kind() == ErrorKind::runtime && tap.head().find("executable file not found") != std::string_view::npos) {
      fail(ErrorKind::runtime,
           "'pg_dump' is not installed in {}; install the PostgreSQL client there or point the target at the "
           "database's own container",
           server.runtime().where());
    }
    throw;
  }
  if (!run.status.ok()) {
    std::string why = describe_failure(run.stderr_text);
    if (why.empty()) why = run.status.code == 137 ? "it was killed" : "no message on stderr";
    fail(ErrorKind::engine, "target '{}': pg_dump of {} failed ({}): {}", target.name,
         server.where(), run.status.describe(), why);
  }
  if (auto why = incomplete_dump(tap.head(), tap.tail()); !why.empty()) {
    fail(ErrorKind::engine, "target '{}': the dump of {} is incomplete: {}", target.name,
         server.where(), why);
  }
  if (!scanner.problem().empty()) {
    fail(ErrorKind::engine, "target '{}': cannot read the revision from the dump: {}",
         target.name, scanner.problem());
  }
  if (!scanner.refusal().empty()) {
    fmt::print(stderr, "dbsnap: warning: target '{}': {}\n", target.name, scanner.refusal());
  }
  DumpInfo info;
  info.revisions = scanner.revisions();
  info.tables = scanner.tables();
  const std::string by = header_version(tap.head(), "pg_dump");
  info.tool_version = by.empty() ? "pg_dump" : "pg_dump (PostgreSQL) " + by;
  info.server_version = header_version(tap.head(), "database");
  info.source = server.where();
  return info;
}

std::vector<std::string> PostgresEngine::read_revisions(const config::Target& target, const WorkContext&) {
  Server server(target);
  server.runtime().check();
  const std::string qualified = quote_identifier(server.schema()) + "." + quote_identifier(server.table());
  const std::string sql = fmt::format(
      "SELECT pg_catalog.to_regclass({}) IS NOT NULL AS dbsnap_versioned \\gset\n"
      "\\if :dbsnap_versioned\n"
      "SELECT 'dbsnap-rev:' || version_num FROM {};\n"
      "\\endif\n",
      quote_literal(qualified), qualified);
  auto values = Server::tagged(server.query(sql, "read the revision"), "dbsnap-rev:");
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::unique_ptr<RestoreSession> PostgresEngine::begin_restore(const config::Target& target,
                                                              const store::Manifest& snapshot, const WorkContext&) {
  auto server = std::make_unique<Server>(target);
  const std::int64_t lock_timeout = target.integer("lock_timeout", default_lock_timeout);
  if (lock_timeout < 1 || lock_timeout > 86400) {
    fail(ErrorKind::config, "target '{}': lock_timeout must be between 1 and 86400 seconds", target.name);
  }
  server->runtime().check();
  return std::make_unique<PostgresRestore>(std::move(server), snapshot, static_cast<int>(lock_timeout));
}

std::unique_ptr<TrialRestore> PostgresEngine::begin_trial_restore(const config::Target& target,
                                                                  const store::Manifest& snapshot,
                                                                  const WorkContext&) {
  auto server = std::make_unique<Server>(target);
  server->runtime().check();
  return std::make_unique<PostgresTrial>(std::move(server), snapshot);
}

std::vector<Check> PostgresEngine::diagnose(const config::Target& target, const WorkContext&) {
  std::vector<Check> checks;
  try {
    Server server(target);
    server.runtime().check();
    for (const char* tool : {"pg_dump", "psql"}) {
      auto result = runtime::run_in(server.runtime(), {tool, "--version"}, {});
      if (!result.status.ok()) {
        checks.push_back({Check::Level::fail, tool, describe_failure(result.err + result.out),
                          "install the PostgreSQL client tools in the container"});
        return checks;
      }
      checks.push_back({Check::Level::ok, tool, std::string(util::trim(result.out)), ""});
    }
    auto result = server.run_script(
        "SELECT 'dbsnap-login:' || current_user || ' on PostgreSQL ' || pg_catalog.current_setting('server_version');\n"
        "SELECT 'dbsnap-rights:' || (r.rolsuper OR d.datdba = r.oid OR pg_catalog.pg_has_role(d.datdba, 'MEMBER'))::text"
        " FROM pg_catalog.pg_roles r, pg_catalog.pg_database d"
        " WHERE r.rolname = current_user AND d.datname = pg_catalog.current_database();\n"
        "SELECT 'dbsnap-lo:' || count(*) FROM pg_catalog.pg_largeobject_metadata;\n");
    const std::string& err = result.err.empty() ? result.out : result.err;
    if (!result.status.ok() && database_missing(err)) {
      checks.push_back({Check::Level::fail, "database", fmt::format("'{}' does not exist", server.database()),
                        "create it, or fix 'database' in dbsnap.toml"});
      return checks;
    }
    if (!result.status.ok()) {
      checks.push_back({Check::Level::fail, "login", describe_failure(err),
                        "check user, host/port and password_env/password_from_container"});
      return checks;
    }
    auto value = [&](std::string_view tag) {
      auto values = Server::tagged(result.out, tag);
      return values.empty() ? std::string() : values.front();
    };
    checks.push_back({Check::Level::ok, "login", value("dbsnap-login:"), ""});
    checks.push_back({Check::Level::ok, "database", fmt::format("'{}' exists", server.database()), ""});
    if (value("dbsnap-rights:") != "true") {
      checks.push_back({Check::Level::warn, "rights", "the user is neither a superuser nor the database owner",
                        "restores replace every schema: connect as the database owner or a superuser"});
    }
    if (const std::string los = value("dbsnap-lo:"); !los.empty() && los != "0") {
      checks.push_back({Check::Level::warn, "large objects", fmt::format("the database holds {} large objects", los),
                        "pg_dump writes them in a transaction of their own: dbsnap cannot restore such dumps "
                        "all-or-nothing; keep binary data in bytea columns"});
    }
  } catch (const DbsnapError& e) {
    checks.push_back({Check::Level::fail, "login", e.what(), "check the target in dbsnap.toml"});
  }
  return checks;
}

store::TableRows PostgresEngine::count_rows(const config::Target& target, const WorkContext&) {
  Server server(target);
  server.runtime().check();
  return parse_count_rows(server.query(count_rows_sql(), "count the rows"));
}

std::optional<std::uint64_t> PostgresEngine::size_bytes(const config::Target& target, const WorkContext&) {
  try {
    Server server(target);
    auto values = Server::tagged(
        server.query("SELECT 'dbsnap-size:' || pg_catalog.pg_database_size(pg_catalog.current_database());\n",
                     "measure the database"),
        "dbsnap-size:");
    if (!values.empty()) return std::stoull(values.front());
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string PostgresEngine::data_directory(const config::Target& target, const WorkContext&) {
  try {
    Server server(target);
    auto values = Server::tagged(
        server.query("SELECT 'dbsnap-dir:' || pg_catalog.current_setting('data_directory');\n",
                     "ask for the data directory"),
        "dbsnap-dir:");
    if (!values.empty()) {
      std::string dir = values.front();
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      return dir;
    }
  } catch (const std::exception&) {
  }
  return {};
}

}  // namespace dbsnap::engine

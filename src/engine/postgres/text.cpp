#include "dbsnap/engine/postgres/text.hpp"

#include <algorithm>
#include <cstring>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

namespace {

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
    if (auto control = util::control_escape(e)) {
      out += *control;
      continue;
    }
    switch (e) {
      case 'x': {
        int value = 0, digits = 0;
        while (digits < 2 && i + 1 < field.size() && util::hex_value(field[i + 1]) >= 0) {
          value = value * 16 + util::hex_value(field[++i]);
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

std::vector<std::string> tagged(std::string_view output, std::string_view prefix) {
  std::vector<std::string> values;
  while (!output.empty()) {
    auto newline = output.find('\n');
    auto line = output.substr(0, newline);
    output.remove_prefix(newline == std::string_view::npos ? output.size() : newline + 1);
    if (line.starts_with(prefix)) values.emplace_back(line.substr(prefix.size()));
  }
  return values;
}

}  // namespace dbsnap::engine::postgres

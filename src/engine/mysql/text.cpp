#include "dbsnap/engine/mysql/text.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::mysql {

namespace {

constexpr std::size_t max_identifier = 64;

using util::short_hash;

// The longest prefix of `name` of at most `max_chars` characters, cut at a
// UTF-8 character boundary (MySQL counts identifier length in characters).
std::string_view utf8_prefix(std::string_view name, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if ((c & 0xC0) != 0x80) {
      if (chars == max_chars) return name.substr(0, i);
      ++chars;
    }
  }
  return name;
}

std::string with_suffix(std::string_view database, std::string_view kind) {
  const std::string suffix = fmt::format("_dbsnap_{}_{}", kind, short_hash(database, 8));
  return std::string(utf8_prefix(database, max_identifier - suffix.size())) + suffix;
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  return out + "`";
}

std::string quote_string(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    switch (c) {
      case '\'': out += "''"; break;
      case '\\': out += "\\\\"; break;
      case '\0': out += "\\0"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\x1a': out += "\\Z"; break;
      default: out += c;
    }
  }
  return out + "'";
}

std::vector<std::vector<std::string>> parse_batch(std::string_view output) {
  std::vector<std::vector<std::string>> rows;
  while (!output.empty()) {
    auto newline = output.find('\n');
    std::string_view line = output.substr(0, newline);
    output.remove_prefix(newline == std::string_view::npos ? output.size() : newline + 1);
    std::vector<std::string> row(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '\t') {
        row.emplace_back();
      } else if (c == '\\' && i + 1 < line.size()) {
        char e = line[++i];
        switch (e) {
          case 't': row.back() += '\t'; break;
          case 'n': row.back() += '\n'; break;
          case '0': row.back() += '\0'; break;
          default: row.back() += e;  // \\ and anything else: the character itself
        }
      } else {
        row.back() += c;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool is_oracle(std::string_view version) {
  return version.find("MariaDB") == std::string_view::npos && version.find("mariadb") == std::string_view::npos;
}

std::vector<std::string> dump_flags(std::string_view tool_version) {
  std::vector<std::string> flags = {"--single-transaction",
                                    "--quick",
                                    "--routines",
                                    "--triggers",
                                    "--events",
                                    "--hex-blob",
                                    "--default-character-set=utf8mb4",
                                    "--no-tablespaces",
                                    "--max-allowed-packet=1G"};
  if (is_oracle(tool_version)) flags.push_back("--set-gtid-purged=OFF");
  return flags;
}

std::string shadow_schema(std::string_view database) { return with_suffix(database, "shadow"); }
std::string old_schema(std::string_view database) { return with_suffix(database, "old"); }
std::string lock_name(std::string_view database) { return "dbsnap-restore-" + short_hash(database, 16); }

bool client_has_sandbox(std::string_view version) {
  const auto at = version.find("-MariaDB");
  if (at == std::string_view::npos) return false;
  auto start = version.rfind(' ', at);
  start = start == std::string_view::npos ? 0 : start + 1;
  int major = 0, minor = 0, patch = 0;
  if (std::sscanf(std::string(version.substr(start, at - start)).c_str(), "%d.%d.%d", &major, &minor, &patch) != 3) {
    return false;
  }
  struct Fixed { int major, minor, patch; };
  constexpr Fixed fixed[] = {{10, 5, 25}, {10, 6, 18}, {10, 11, 8}, {11, 0, 6}, {11, 1, 5}, {11, 2, 4}, {11, 4, 2}};
  if (major > 11 || (major == 11 && minor > 4)) return true;
  for (const auto& f : fixed) {
    if (f.major == major && f.minor == minor) return patch >= f.patch;
  }
  return false;
}

std::optional<int> error_code(std::string_view stderr_text) {
  for (std::string_view marker : {"ERROR ", "Got error: "}) {
    auto pos = stderr_text.rfind(marker);
    if (pos == std::string_view::npos) continue;
    std::string_view rest = stderr_text.substr(pos + marker.size());
    int code = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), code);
    if (ec == std::errc() && end != rest.data()) return code;
  }
  return std::nullopt;
}

std::string qualified(std::string_view schema, std::string_view name) {
  return quote_identifier(schema) + "." + quote_identifier(name);
}

}  // namespace dbsnap::engine::mysql

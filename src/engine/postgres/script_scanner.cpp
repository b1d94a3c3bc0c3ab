#include "dbsnap/engine/postgres/script_scanner.hpp"

#include <cctype>

#include "dbsnap/engine/postgres/text.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::engine::postgres {

namespace {

bool is_tag_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

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

}  // namespace

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

}  // namespace dbsnap::engine::postgres

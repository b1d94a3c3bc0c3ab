#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/store/manifest.hpp"

namespace dbsnap::engine::postgres {

// Reads a plain pg_dump script one line at a time (as DumpTap hands it over,
// or the restore's input gate): follows COPY data blocks and dollar-quoted
// function bodies, collects the version table's rows from its COPY block,
// and notes the first top-level line that cannot run inside dbsnap's restore
// transaction (BEGIN;/COMMIT;/ROLLBACK;, large objects, psql meta-commands
// other than \restrict and \unrestrict).
class ScriptScanner {
 public:
  // `snapshot` names the snapshot in the refusal's "dbsnap cat ID | psql" hint.
  ScriptScanner(std::string schema, std::string table, std::string snapshot = "ID");
  ScriptScanner(const ScriptScanner&) = delete;  // copy_rows_ points into rows_
  ScriptScanner& operator=(const ScriptScanner&) = delete;
  ScriptScanner(ScriptScanner&&) = default;  // a moved map keeps its nodes
  ScriptScanner& operator=(ScriptScanner&&) = default;
  // One line without its newline; `cut` when it was longer than what was kept.
  void line(std::string_view line, bool cut = false);
  // True outside COPY data and function bodies (where a line is a statement).
  bool at_top_level() const noexcept { return !in_copy_ && body_tag_.empty(); }
  // True inside a COPY data block.
  bool in_copy() const noexcept { return in_copy_; }
  // The version table's rows: sorted, without duplicates.
  std::vector<std::string> revisions() const { return {revisions_.begin(), revisions_.end()}; }
  // Why the script cannot be restored all-or-nothing; empty when it can.
  const std::string& refusal() const noexcept { return refusal_; }
  // Set when a version table row could not be read.
  const std::string& problem() const noexcept { return problem_; }
  std::uint64_t lines() const noexcept { return lines_; }
  // Rows per "schema.table", one per line of its COPY block; nullopt when a
  // COPY header could not be read or the script ends inside a block.
  std::optional<store::TableRows> tables() const {
    if (rows_broken_ || in_copy_) return std::nullopt;
    return rows_;
  }

 private:
  std::string schema_;
  std::string table_;
  std::string snapshot_;
  bool in_copy_ = false;
  int version_column_ = -1;  // the version_num field while in the version table's COPY block
  std::string body_tag_;     // the closing $tag$ while inside a function body
  std::set<std::string> revisions_;
  std::string refusal_;
  std::string problem_;
  std::uint64_t lines_ = 0;
  store::TableRows rows_;
  std::uint64_t* copy_rows_ = nullptr;  // the count of the COPY block being read
  bool rows_broken_ = false;
};

}  // namespace dbsnap::engine::postgres

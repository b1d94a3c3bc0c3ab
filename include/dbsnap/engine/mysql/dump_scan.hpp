#pragma once

// Readers of a mysqldump/mariadb-dump script as it streams into the store
// (DumpTap's line handler): the Alembic revisions from the dump's own
// consistent view, the tables outside InnoDB, and the header and trailer
// that say the dump is complete.

#include <string>
#include <string_view>
#include <vector>

namespace dbsnap::engine::mysql {

// Reads the Alembic revisions out of a dump, one line at a time (DumpTap's
// line handler): the rows of `INSERT INTO `table` VALUES (...),(...);`, in
// either layout (all rows on one line, or MariaDB's one row per line).
// Lines inside DELIMITER blocks (routine and trigger bodies) are ignored.
class RevisionScanner {
 public:
  explicit RevisionScanner(std::string table);
  void line(std::string_view line);
  // Sorted, without duplicates; empty when the dump has no rows for the table.
  std::vector<std::string> revisions() const;
  // Set when a row could not be read (a line cut at DumpTap's 4 KiB).
  const std::string& problem() const noexcept { return problem_; }

 private:
  void rows(std::string_view text);
  std::string prefix_;
  bool in_insert_ = false;
  bool in_delimiter_block_ = false;
  std::vector<std::string> revisions_;
  std::string problem_;
};

// Notes the tables a dump creates with a storage engine other than InnoDB
// (DumpTap's line handler): --single-transaction gives no consistent view of
// those when they are written during the backup.
class EngineScanner {
 public:
  void line(std::string_view line);
  // "name (MyISAM)", in dump order.
  const std::vector<std::string>& non_transactional() const noexcept { return found_; }

 private:
  std::string table_;
  bool stand_in_ = false;
  std::vector<std::string> found_;
};

// What `Server version` in a dump's header says, or empty.
std::string server_version_from_header(std::string_view head);

// A dump is complete when the tool exited 0, the header names the tool and
// the last non-empty line is the trailer. Returns what is wrong, or empty.
std::string incomplete_dump(std::string_view head, std::string_view tail);

}  // namespace dbsnap::engine::mysql

#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/util/error.hpp"

namespace dbsnap::alembic {

// One Alembic revision script, as read from its top-level literals.
struct Revision {
  std::string id;
  std::vector<std::string> down_revisions;  // empty = base; 2+ = merge
  std::vector<std::string> branch_labels;
  std::vector<std::string> depends_on;
  std::string message;      // the docstring's first line
  std::string create_date;  // from the docstring's "Create Date:" line; may be empty
  std::filesystem::path file;
};

// Reads a revision script's top-level `revision`, `down_revision`,
// `branch_labels` and `depends_on` assignments (annotated or not) as Python
// literals, plus its module docstring; nothing in the file is executed.
// Returns the revision, or an Error whose kind is ErrorKind::not_found when
// the source has no top-level `revision` assignment (not a revision file), or
// ErrorKind::config with "file:line: ..." when it is a revision file that
// cannot be read: a syntax error the reader understands, a value that is not
// a string/None/tuple or list of strings, a missing `down_revision`, or an id
// Alembic itself refuses (empty, containing '@', '-' or '+', or revising
// itself).
Expected<Revision> parse_revision_file(std::string_view source, const std::filesystem::path& file);

// Reads every `*.py` file directly in `versions_dir` (not `__init__*`, not
// editor lock files `.#*`), skipping files that are not revision files.
// Returns the revisions sorted by file name, or an Error: ErrorKind::config
// when the folder is missing, a revision file is malformed (naming it) or
// two files declare the same id (naming both); ErrorKind::failure when a
// file cannot be read.
Expected<std::vector<Revision>> load_revisions(const std::filesystem::path& versions_dir);

}  // namespace dbsnap::alembic

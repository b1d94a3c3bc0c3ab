#pragma once

#include <string>
#include <string_view>

#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::store {

// A new snapshot id: 9 characters of Crockford base32 milliseconds since the
// epoch followed by 4 random ones, lowercase ("0c4x1m7qe-" style without the
// dash: 13 characters). Ids sort as text in creation order, are safe as file
// names on every file system, and collide only for two snapshots made in the
// same millisecond with the same 20 random bits.
std::string new_snapshot_id(util::TimePoint now);

// True for strings that new_snapshot_id could have produced.
bool is_valid_snapshot_id(std::string_view id);

// True for names usable as a target name (and so as a folder name in the
// store): 1-64 characters of [A-Za-z0-9_.-], not starting with a dot.
bool is_valid_target_name(std::string_view name);

// True for the blob file name a snapshot with this id may have:
// "<id>.<kind>.zst" with a kind of 1-16 characters of [a-z0-9]. Anything else
// (another id, a path, "..") could name a file outside the snapshot.
bool is_valid_blob_file_name(std::string_view file, std::string_view id);

// What a snapshot reference on the command line names.
struct SnapshotReference {
  enum class Kind { latest, revision, id_prefix };
  Kind kind = Kind::id_prefix;
  std::string value;  // the revision after '@' (taken literally), or the id prefix in lower case
};

// Parses a snapshot reference, surrounding blanks ignored: "latest", "@REV"
// (any text, looked up literally), or an id or id prefix (1-13 characters of
// the id alphabet, any case). Anything else (empty, a bare '@', '/', "..",
// blanks, other characters) is an ErrorKind::usage error saying what a
// reference may be: it could never name a snapshot.
Expected<SnapshotReference> parse_snapshot_reference(std::string_view text);

}  // namespace dbsnap::store

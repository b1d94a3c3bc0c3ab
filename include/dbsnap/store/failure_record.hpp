#pragma once

// The last failed backup of a target on this host, for `dbsnap metrics`
// (dbsnap_last_backup_failure_timestamp_seconds) and whoever looks:
// `.locks/<target>/last-failure` in the store's local folder (a remote
// store's cache), key=value lines (FORMAT.md, "Locks"). Written by a backup
// that fails; a later success leaves it (monitoring compares its time with
// the last backup's).

#include <filesystem>
#include <optional>
#include <string>

#include "dbsnap/util/error.hpp"

namespace dbsnap::store {

struct FailureRecord {
  std::string at;  // RFC 3339 UTC
  int exit_code = 1;
  std::string message;  // the error's line
};

// Replaces the target's record atomically. Errors: the file system's.
Expected<void> write_failure_record(const std::filesystem::path& store_root, const std::string& target,
                                    const FailureRecord& record);
// The target's record, or nullopt when there is none (or it does not read).
std::optional<FailureRecord> read_failure_record(const std::filesystem::path& store_root, const std::string& target);

}  // namespace dbsnap::store

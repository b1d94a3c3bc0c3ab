#pragma once

// The record of a move in progress (FORMAT.md: Move records). A guarded
// migration (upgrade, rollback: core/guard) changes a target in steps: a
// protecting snapshot, maybe a restore, the migration, a check. If dbsnap is
// killed -9 between the first and the last, nothing of it runs again to put
// the database back, so before the first change it publishes
// <store>/.locks/<target>/move naming the protecting snapshot, and removes it
// once the move is over (done, or undone). A record that is still there when
// the next dbsnap takes the target's lock was left by a process that died
// mid-move: that run says so and names the snapshot that puts the target back.

#include <filesystem>
#include <optional>
#include <string>

#include "dbsnap/util/error.hpp"

namespace dbsnap::store {

struct MoveRecord {
  int pid = 0;                  // the dbsnap process that moved the target
  std::string what;             // "upgrade", "downgrade"
  std::string to;               // the revision it was going to ("" when any)
  std::string safety_snapshot;  // the snapshot that holds the target as it was before the move
  std::string since;            // when the move started, RFC 3339 UTC
};

// Publishes the record of `target`'s move (atomically: a temp file fsynced and
// renamed, the folder fsynced), replacing any older one. Errors: `failure` for
// I/O, `config` for a target name unusable as a folder.
Expected<void> write_move_record(const std::filesystem::path& store_root, const std::string& target,
                                 const MoveRecord& record);

// The record of `target`'s move, or std::nullopt when there is none (or it
// cannot be read: a torn record cannot exist, since it is renamed into place).
std::optional<MoveRecord> read_move_record(const std::filesystem::path& store_root, const std::string& target);

// Removes the record, if any, and fsyncs the folder. Errors: `failure` for I/O.
Expected<void> clear_move_record(const std::filesystem::path& store_root, const std::string& target);

// One line saying that a move of `target` did not finish and how to put it back.
std::string describe_unfinished_move(const std::string& target, const MoveRecord& record);

}  // namespace dbsnap::store

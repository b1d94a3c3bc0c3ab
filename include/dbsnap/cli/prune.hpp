#pragma once

// Applying a retention policy (store/retention) to one target's snapshots:
// what `prune` does, and what a backup does afterwards when the target sets
// keep_* keys.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dbsnap/cli/context.hpp"
#include "dbsnap/store/retention.hpp"

namespace dbsnap::cli {

enum class PruneRun { remove, dry_run };

struct PruneResult {
  nlohmann::json removed = nlohmann::json::array();  // references (+ stored_bytes), newest first
  nlohmann::json kept = nlohmann::json::array();     // references (+ stored_bytes, reasons), newest first
  std::uint64_t freed = 0;                           // blob bytes removed (+ what collection freed)
  nlohmann::json reclaimed = nullptr;                // reclaim_space()'s report; null in a dry run
};

// Removes the snapshots of `target` the policy does not keep (none in a dry
// run), then gives back their chunks' space (after a backup, only when it
// removed something). Throws DbsnapError: `usage` for
// a bad keep_within, what the store throws.
// `just_taken` (a backup's new snapshot) is always kept.
PruneResult apply_retention(Context& context, const std::string& target, const store::RetentionPolicy& policy,
                            PruneRun run, store::LastOfRevision last_of_revision, const std::string& just_taken = {});

}  // namespace dbsnap::cli

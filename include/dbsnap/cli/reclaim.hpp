#pragma once

// Giving back the space of deleted snapshots' chunks: what `delete` and
// `prune` run after they removed snapshots (store/repo/gc.hpp does the work).

#include <nlohmann/json.hpp>

#include "dbsnap/cli/context.hpp"

namespace dbsnap::cli {

// Runs the store's garbage collection when its repository holds packs, and
// says what it did on stderr (unless --quiet). Returns the same as JSON for
// --json output (FORMAT.md, `prune`): null when the repository holds no
// packs, else the figures, with "collected" false when a backup or restore
// was using the repository (the next delete or prune collects) or when
// collection failed (a warning says why; the deletions stand). Throws
// DbsnapError only for an interruption or when the store cannot be read.
nlohmann::json reclaim_space(Context& context);

}  // namespace dbsnap::cli

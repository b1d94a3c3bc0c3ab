#pragma once

#include <memory>

#include "dbsnap/engine/engine.hpp"

namespace dbsnap::engine::sqlite {

// A restore into a database file on this host: the verified snapshot is
// written to a temp file beside it, checked with PRAGMA integrity_check and
// copied into the live file with the backup API, in one write transaction
// whose last step is the commit point. Throws an `engine` error when the
// file's folder does not exist.
std::unique_ptr<RestoreSession> start_file_restore(const config::Target& target);

// A test restore: the snapshot (a database file) is written to a private temp
// file in the store's scratch folder and opened there with this host's SQLite,
// whether the target's file is on this host or in a container (which is never
// touched). The temp file is flocked, so the next open of the store removes
// it when a killed run left it.
std::unique_ptr<TrialRestore> start_trial(const config::Target& target, const WorkContext& context);

}  // namespace dbsnap::engine::sqlite

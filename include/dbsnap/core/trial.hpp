#pragma once

// Test restores (`dbsnap verify --restore`): proof that a snapshot restores.
//
// The snapshot's dump is streamed, checked as a restore checks it (stored
// SHA-256, zstd frame checksums, the decoded size and SHA-256), into a
// scratch copy beside the target's database that the engine makes
// (engine::TrialRestore: a scratch schema, a scratch database, a temp file).
// The engine then reads the copy back: its Alembic revision set must be the
// snapshot's, and every table the manifest counted at backup time
// (Manifest::tables) must hold exactly that many rows. The scratch copy is
// removed whatever happens; the target's own database is never written.

#include <cstdint>
#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/store/manifest.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

// What a test restore showed.
struct TrialOutcome {
  bool ok = false;
  std::string problem;  // why not, when !ok: the first difference, or why the load failed
  bool damaged = false;  // the stored bytes failed their checksums (the snapshot is damaged)
  std::string where;     // the scratch copy, for messages
  std::vector<std::string> revisions;  // what the scratch copy held
  bool rows_recorded = false;          // false: the manifest has no row counts (an older snapshot)
  std::size_t tables = 0;              // tables whose row count was compared (all matched when ok)
  std::uint64_t rows = 0;              // their rows
};

// Compares what a scratch copy holds with its manifest: the revision set,
// then each counted table's rows (tables the copy has beyond the manifest's,
// such as sequences, are not compared). Returns the first difference, or
// empty. Pure: the unit tests drive it.
std::string trial_difference(const store::Manifest& manifest, const std::vector<std::string>& revisions,
                             const store::TableRows& tables);

// Test-restores `manifest` into a scratch copy beside `target`'s database
// and compares it with the manifest (trial_difference). A load that fails, a
// difference or damaged bytes are the outcome, not exceptions. Throws
// DbsnapError when there is nothing to judge the snapshot by: the scratch
// copy cannot be made (a one-line reason), the server cannot be reached, the
// run was interrupted, or the snapshot's engine is not the target's.
TrialOutcome test_restore(store::Store& store, const config::Target& target, const store::Manifest& manifest,
                          pipeline::Progress* progress = nullptr);

}  // namespace dbsnap::core

#include "dbsnap/core/trial.hpp"

#include <algorithm>

#include "dbsnap/core/operations.hpp"
#include "dbsnap/engine/engine.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::core {

std::string trial_difference(const store::Manifest& manifest, const std::vector<std::string>& revisions,
                             const store::TableRows& tables) {
  auto wanted = manifest.revisions;
  std::sort(wanted.begin(), wanted.end());
  if (revisions != wanted) {
    return fmt::format("the restored copy holds revision {}, the snapshot recorded {}", util::revision_text(revisions),
                       util::revision_text(wanted));
  }
  if (!manifest.tables) return {};
  std::vector<std::string> missing;
  for (const auto& [table, rows] : *manifest.tables) {
    auto it = tables.find(table);
    if (it == tables.end()) {
      missing.push_back(table);
    } else if (it->second != rows) {
      return fmt::format("table '{}' holds {} rows in the restored copy, the backup counted {}", util::displayable_name(table),
                         it->second, rows);
    }
  }
  if (!missing.empty()) {
    for (auto& name : missing) name = util::displayable_name(name);
    return fmt::format("the restored copy lacks table{} {} (counted at backup time)", missing.size() == 1 ? "" : "s",
                       util::join(missing, ", "));
  }
  return {};
}

TrialOutcome test_restore(store::Store& store, const config::Target& target, const store::Manifest& m,
                          pipeline::Progress* progress) {
  engine::Engine& engine = engine::engine_for(target);
  if (engine.name() != m.engine) {
    fail(ErrorKind::usage, "snapshot {} is a {} dump; target '{}' is {}", m.id, m.engine, target.name, engine.name());
  }
  TrialOutcome outcome;
  auto trial = engine.begin_trial_restore(target, m, work_context(store));
  outcome.where = trial->where();
  engine::TrialResult result;
  try {
    // The stream is checked as it flows (stored and decoded SHA-256, zstd's
    // frame checksums): the snapshot is read once.
    stream_snapshot(store, m, trial->input(), RawCheck::sha256, progress);
    util::check_interrupted();
    result = trial->finish();
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted || e.kind() == ErrorKind::runtime) throw;
    outcome.problem = e.what();
    outcome.damaged = e.kind() == ErrorKind::corrupt;
    // Damaged bytes can make the load fail before the stream's checks see
    // the end: as restore_snapshot does, name the damage, not the symptom.
    if (!outcome.damaged) {
      if (auto stored = check_stored(store, m); !stored.ok) {
        outcome.problem = stored.problem;
        outcome.damaged = true;
      }
    }
    return outcome;
  }
  outcome.revisions = result.revisions;
  outcome.problem = trial_difference(m, result.revisions, result.tables);
  outcome.ok = outcome.problem.empty();
  outcome.rows_recorded = m.tables.has_value();
  if (m.tables) {
    outcome.tables = m.tables->size();
    for (const auto& [table, rows] : *m.tables) outcome.rows += rows;
  }
  return outcome;
}

}  // namespace dbsnap::core

#pragma once

// Revision travel: the ways to bring a target to an Alembic revision, weighed
// before anything runs. A plan lists every path `rollback` can take (downgrade
// or upgrade the live database; restore a snapshot at the revision; restore a
// snapshot at a later revision and downgrade it; restore one at an earlier
// revision and upgrade it), each with the snapshot it starts from, the
// migration steps it runs (from the migrations folder's revision graph,
// through merges where Alembic lands on exactly the revision, refused where it
// would not), what it loses, or why it cannot run. The default is the path
// that keeps the most: a live migration keeps every row written since any
// snapshot (a downgrade loses what its steps drop); otherwise the path whose
// snapshot is newest, since a restore loses what was written after it.
// `rollback --dry-run` prints the plan; a real run executes the chosen path
// through core/guard, whose protecting snapshot and move record
// (store/move_record) make it one all-or-nothing move.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dbsnap/alembic/history.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

enum class Via { downgrade, upgrade, restore, restore_downgrade, restore_upgrade };

// "downgrade", "upgrade", "restore", "restore-downgrade", "restore-upgrade".
std::string_view via_name(Via via);
// The Via a --via value names; std::nullopt for anything else.
std::optional<Via> parse_via(std::string_view name);

// How much a candidate snapshot is checked before it may start a move.
enum class Check {
  whole,    // read whole (every chunk hashed): what a move runs from, and what a dry run shows
  catalog,  // only what the catalog says (not damaged): for comparing candidates before reading one
};

// Which snapshots may start a move.
struct Candidates {
  store::AutomaticSnapshots automatic = store::AutomaticSnapshots::exclude;  // ones dbsnap took itself
  Check check = Check::whole;
  const std::set<std::string>* rejected = nullptr;  // ids already found not whole
  std::set<std::string>* reported = nullptr;        // ids already said to be damaged (said once); null: say each time
};

// Whether snapshot `m` may start a move: not one dbsnap took itself (unless
// `candidates.automatic` includes them), not rejected, not marked damaged,
// and (Check::whole) whole now; what it skips after reading, and why, is
// said on stderr.
bool usable_start(store::Store& store, const store::Manifest& m, const Candidates& candidates);

// The newest usable snapshot of `target` taken at exactly `revision`.
std::optional<store::Manifest> newest_usable_at(store::Store& store, const std::string& target,
                                                const std::string& revision, const Candidates& candidates);

enum class Relation { descendant, ancestor };

// A snapshot a move can start from, and the migrations it then runs.
struct StartPoint {
  store::Manifest snapshot;
  std::vector<std::string> steps;  // undone (from a descendant) or applied (from an ancestor), in order
};

// The newest usable snapshot of `target` taken at one revision that is a
// descendant (or an ancestor) of `revision` in `history` and from which
// `history` gives the steps to `revision` (Alembic lands exactly there). When
// none, std::nullopt, and `refused` says why the newest related one could not
// start (a downgrade that would leave a merged branch applied), if that is why.
std::optional<StartPoint> newest_start(store::Store& store, const std::string& target, const alembic::History& history,
                                       const std::string& revision, Relation relation, const Candidates& candidates,
                                       std::string& refused);

struct TravelPath {
  Via via = Via::restore;
  std::optional<store::Manifest> snapshot;  // restored first (every via but downgrade)
  std::vector<std::string> steps;           // the migrations run, in order: undone (down) or applied (up)
  bool steps_known = false;                 // false when the migrations folder could not say
  std::string unavailable;                  // why this path cannot run; empty when it can
  bool weighed = true;                      // false: skipped (Weigh::until_chosen), nothing above is known
};

struct TravelPlan {
  std::vector<std::string> from;  // the database's revisions now (empty: none or unreadable)
  std::string to;
  std::vector<TravelPath> paths;  // in the order of Via
  std::optional<Via> chosen;      // std::nullopt when no path can run
  std::string why;                // why that one (or why none)
};

// Whether a plan weighs every path (for showing it) or stops at the one it
// chooses (for running it: every snapshot weighed is read whole).
enum class Weigh { all, until_chosen };

struct TravelRequest {
  std::string target;
  std::vector<std::string> current;           // the database's revisions now
  std::string to;                             // the full revision id to reach
  const alembic::History* history = nullptr;  // nullptr when the migrations folder cannot be read
  std::string history_problem;                // and why
  bool can_downgrade = false;                 // a downgrade command is known (configured or given)
  bool can_upgrade = false;                   // an upgrade command is known
  std::optional<Via> asked;                   // --via: this path, or an error saying why it cannot run
  store::AutomaticSnapshots automatic = store::AutomaticSnapshots::exclude;
  Weigh weigh = Weigh::all;
};

// Weighs the paths and chooses: the asked one; else a live migration (it
// loses nothing written since a snapshot); else the restoring path whose
// snapshot is newest (it loses the least; ties go to the order of Via). With
// Weigh::all every snapshot shown is read whole; with Weigh::until_chosen the
// candidates are compared from the catalog and only the one chosen is read
// (one that is not whole is set aside and the choice made again). Throws only
// what reading the store throws.
TravelPlan plan_travel(store::Store& store, const TravelRequest& request);

// A table whose row count differs between the live database and a snapshot:
// what restoring the snapshot changes that a count can see (a row updated
// since is lost too, unseen). A table one side lacks has nullopt there.
struct RowDifference {
  std::string table;
  std::optional<std::uint64_t> now;
  std::optional<std::uint64_t> snapshot;
};

// The tables of `now` and `snapshot` whose counts differ, by name, and how
// many are the same on both sides.
struct RowDifferences {
  std::vector<RowDifference> tables;
  std::size_t unchanged = 0;
};
RowDifferences row_differences(const store::TableRows& now, const store::TableRows& snapshot);

// The path of `plan` that goes by `via`.
const TravelPath& path_of(const TravelPlan& plan, Via via);

}  // namespace dbsnap::core

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
// snapshot (a downgrade loses what its steps drop), a restore loses what was
// written since its snapshot, and a restore that is then migrated loses that
// too. `rollback --dry-run` prints the plan; a real run executes the chosen
// path through core/guard, whose protecting snapshot and move record
// (core/move_record) make it one all-or-nothing move.

#include <optional>
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

// Whether snapshot `m` may start a move: not one dbsnap took itself (unless
// `automatic` includes them), not marked damaged, and whole now (what it
// skips, and why, is said on stderr).
bool usable_start(store::Store& store, const store::Manifest& m, store::AutomaticSnapshots automatic);

// The newest usable snapshot of `target` taken at exactly `revision`.
std::optional<store::Manifest> newest_usable_at(store::Store& store, const std::string& target,
                                                const std::string& revision, store::AutomaticSnapshots automatic);

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
                                       const std::string& revision, Relation relation,
                                       store::AutomaticSnapshots automatic, std::string& refused);

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

// Weighs the paths in the order of Via (reading each candidate snapshot to
// check it is whole) and chooses the asked one, or else the first that can
// run. Throws only what reading the store throws.
TravelPlan plan_travel(store::Store& store, const TravelRequest& request);

// The path of `plan` that goes by `via`.
const TravelPath& path_of(const TravelPlan& plan, Via via);

}  // namespace dbsnap::core

#include "dbsnap/core/travel.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <fmt/core.h>

#include "dbsnap/core/operations.hpp"
#include "dbsnap/util/error.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::core {

namespace {

constexpr std::string_view via_names[] = {"downgrade", "upgrade", "restore", "restore-downgrade", "restore-upgrade"};

// Fills a restore-then-migrate path: the newest usable snapshot on the right
// side of the revision from which the migrations folder has the steps, and those steps.
void weigh_restore_then_migrate(store::Store& store, const TravelRequest& r, const Candidates& candidates,
                                TravelPath& p) {
  const bool up = p.via == Via::restore_upgrade;
  if (r.history == nullptr) {
    p.unavailable = fmt::format("the migrations folder cannot be read ({})", r.history_problem);
    return;
  }
  if (r.history->find(r.to) == nullptr) {
    p.unavailable = fmt::format("{} is not in the migrations folder", r.to);
    return;
  }
  std::string refused;  // why the newest related snapshot cannot start (a merge in the way)
  auto start = newest_start(store, r.target, *r.history, r.to, up ? Relation::ancestor : Relation::descendant,
                            candidates, refused);
  if (!start) {
    p.unavailable = !refused.empty()
                        ? refused
                        : fmt::format("no verified snapshot at a revision {} {}", up ? "before" : "after", r.to);
    return;
  }
  p.snapshot = std::move(start->snapshot);
  p.steps = std::move(start->steps);
  p.steps_known = true;
  if (up && !r.can_upgrade) p.unavailable = "no upgrade command: set upgrade_command in the target, or give --command";
  if (!up && !r.can_downgrade) {
    p.unavailable = "no downgrade command: set downgrade_command in the target, or give --command";
  }
}

// Fills a live migration path: the steps from the database's one revision to the target revision.
void weigh_live(const TravelRequest& r, TravelPath& p) {
  const bool up = p.via == Via::upgrade;
  const std::string what = up ? "upgrade" : "downgrade";
  if (r.current.empty()) {
    p.unavailable = fmt::format("the database has no Alembic revision to {} from", what);
    return;
  }
  if (r.current.size() > 1) {
    p.unavailable = fmt::format("the database is at several heads ({}): not one chain of migrations",
                                util::join(r.current, ", "));
    return;
  }
  if (r.history != nullptr) {
    auto steps = up ? r.history->upgrade_steps(r.current.front(), r.to)
                    : r.history->downgrade_steps(r.current.front(), r.to);
    if (!steps) {
      p.unavailable = steps.error().message;
      return;
    }
    p.steps = std::move(*steps);
    p.steps_known = true;
  } else if (up) {
    // Without a readable history, which way the revision lies is unknown: the command decides only a downgrade.
    p.unavailable = fmt::format("the migrations folder cannot be read ({})", r.history_problem);
    return;
  }
  // Without a readable history the steps are the command's business; the guard checks where it lands.
  if (up && !r.can_upgrade) p.unavailable = "no upgrade command: set upgrade_command in the target, or give --command";
  if (!up && !r.can_downgrade) {
    p.unavailable = "no downgrade command: set downgrade_command in the target, or give --command";
  }
}

// Why the database cannot simply be migrated where it is: the reason of the
// live path whose direction is right (or the downgrade's when neither is).
std::string live_reason(const TravelPlan& plan) {
  const auto& up = path_of(plan, Via::upgrade);
  if (up.steps_known) return up.unavailable;
  return path_of(plan, Via::downgrade).unavailable;
}

// Fills a path that restores first (restore, restore-downgrade, restore-upgrade).
void weigh_restoring(store::Store& store, const TravelRequest& r, const Candidates& candidates, TravelPath& p) {
  p = TravelPath{.via = p.via};
  if (p.via == Via::restore) {
    p.steps_known = true;
    p.snapshot = newest_usable_at(store, r.target, r.to, candidates);
    if (!p.snapshot) p.unavailable = fmt::format("no verified snapshot at {}", r.to);
    return;
  }
  weigh_restore_then_migrate(store, r, candidates, p);
}

constexpr Via restoring_vias[] = {Via::restore, Via::restore_downgrade, Via::restore_upgrade};

TravelPath& path_in(TravelPlan& plan, Via via) { return plan.paths[static_cast<std::size_t>(via)]; }

// The restoring path that can run and loses the least: the one whose
// snapshot is newest (ties: the first in the order of Via, fewest steps).
const TravelPath* least_loss(const TravelPlan& plan) {
  const TravelPath* best = nullptr;
  for (Via via : restoring_vias) {
    const auto& p = path_of(plan, via);
    if (!p.weighed || !p.unavailable.empty() || !p.snapshot) continue;
    if (best == nullptr || p.snapshot->created_at > best->snapshot->created_at) best = &p;
  }
  return best;
}

std::string why_chosen(const TravelPlan& plan, Via via) {
  const auto& restore = path_of(plan, Via::restore);
  switch (via) {
    case Via::downgrade:
      return "the live downgrade keeps every row written since the last snapshot; it loses only what its steps drop";
    case Via::upgrade:
      return "the live upgrade keeps every row written since the last snapshot";
    case Via::restore:
    case Via::restore_downgrade:
    case Via::restore_upgrade: {
      const auto& chosen = path_of(plan, via);
      const std::string taken = chosen.snapshot ? util::display_time(chosen.snapshot->created_at) : "?";
      bool others = false;  // another restoring path could run too
      for (Via other : restoring_vias) {
        const auto& p = path_of(plan, other);
        others = others || (other != via && p.weighed && p.unavailable.empty());
      }
      if (via == Via::restore) {
        return fmt::format("no live migration ({}); the snapshot at {} ({}) {}", live_reason(plan), plan.to, taken,
                           others ? "is the newest any path starts from: it loses the least"
                                  : "loses only what was written since it was taken");
      }
      return fmt::format("no live migration ({}); {}; this snapshot ({}) is the newest any path starts from: it loses "
                         "the least", live_reason(plan),
                         restore.unavailable.empty() ? "the snapshot at " + plan.to + " is older" : restore.unavailable,
                         taken);
    }
  }
  return {};
}

}  // namespace

std::string_view via_name(Via via) { return via_names[static_cast<std::size_t>(via)]; }

std::optional<Via> parse_via(std::string_view name) {
  for (std::size_t i = 0; i < std::size(via_names); ++i) {
    if (via_names[i] == name) return static_cast<Via>(i);
  }
  return std::nullopt;
}

bool usable_start(store::Store& store, const store::Manifest& m, const Candidates& candidates) {
  if (m.automatic && candidates.automatic == store::AutomaticSnapshots::exclude) return false;
  if (candidates.rejected != nullptr && candidates.rejected->contains(m.id)) return false;
  const std::string at = util::revision_text(m.revisions);
  if (m.status == "damaged") {
    if (candidates.reported == nullptr || candidates.reported->insert(m.id).second) {
      fmt::print(stderr, "dbsnap: skipping snapshot {} at {}: 'dbsnap verify' marked it damaged\n", m.id, at);
    }
    return false;
  }
  if (candidates.check == Check::catalog) return true;
  auto check = check_stored(store, m);
  if (!check.ok) fmt::print(stderr, "dbsnap: skipping snapshot {} at {}: {}\n", m.id, at, check.problem);
  return check.ok;
}

std::optional<store::Manifest> newest_usable_at(store::Store& store, const std::string& target,
                                                const std::string& revision, const Candidates& candidates) {
  for (const auto& m : value_or_throw(store.find({.target = target, .revision = revision}))) {
    if (m.revisions != std::vector<std::string>{revision}) continue;
    if (usable_start(store, m, candidates)) return m;
  }
  return std::nullopt;
}

std::optional<StartPoint> newest_start(store::Store& store, const std::string& target, const alembic::History& history,
                                       const std::string& revision, Relation relation, const Candidates& candidates,
                                       std::string& refused) {
  for (const auto& m : value_or_throw(store.find({.target = target}))) {
    if (m.revisions.size() != 1) continue;  // several heads: migrating from there is not one move
    const std::string& at = m.revisions.front();
    const bool related =
        relation == Relation::descendant ? history.is_ancestor(revision, at) : history.is_ancestor(at, revision);
    if (!related) continue;
    auto steps = relation == Relation::descendant ? history.downgrade_steps(at, revision)
                                                  : history.upgrade_steps(at, revision);
    if (!steps) {
      if (refused.empty()) refused = fmt::format("snapshot {}: {}", m.id, steps.error().message);
      continue;
    }
    if (usable_start(store, m, candidates)) return StartPoint{m, std::move(*steps)};
  }
  return std::nullopt;
}

TravelPlan plan_travel(store::Store& store, const TravelRequest& request) {
  TravelPlan plan{.from = request.current, .to = request.to};
  for (Via via : {Via::downgrade, Via::upgrade, Via::restore, Via::restore_downgrade, Via::restore_upgrade}) {
    plan.paths.push_back(TravelPath{.via = via, .weighed = false});
  }
  const bool all = request.weigh == Weigh::all;
  const Candidates whole{.automatic = request.automatic, .check = Check::whole};
  // The live paths read no snapshot: always weighed, unless another path is asked for.
  for (Via via : {Via::downgrade, Via::upgrade}) {
    if (!all && request.asked && *request.asked != via) continue;
    auto& p = path_in(plan, via);
    p.weighed = true;
    weigh_live(request, p);
  }
  if (request.asked) {
    auto& p = path_in(plan, *request.asked);
    if (!p.weighed || all) {
      for (Via via : restoring_vias) {
        if (all || via == *request.asked) {
          path_in(plan, via).weighed = true;
          weigh_restoring(store, request, whole, path_in(plan, via));
        }
      }
    }
    plan.chosen = request.asked;
    plan.why = fmt::format("--via {}", via_name(*request.asked));
    return plan;
  }
  for (Via via : {Via::downgrade, Via::upgrade}) {
    if (path_of(plan, via).unavailable.empty()) {
      plan.chosen = via;
      plan.why = why_chosen(plan, via);
      if (!all) return plan;
      break;
    }
  }
  if (all) {
    for (Via via : restoring_vias) {
      path_in(plan, via).weighed = true;
      weigh_restoring(store, request, whole, path_in(plan, via));
    }
    if (!plan.chosen) {
      if (const auto* best = least_loss(plan)) {
        plan.chosen = best->via;
        plan.why = why_chosen(plan, best->via);
      }
    }
  } else {
    // A real run reads only the snapshot it starts from: the paths' newest
    // candidates are compared from the catalog, and the newest is read whole;
    // one that is not whole is set aside and the comparison made again.
    std::set<std::string> rejected, reported;
    const Candidates listed{
        .automatic = request.automatic, .check = Check::catalog, .rejected = &rejected, .reported = &reported};
    for (;;) {
      for (Via via : restoring_vias) {
        path_in(plan, via).weighed = true;
        weigh_restoring(store, request, listed, path_in(plan, via));
      }
      const auto* best = least_loss(plan);
      if (best == nullptr) break;
      if (usable_start(store, *best->snapshot, whole)) {
        plan.chosen = best->via;
        plan.why = why_chosen(plan, best->via);
        for (Via via : restoring_vias) path_in(plan, via).weighed = via == best->via;
        return plan;
      }
      rejected.insert(best->snapshot->id);
    }
  }
  if (plan.chosen) return plan;
  std::vector<std::string> reasons;
  for (const auto& path : plan.paths) reasons.push_back(fmt::format("{}: {}", via_name(path.via), path.unavailable));
  plan.why = "no path can run (" + util::join(reasons, "; ") + ")";
  return plan;
}

const TravelPath& path_of(const TravelPlan& plan, Via via) {
  for (const auto& path : plan.paths) {
    if (path.via == via) return path;
  }
  fail(ErrorKind::failure, "internal error: the plan has no path via {}", via_name(via));
}

RowDifferences row_differences(const store::TableRows& now, const store::TableRows& snapshot) {
  RowDifferences out;
  auto a = now.begin();
  auto b = snapshot.begin();
  while (a != now.end() || b != snapshot.end()) {
    if (b == snapshot.end() || (a != now.end() && a->first < b->first)) {
      out.tables.push_back({a->first, a->second, std::nullopt});
      ++a;
    } else if (a == now.end() || b->first < a->first) {
      out.tables.push_back({b->first, std::nullopt, b->second});
      ++b;
    } else {
      if (a->second == b->second) {
        ++out.unchanged;
      } else {
        out.tables.push_back({a->first, a->second, b->second});
      }
      ++a;
      ++b;
    }
  }
  return out;
}

}  // namespace dbsnap::core

#include <algorithm>
#include <cctype>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/alembic/commands.hpp"
#include "dbsnap/alembic/history.hpp"
#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/guard.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/core/travel.hpp"
#include "dbsnap/runtime/quiesce.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// How long ago a snapshot was taken ("3 hours ago"), or its stored time when that cannot be read.
std::string age_of(const store::Manifest& snapshot) {
  util::TimePoint created;
  return util::parse_utc(snapshot.created_at, created) ? util::human_age(created, util::now_ms()) : snapshot.created_at;
}

// The full revision id `wanted` names: itself when the migration history or
// a snapshot has it, else the one revision of the history (or, without a
// readable history, of the snapshots) it is a prefix of.
std::string resolve_revision(Context& context, const config::Target& target, const std::string& wanted) {
  if (wanted.empty()) fail(ErrorKind::usage, "--to is empty: give a revision id or a prefix of one");
  auto& store = context.store();
  if (auto revisions = alembic::load_revisions(context.migrations_dir(target))) {
    if (auto history = alembic::History::build(std::move(*revisions))) {
      auto resolved = history->resolve(wanted);
      if (resolved) return *resolved;
      std::size_t matches = 0;
      for (const auto& r : history->revisions()) matches += r.id.starts_with(wanted);
      if (matches > 1) throw DbsnapError(resolved.error());  // ambiguous in the history: never guess
      // Not in the migrations folder: it may still be a revision only snapshots know.
      if (value_or_throw(store.find({.target = target.name, .revision_prefix = wanted})).empty()) {
        throw DbsnapError(resolved.error());
      }
    }
  }
  if (!value_or_throw(store.find({.target = target.name, .revision = wanted})).empty()) return wanted;
  std::set<std::string> matching;
  for (const auto& m : value_or_throw(store.find({.target = target.name, .revision_prefix = wanted}))) {
    for (const auto& r : m.revisions) {
      if (r.starts_with(wanted)) matching.insert(r);
    }
  }
  if (matching.size() > 1) {
    fail(ErrorKind::not_found, "revision '{}' is ambiguous: {}", wanted,
         util::join(std::vector<std::string>(matching.begin(), matching.end()), ", "));
  }
  return matching.empty() ? wanted : *matching.begin();
}

int rollback_via_restore(Context& context, const config::Target& target, const RollbackOptions& options,
                         const store::Manifest& snapshot, const std::string& revision) {
  auto& store = context.store();
  const std::string age = age_of(snapshot);
  context.note("dbsnap: rolling '{}' back to {} by restoring snapshot {} taken {} ({})", target.name, revision,
               snapshot.id, age, util::display_time(snapshot.created_at));
  fmt::print(stderr, "dbsnap: data written to '{}' since then is lost (a pre-rollback snapshot keeps it)\n",
             target.name);
  confirm_or_refuse(options.confirmation,
                    fmt::format("replace '{}' with snapshot {} from {}", target.name, snapshot.id, age), "--yes");
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);  // until the end, whatever happens
  // A target with no database has nothing to keep: the snapshot is simply restored.
  std::optional<store::Manifest> safety;
  if (engine::engine_for(target).exists(target, core::work_context(store))) {
    safety = core::take_snapshot(store, target, {.label = "pre-rollback", .taken = core::Taken::by_dbsnap});
    context.note("dbsnap: pre-rollback snapshot {} taken at revision {}", safety->id,
                 util::revision_text(safety->revisions));
  } else {
    context.note("dbsnap: '{}' has no database: nothing to keep before the restore", target.name);
  }
  std::string problem;
  try {
    auto after = core::restore_snapshot(store, target, snapshot);
    if (after != std::vector<std::string>{revision}) {
      problem = fmt::format("after the restore '{}' reports revision {}", target.name, util::revision_text(after));
    }
  } catch (const DbsnapError& e) {
    if (e.kind() != ErrorKind::engine && e.kind() != ErrorKind::corrupt) throw;  // nothing was changed
    problem = e.what();
  }
  if (problem.empty()) {
    forget_unfinished_move(context, target.name);
    if (context.globals.json) {
      print_json({{"target", target.name},
                  {"via", "restore"},
                  {"revision", revision},
                  {"before", safety ? safety->revisions : std::vector<std::string>{}},
                  {"after", std::vector<std::string>{revision}},
                  {"snapshot", snapshot_ref_json(snapshot)},
                  {"safety_snapshot", safety ? snapshot_ref_json(*safety) : nlohmann::json(nullptr)}});
      return 0;
    }
    fmt::print("rolled back '{}' to {} (snapshot {}){}\n", target.name, revision, snapshot.id,
               safety ? fmt::format("; undo with: dbsnap restore {} --yes", safety->id) : std::string());
    return 0;
  }
  if (!safety) fail(ErrorKind::engine, "rollback failed: {}; '{}' had no database before it", problem, target.name);
  const auto back = core::restore_snapshot(store, target, *safety);
  fail(ErrorKind::guarded, "rollback failed: {}; restored pre-rollback snapshot {}: '{}' is back at revision {}",
       problem, safety->id, target.name, util::revision_text(back));
}

// The steps of a path, in words.
std::string steps_text(const core::TravelPath& path) {
  if (!path.steps_known) return "the migration steps are the command's (the migrations folder cannot be read)";
  if (path.steps.empty()) return "no migration step";
  const bool up = path.via == core::Via::restore_upgrade || path.via == core::Via::upgrade;
  return fmt::format("{} {}", up ? "apply" : "undo", util::join(path.steps, ", "));
}

// The rows restoring a path's snapshot changes, by the counts: the live
// database's now against the snapshot's manifest (nullopt when either is not
// known: no live counts, or a snapshot taken before dbsnap counted rows).
std::optional<core::RowDifferences> rows_of(const core::TravelPath& path, const std::optional<store::TableRows>& live) {
  if (!live || !path.snapshot || !path.snapshot->tables) return std::nullopt;
  return core::row_differences(*live, *path.snapshot->tables);
}

// "items 3120 -> 3000, new_table 4 -> none; 3 other tables unchanged".
std::string rows_text(const core::RowDifferences& d) {
  if (d.tables.empty()) {
    return fmt::format("every table ({}) holds as many rows now as in the snapshot; rows updated since are lost",
                       d.unchanged);
  }
  auto count = [](const std::optional<std::uint64_t>& n) { return n ? std::to_string(*n) : std::string("none"); };
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < d.tables.size() && i < 5; ++i) {
    const auto& t = d.tables[i];
    parts.push_back(fmt::format("{} {} -> {}", util::displayable_name(t.table), count(t.now), count(t.snapshot)));
  }
  if (d.tables.size() > 5) parts.push_back(fmt::format("{} more", d.tables.size() - 5));
  return fmt::format("rows now -> in the snapshot: {}{}", util::join(parts, ", "),
                     d.unchanged ? fmt::format("; {} other table{} unchanged", d.unchanged, d.unchanged == 1 ? "" : "s")
                                 : std::string());
}

// What a path loses, in words (with the row counts, when both are known).
std::string loss_text(const core::TravelPath& path, const std::optional<store::TableRows>& live) {
  if (path.via == core::Via::downgrade) {
    return "keeps every row written since the last snapshot; loses what the downgrade steps drop";
  }
  if (path.via == core::Via::upgrade) return "keeps every row written since the last snapshot";
  const std::string since = path.snapshot ? util::display_time(path.snapshot->created_at) : std::string("it");
  std::string text = path.via == core::Via::restore
                         ? fmt::format("loses what was written since {}", since)
                         : fmt::format("loses what was written since {}, and what the steps drop", since);
  if (auto rows = rows_of(path, live)) text += " (" + rows_text(*rows) + ")";
  return text;
}

nlohmann::json rows_json(const core::TravelPath& path, const std::optional<store::TableRows>& live) {
  auto rows = rows_of(path, live);
  if (!rows) return nullptr;
  auto tables = nlohmann::json::array();
  auto count = [](const std::optional<std::uint64_t>& n) { return n ? nlohmann::json(*n) : nlohmann::json(nullptr); };
  for (const auto& t : rows->tables) {
    tables.push_back({{"table", t.table}, {"now", count(t.now)}, {"snapshot", count(t.snapshot)}});
  }
  return {{"differ", tables}, {"unchanged", rows->unchanged}};
}

nlohmann::json plan_json(const config::Target& target, const core::TravelPlan& plan,
                         const std::optional<store::TableRows>& live) {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& path : plan.paths) {
    paths.push_back({{"via", core::via_name(path.via)},
                     {"weighed", path.weighed},
                     {"available", path.weighed && path.unavailable.empty()},
                     {"unavailable", path.unavailable.empty() ? nlohmann::json(nullptr) : nlohmann::json(path.unavailable)},
                     {"snapshot", path.snapshot ? snapshot_ref_json(*path.snapshot) : nlohmann::json(nullptr)},
                     {"steps", path.steps_known ? nlohmann::json(path.steps) : nlohmann::json(nullptr)},
                     {"loses", loss_text(path, live)},
                     {"rows", rows_json(path, live)}});
  }
  return {{"target", target.name},
          {"from", plan.from},
          {"to", plan.to},
          {"chosen", plan.chosen ? nlohmann::json(core::via_name(*plan.chosen)) : nlohmann::json(nullptr)},
          {"why", plan.why},
          {"paths", paths}};
}

void print_plan(const config::Target& target, const core::TravelPlan& plan,
                const std::optional<store::TableRows>& live) {
  fmt::print("plan for '{}': {} -> {}\n", target.name, util::revision_text(plan.from), plan.to);
  for (const auto& path : plan.paths) {
    const bool chosen = plan.chosen == path.via;
    std::string text;
    if (!path.unavailable.empty()) {
      text = "cannot: " + path.unavailable;
    } else if (path.via == core::Via::downgrade || path.via == core::Via::upgrade) {
      text = fmt::format("{} on the live database; {}", steps_text(path), loss_text(path, live));
    } else if (path.snapshot) {
      text = fmt::format("snapshot {} taken {} at {}", path.snapshot->id, age_of(*path.snapshot),
                         util::revision_text(path.snapshot->revisions));
      if (path.via != core::Via::restore) text += ", then " + steps_text(path);
      text += "; " + loss_text(path, live);
    }
    fmt::print("  {} {:<18} {}\n", chosen ? '>' : ' ', core::via_name(path.via), text);
  }
  if (plan.chosen) {
    fmt::print("chosen: {}: {}\n", core::via_name(*plan.chosen), plan.why);
  } else {
    fmt::print("chosen: none: {}\n", plan.why);
  }
  fmt::print("nothing was changed (--dry-run)\n");
}

}  // namespace

int run_rollback(Context& context, const RollbackOptions& options) {
  const auto& target = context.target(options.target);
  auto& store = context.store();
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);
  const std::string revision = resolve_revision(context, target, options.to);
  engine::Engine& engine = engine::engine_for(target);
  const auto work = core::work_context(store);
  const std::vector<std::string> current =
      engine.exists(target, work) ? engine.read_revisions(target, work) : std::vector<std::string>{};
  if (current == std::vector<std::string>{revision}) {
    if (context.globals.json) {
      print_json({{"target", target.name},
                  {"via", nullptr},
                  {"revision", revision},
                  {"before", {revision}},
                  {"after", {revision}},
                  {"snapshot", nullptr},
                  {"safety_snapshot", nullptr}});
    } else {
      fmt::print("'{}' is already at revision {}: nothing to do\n", target.name, revision);
    }
    return 0;
  }

  // The plan: every path weighed for --dry-run, else up to the one that runs.
  const auto asked = options.via.empty() ? std::nullopt : core::parse_via(options.via);
  if (!options.via.empty() && !asked) {
    fail(ErrorKind::usage,
         "--via must be downgrade, upgrade, restore, restore-downgrade or restore-upgrade, not '{}'", options.via);
  }
  const bool given = !options.command.empty() || !options.argv.empty();  // the direction --via asks for
  const bool given_is_upgrade = asked == core::Via::restore_upgrade || asked == core::Via::upgrade;
  std::optional<alembic::History> history;
  std::string history_problem;
  if (auto revisions = alembic::load_revisions(context.migrations_dir(target))) {
    if (auto built = alembic::History::build(std::move(*revisions))) {
      history = std::move(*built);
    } else {
      history_problem = built.error().message;
    }
  } else {
    history_problem = revisions.error().message;
  }
  const auto plan = core::plan_travel(
      store, {.target = target.name,
              .current = current,
              .to = revision,
              .history = history ? &*history : nullptr,
              .history_problem = history_problem,
              .can_downgrade = (given && !given_is_upgrade) ||
                               alembic::has_migration_command(target, alembic::Migration::downgrade),
              .can_upgrade = (given && given_is_upgrade) ||
                             alembic::has_migration_command(target, alembic::Migration::upgrade),
              .asked = asked,
              .automatic = context.globals.automatic,
              .weigh = options.dry_run ? core::Weigh::all : core::Weigh::until_chosen});
  if (options.dry_run) {
    // What a restore loses, by the counts: the live database's rows now.
    std::optional<store::TableRows> live;
    if (!current.empty() || engine.exists(target, work)) {
      try {
        live = engine.count_rows(target, work);
      } catch (const DbsnapError& e) {
        if (e.kind() == ErrorKind::interrupted) throw;
        context.note("the live database's rows could not be counted ({}); the plan says what restores lose "
                     "without them", e.what());
      }
    }
    if (context.globals.json) {
      print_json(plan_json(target, plan, live));
    } else {
      print_plan(target, plan, live);
    }
    return 0;
  }

  // None can run: without --via, the downgrade's own errors (no command, no snapshot) or the plan's reasons say why.
  const core::Via via = plan.chosen.value_or(core::path_of(plan, core::Via::upgrade).steps_known ? core::Via::upgrade
                                                                                               : core::Via::downgrade);
  const core::TravelPath& path = core::path_of(plan, via);
  const bool live = via == core::Via::downgrade || via == core::Via::upgrade;
  if (via == core::Via::restore) {
    if (!path.snapshot) {
      fail(ErrorKind::not_found, "no verified snapshot of '{}' at revision {}; use --via downgrade --command \"...\"",
           target.name, revision);
    }
    return rollback_via_restore(context, target, options, *path.snapshot, revision);
  }
  if (!live && !path.snapshot) {
    fail(ErrorKind::not_found, "--via {}: {}", core::via_name(via), path.unavailable);
  }
  const auto direction = via == core::Via::restore_upgrade || via == core::Via::upgrade
                             ? alembic::Migration::upgrade
                             : alembic::Migration::downgrade;
  const std::string what = direction == alembic::Migration::upgrade ? "upgrade" : "downgrade";
  std::vector<std::string> argv = options.argv;
  std::filesystem::path cwd;  // the user's command runs where dbsnap runs; a configured one beside dbsnap.toml
  if (!options.command.empty()) {
    if (!argv.empty()) fail(ErrorKind::usage, "give the {} command with --command or after --, not both", what);
    argv = {"sh", "-c", options.command};  // the user's own command line, run as they typed it
  }
  if (argv.empty()) {
    if (auto configured = alembic::migration_command(target, direction, revision)) {
      argv = std::move(*configured);
      cwd = target.config_dir;
    }
  }
  if (argv.empty()) {
    // The example is a shell command line: it only repeats a revision that is plain text there.
    const bool plain = std::ranges::all_of(revision, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    const std::string example =
        fmt::format("--command \"flask db {} {}\"", what, plain ? revision : "REVISION");
    if (!options.via.empty()) {
      fail(ErrorKind::usage, "--via {} needs the {} command: {} (or {} in the target)", options.via, what, example,
           alembic::migration_command_key(direction));
    }
    fail(ErrorKind::usage, "no snapshot of '{}' at {}: give the {} command, e.g. {}, or set {}", target.name, revision,
         what, example, alembic::migration_command_key(direction));
  }
  if (!path.unavailable.empty()) {
    if (!plan.chosen) fail(ErrorKind::usage, "cannot bring '{}' to {}: {}", target.name, revision, plan.why);
    fail(ErrorKind::usage, "--via {}: {}", core::via_name(via), path.unavailable);
  }
  const std::optional<store::Manifest>& start = path.snapshot;
  if (start) {
    const std::string age = age_of(*start);
    context.note("dbsnap: moving '{}' to {}: restore snapshot {} taken {} ({}) at revision {}, then {}", target.name,
                 revision, start->id, age, util::display_time(start->created_at),
                 util::revision_text(start->revisions), what);
    fmt::print(stderr, "dbsnap: data written to '{}' since then is lost (a pre-rollback snapshot keeps it)\n",
               target.name);
    confirm_or_refuse(options.confirmation,
                      fmt::format("replace '{}' with snapshot {} from {} and {} it to {}", target.name, start->id, age,
                                  what, revision),
                      "--yes");
  }
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);  // until the end, whatever happens
  auto result = core::run_guarded(
      store, target,
      {.argv = argv,
       .cwd = cwd,
       .label = "pre-rollback",
       .what = what,
       .to = revision,
       .output = context.globals.json ? core::CommandOutput::to_stderr : core::CommandOutput::inherit,
       .notes = context.globals.quiet ? core::Notes::quiet : core::Notes::show,
       .judge = [revision](const auto&, const auto& after) -> std::string {
         if (after == std::vector<std::string>{revision}) return {};
         return fmt::format("the revision afterwards is {}, not {}", util::revision_text(after), revision);
       },
       .start_from = start});
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"via", core::via_name(via)},
                {"revision", revision},
                {"before", result.fresh ? std::vector<std::string>{} : result.before},
                {"after", result.after},
                {"snapshot", start ? snapshot_ref_json(*start) : nlohmann::json(nullptr)},
                {"safety_snapshot", result.fresh ? nlohmann::json(nullptr) : snapshot_ref_json(result.snapshot)}});
    return 0;
  }
  if (start) {
    fmt::print("moved '{}': {} -> {} (snapshot {} at {}, then {}){}\n", target.name,
               result.fresh ? std::string("(no database)") : util::revision_text(result.before), revision, start->id,
               util::revision_text(start->revisions), what,
               result.fresh ? std::string() : fmt::format("; undo with: dbsnap restore {} --yes", result.snapshot.id));
    return 0;
  }
  fmt::print("{} '{}': {} -> {} ({}); undo with: dbsnap restore {} --yes\n",
             via == core::Via::upgrade ? "moved" : "rolled back", target.name, util::revision_text(result.before),
             revision, what, result.snapshot.id);
  return 0;
}

void add_rollback(CLI::App& app, Context& context) {
  auto options = std::make_shared<RollbackOptions>();
  auto* cmd = add_command(app, context, options, "rollback",
                          "Bring a target to an Alembic revision: by restore, by migration, or both", run_rollback);
  add_target_argument(*cmd, options->target);
  cmd->add_option("--to", options->to, "The revision (or a unique prefix) to go back to")->required();
  cmd->add_option("--via", options->via,
                  "downgrade or upgrade (the live database), restore, restore-downgrade (the newest snapshot at a "
                  "later revision, then downgrade) or restore-upgrade (one at an earlier revision, then upgrade); "
                  "default: a live migration when its command is known, else the restoring path whose snapshot "
                  "is newest (see --dry-run)")
      ->check(CLI::IsMember({"downgrade", "upgrade", "restore", "restore-downgrade", "restore-upgrade"}));
  cmd->add_option("--command", options->command,
                  "The downgrade (upgrade) command line, run with sh -c (default: the target's downgrade_command "
                  "or upgrade_command)");
  cmd->add_option("argv", options->argv, "Or the downgrade command after --");
  add_yes_flag(*cmd, options->confirmation, "Do not ask before discarding data written since the snapshot");
  cmd->add_flag("--dry-run", options->dry_run,
                "Print the plan: every path, what it starts from, runs and loses, and the one chosen; change nothing");
}

}  // namespace dbsnap::cli

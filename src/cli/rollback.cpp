#include <algorithm>
#include <cctype>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/alembic/commands.hpp"
#include "dbsnap/alembic/history.hpp"
#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/guard.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/runtime/quiesce.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

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

// Whether snapshot `m` may be a rollback's starting point: not one dbsnap
// took itself (unless `automatic` includes them), not marked damaged, and
// whole now (what is skipped is said on stderr).
bool usable(store::Store& store, const store::Manifest& m, store::AutomaticSnapshots automatic) {
  if (m.automatic && automatic == store::AutomaticSnapshots::exclude) return false;
  const std::string at = util::revision_text(m.revisions);
  if (m.status == "damaged") {
    fmt::print(stderr, "dbsnap: skipping snapshot {} at {}: 'dbsnap verify' marked it damaged\n", m.id, at);
    return false;
  }
  auto check = core::check_stored(store, m);
  if (!check.ok) fmt::print(stderr, "dbsnap: skipping snapshot {} at {}: {}\n", m.id, at, check.problem);
  return check.ok;
}

// The newest snapshot of `target` taken at exactly {revision} that passes
// verification; snapshots dbsnap took itself only when `automatic` says so.
std::optional<store::Manifest> newest_good_snapshot(store::Store& store, const std::string& target,
                                                     const std::string& revision,
                                                     store::AutomaticSnapshots automatic) {
  for (const auto& m : value_or_throw(store.find({.target = target, .revision = revision}))) {
    if (m.revisions != std::vector<std::string>{revision}) continue;
    if (usable(store, m, automatic)) return m;
  }
  return std::nullopt;
}

enum class Relation { descendant, ancestor };

// The newest verified snapshot of `target` taken at one revision that is a
// descendant (or an ancestor) of `revision` in the target's migrations folder:
// where a restore-then-downgrade (restore-then-upgrade) starts. Throws a
// `config` error when the folder cannot be read and `not_found` when it lacks
// `revision`: the path cannot be planned without the history.
std::optional<store::Manifest> newest_good_related(Context& context, const config::Target& target,
                                                   const std::string& revision, Relation relation) {
  const auto folder = context.migrations_dir(target);
  auto revisions = alembic::load_revisions(folder);
  if (!revisions) {
    fail(ErrorKind::config, "a restore followed by a migration is planned on the migrations folder: {}",
         revisions.error().message);
  }
  auto history = value_or_throw(alembic::History::build(std::move(*revisions)));
  if (history.find(revision) == nullptr) {
    fail(ErrorKind::not_found, "revision {} is not in {}: no migration path to it can be planned", revision,
         folder.string());
  }
  auto& store = context.store();
  for (const auto& m : value_or_throw(store.find({.target = target.name}))) {
    if (m.revisions.size() != 1) continue;  // several heads: migrating from there is not one path
    const std::string& at = m.revisions.front();
    const bool related =
        relation == Relation::descendant ? history.is_ancestor(revision, at) : history.is_ancestor(at, revision);
    if (related && usable(store, m, context.globals.automatic)) return m;
  }
  return std::nullopt;
}

int rollback_via_restore(Context& context, const config::Target& target, const RollbackOptions& options,
                         const store::Manifest& snapshot, const std::string& revision) {
  auto& store = context.store();
  util::TimePoint created;
  const std::string age =
      util::parse_utc(snapshot.created_at, created) ? util::human_age(created, util::now_ms()) : snapshot.created_at;
  context.note("dbsnap: rolling '{}' back to {} by restoring snapshot {} taken {} ({})", target.name, revision,
               snapshot.id, age, util::display_time(snapshot.created_at));
  fmt::print(stderr, "dbsnap: data written to '{}' since then is lost (a pre-rollback snapshot keeps it)\n",
             target.name);
  confirm_or_refuse(options.confirmation,
                    fmt::format("replace '{}' with snapshot {} from {}", target.name, snapshot.id, age), "--yes");
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);  // until the end, whatever happens
  auto safety = core::take_snapshot(store, target, {.label = "pre-rollback", .taken = core::Taken::by_dbsnap});
  context.note("dbsnap: pre-rollback snapshot {} taken at revision {}", safety.id,
               util::revision_text(safety.revisions));
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
    if (context.globals.json) {
      print_json({{"target", target.name},
                  {"via", "restore"},
                  {"revision", revision},
                  {"before", safety.revisions},
                  {"after", std::vector<std::string>{revision}},
                  {"snapshot", snapshot_ref_json(snapshot)},
                  {"safety_snapshot", snapshot_ref_json(safety)}});
      return 0;
    }
    fmt::print("rolled back '{}' to {} (snapshot {}); undo with: dbsnap restore {} --yes\n", target.name, revision,
               snapshot.id, safety.id);
    return 0;
  }
  const auto back = core::restore_snapshot(store, target, safety);
  fail(ErrorKind::guarded, "rollback failed: {}; restored pre-rollback snapshot {}: '{}' is back at revision {}",
       problem, safety.id, target.name, util::revision_text(back));
}

}  // namespace

int run_rollback(Context& context, const RollbackOptions& options) {
  const auto& target = context.target(options.target);
  auto& store = context.store();
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);
  const std::string revision = resolve_revision(context, target, options.to);
  engine::Engine& engine = engine::engine_for(target);
  const auto work = core::work_context(store);
  if (engine.exists(target, work) && engine.read_revisions(target, work) == std::vector<std::string>{revision}) {
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
  std::string via = options.via;
  std::optional<store::Manifest> snapshot;
  if (via.empty() || via == "restore") {
    snapshot = newest_good_snapshot(store, target.name, revision, context.globals.automatic);
  }
  if (via.empty()) via = snapshot ? "restore" : "downgrade";

  if (via == "restore") {
    if (!snapshot) {
      fail(ErrorKind::not_found, "no verified snapshot of '{}' at revision {}; use --via downgrade --command \"...\"",
           target.name, revision);
    }
    return rollback_via_restore(context, target, options, *snapshot, revision);
  }
  if (via != "downgrade" && via != "restore-downgrade" && via != "restore-upgrade") {
    fail(ErrorKind::usage, "--via must be restore, downgrade, restore-downgrade or restore-upgrade, not '{}'", via);
  }
  const auto direction = via == "restore-upgrade" ? alembic::Migration::upgrade : alembic::Migration::downgrade;
  const std::string what = direction == alembic::Migration::upgrade ? "upgrade" : "downgrade";
  std::optional<store::Manifest> start;
  if (via != "downgrade") {
    const auto relation = direction == alembic::Migration::upgrade ? Relation::ancestor : Relation::descendant;
    start = newest_good_related(context, target, revision, relation);
    if (!start) {
      fail(ErrorKind::not_found, "no verified snapshot of '{}' at a revision {} {} to start --via {} from",
           target.name, relation == Relation::ancestor ? "before" : "after", revision, via);
    }
  }
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
      fail(ErrorKind::usage, "--via {} needs the {} command: {} (or {} in the target)", via, what, example,
           alembic::migration_command_key(direction));
    }
    fail(ErrorKind::usage, "no snapshot of '{}' at {}: give the downgrade command, e.g. {}, or set downgrade_command",
         target.name, revision, example);
  }
  if (start) {
    util::TimePoint created;
    const std::string age =
        util::parse_utc(start->created_at, created) ? util::human_age(created, util::now_ms()) : start->created_at;
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
       .output = context.globals.json ? core::CommandOutput::to_stderr : core::CommandOutput::inherit,
       .notes = context.globals.quiet ? core::Notes::quiet : core::Notes::show,
       .judge = [revision](const auto&, const auto& after) -> std::string {
         if (after == std::vector<std::string>{revision}) return {};
         return fmt::format("the revision afterwards is {}, not {}", util::revision_text(after), revision);
       },
       .start_from = start});
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"via", via},
                {"revision", revision},
                {"before", result.before},
                {"after", result.after},
                {"snapshot", start ? snapshot_ref_json(*start) : nlohmann::json(nullptr)},
                {"safety_snapshot", snapshot_ref_json(result.snapshot)}});
    return 0;
  }
  if (start) {
    fmt::print("moved '{}': {} -> {} (snapshot {} at {}, then {}); undo with: dbsnap restore {} --yes\n", target.name,
               util::revision_text(result.before), revision, start->id, util::revision_text(start->revisions), what,
               result.snapshot.id);
    return 0;
  }
  fmt::print("rolled back '{}': {} -> {} (downgrade); undo with: dbsnap restore {} --yes\n", target.name,
             util::revision_text(result.before), revision, result.snapshot.id);
  return 0;
}

void add_rollback(CLI::App& app, Context& context) {
  auto options = std::make_shared<RollbackOptions>();
  auto* cmd = app.add_subcommand("rollback", "Bring a target back to an Alembic revision, by restore or by downgrade");
  cmd->add_option("target", options->target, "Target name from dbsnap.toml")->required();
  cmd->add_option("--to", options->to, "The revision (or a unique prefix) to go back to")->required();
  cmd->add_option("--via", options->via,
                  "restore (default when a verified snapshot at REV exists), downgrade, restore-downgrade (the newest "
                  "snapshot at a later revision, then downgrade) or restore-upgrade (one at an earlier revision, then "
                  "upgrade)")
      ->check(CLI::IsMember({"restore", "downgrade", "restore-downgrade", "restore-upgrade"}));
  cmd->add_option("--command", options->command,
                  "The downgrade (upgrade) command line, run with sh -c (default: the target's downgrade_command "
                  "or upgrade_command)");
  cmd->add_option("argv", options->argv, "Or the downgrade command after --");
  cmd->add_flag_callback("--yes,-y", [options] { options->confirmation = Confirmation::assume_yes; },
                         "Do not ask before discarding data written since the snapshot");
  cmd->callback([&context, options] { context.exit_code = run_rollback(context, *options); });
}

}  // namespace dbsnap::cli

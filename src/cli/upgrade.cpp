#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/alembic/commands.hpp"
#include "dbsnap/alembic/history.hpp"
#include "dbsnap/alembic/revision_file.hpp"
#include "dbsnap/core/guard.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/runtime/quiesce.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// The target's current revisions, or std::nullopt when they cannot be read.
std::optional<std::vector<std::string>> current_revisions(Context& context, const config::Target& target) {
  engine::Engine& engine = engine::engine_for(target);
  const auto work = core::work_context(context.store());
  try {
    if (!engine.exists(target, work)) return std::nullopt;
    return engine.read_revisions(target, work);
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted) throw;
    return std::nullopt;  // the guarded run reads it again and reports what is wrong
  }
}

// The database's revisions when they are exactly the heads of the target's
// migrations folder (there is nothing to upgrade to); std::nullopt when they
// are not, or when either cannot be read (the command then decides).
std::optional<std::vector<std::string>> at_head(Context& context, const config::Target& target) {
  auto revisions = alembic::load_revisions(context.migrations_dir(target));
  if (!revisions || revisions->empty()) return std::nullopt;
  auto history = alembic::History::build(std::move(*revisions));
  if (!history) return std::nullopt;
  auto current = current_revisions(context, target);
  if (!current || current->empty() || *current != history->heads()) return std::nullopt;
  return current;
}

// The full id of the revision `wanted` names in the target's migrations
// folder; `wanted` itself when the folder cannot be read (the command then
// resolves it). Throws `not_found` when the history has no such revision or
// the prefix is ambiguous there.
std::string resolve_upgrade_revision(Context& context, const config::Target& target, const std::string& wanted) {
  if (wanted.empty()) fail(ErrorKind::usage, "--to is empty: give a revision id or a prefix of one");
  auto revisions = alembic::load_revisions(context.migrations_dir(target));
  if (!revisions || revisions->empty()) return wanted;
  auto history = alembic::History::build(std::move(*revisions));
  if (!history) return wanted;
  return value_or_throw(history->resolve(wanted));
}

}  // namespace

int run_upgrade(Context& context, const UpgradeOptions& options) {
  const auto& target = context.target(options.target);
  std::vector<std::string> argv = options.command;
  std::filesystem::path cwd;  // a command after -- runs where dbsnap runs; a configured one beside dbsnap.toml
  std::string to;             // the one revision the command must land on; "": any move
  if (argv.empty()) {
    if (!alembic::has_migration_command(target, alembic::Migration::upgrade)) {
      fail(ErrorKind::usage,
           "give the upgrade command after --, e.g. -- flask db upgrade, or set upgrade_command in target '{}'",
           target.name);
    }
    if (!options.to.empty()) {
      if (!alembic::migration_command_takes_revision(target, alembic::Migration::upgrade)) {
        fail(ErrorKind::usage, "--to needs a {} element in target '{}''s upgrade_command", alembic::revision_placeholder,
             target.name);
      }
      to = resolve_upgrade_revision(context, target, options.to);
    }
    // "heads": Alembic's name for every head, which is also right when there is one.
    argv = *alembic::migration_command(target, alembic::Migration::upgrade, to.empty() ? "heads" : to);
    cwd = target.config_dir;
  } else if (!options.to.empty()) {
    fail(ErrorKind::usage, "--to picks the revision of the configured upgrade_command; a command after -- names its own");
  }
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);  // across snapshot, command, restore
  if (options.expect_change == ExpectChange::yes && !to.empty()) {
    if (current_revisions(context, target) == std::vector<std::string>{to}) {
      if (context.globals.json) {
        print_json({{"target", target.name}, {"before", {to}}, {"after", {to}}, {"snapshot", nullptr}});
      } else {
        fmt::print("nothing to upgrade: '{}' is at {} already; the command was not run\n", target.name, to);
      }
      return 0;
    }
  } else if (options.expect_change == ExpectChange::yes) {
    if (auto heads = at_head(context, target)) {
      if (context.globals.json) {
        print_json({{"target", target.name}, {"before", *heads}, {"after", *heads}, {"snapshot", nullptr}});
      } else {
        fmt::print("nothing to upgrade: '{}' is at the head of {} ({}); the command was not run\n", target.name,
                   context.migrations_dir(target).string(), util::revision_text(*heads));
      }
      return 0;
    }
  }
  core::GuardedCommand guarded{
      .argv = argv,
      .cwd = cwd,
      .label = "pre-upgrade",
      .what = "upgrade",
      .to = to,
      .on_failure = options.keep_on_failure ? core::OnFailure::keep : core::OnFailure::restore,
      .output = context.globals.json ? core::CommandOutput::to_stderr : core::CommandOutput::inherit,
      .notes = context.globals.quiet ? core::Notes::quiet : core::Notes::show,
      .judge = [expect = options.expect_change, to](const auto& before, const auto& after) -> std::string {
        if (after.empty() && !before.empty()) return "the database has no Alembic revision afterwards";
        if (!to.empty() && after != std::vector<std::string>{to}) {
          return fmt::format("the revision afterwards is {}, not {}", util::revision_text(after), to);
        }
        if (expect == ExpectChange::yes && before == after) {
          return fmt::format("the revision did not move (still {}; pass --no-expect-change if that is expected)",
                             util::revision_text(after));
        }
        return {};
      }};
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);
  auto result = core::run_guarded(context.store(), target, guarded);
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"before", result.before},
                {"after", result.after},
                {"snapshot", snapshot_ref_json(result.snapshot)}});
    return 0;
  }
  fmt::print("upgraded  '{}': {} -> {}\n", target.name, util::revision_text(result.before),
             util::revision_text(result.after));
  fmt::print("snapshot  {} (pre-upgrade, revision {}); undo with: dbsnap rollback {} --to {}\n", result.snapshot.id,
             util::revision_text(result.before), target.name,
             result.before.empty() ? std::string("<rev>") : result.before.front());
  return 0;
}

void add_upgrade(CLI::App& app, Context& context) {
  auto options = std::make_shared<UpgradeOptions>();
  auto* cmd = add_command(app, context, options, 
      "upgrade", "Run a migration command guarded by a snapshot that is restored if it fails", run_upgrade);
  add_target_argument(*cmd, options->target);
  cmd->add_option("command", options->command,
                  "The upgrade command, after --, e.g. -- flask db upgrade (default: the target's upgrade_command)");
  cmd->add_option("--to", options->to,
                  "With upgrade_command: the revision (or a unique prefix) to upgrade to (default: heads)");
  cmd->add_flag("--keep-on-failure", options->keep_on_failure,
                "Leave a failed upgrade's database as it is for inspection (the snapshot stays listed)");
  cmd->add_flag_callback("--no-expect-change", [options] { options->expect_change = ExpectChange::no; },
                         "Do not treat an unchanged revision as a failure");
}

}  // namespace dbsnap::cli

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_restore(Context& context, const RestoreOptions& options) {
  auto& store = context.store();
  auto manifest = context.resolve(options.snapshot, options.target);
  const auto& target = context.target(options.to.empty() ? manifest.target : options.to);
  engine::Engine& engine = engine::engine_for(target);
  if (engine.name() != manifest.engine) {
    fail(ErrorKind::usage, "snapshot {} is a {} dump; target '{}' uses the {} engine", manifest.id, manifest.engine,
         target.name, engine.name());
  }
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);

  // 1. Verify before anything destructive.
  auto check = core::check_stored(store, manifest);
  if (!check.ok) {
    fail(ErrorKind::corrupt, "snapshot {} failed verification, target '{}' untouched: {}", manifest.id, target.name,
         check.problem);
  }

  // 2. Confirm.
  util::TimePoint created;
  std::string age = util::parse_utc(manifest.created_at, created) ? util::human_age(created, util::now_ms()) : "?";
  confirm_or_refuse(options.confirmation,
                    fmt::format("replace target '{}' with snapshot {} (revision {}, taken {})", target.name,
                                manifest.id, util::revision_text(manifest.revisions), age),
                    "--yes");

  // 3. Safety snapshot of the current state.
  std::string safety_id;
  if (options.safety == SafetySnapshot::take && engine.exists(target, core::work_context(store))) {
    store::Manifest safety;
    try {
      safety = core::take_snapshot(store, target, {.label = "pre-restore"});
    } catch (const DbsnapError& e) {
      if (e.kind() == ErrorKind::interrupted) throw;
      fail(e.kind(), "cannot take the pre-restore safety snapshot, nothing was changed: {}; if the current "
           "database is beyond saving, pass --no-safety-snapshot", e.what());
    }
    safety_id = safety.id;
    fmt::print(stderr, "safety snapshot {} of '{}' taken (revision {})\n", safety.id, target.name,
               util::revision_text(safety.revisions));
  }

  // 4. Restore, all or nothing.
  const auto started = util::now_ms();
  core::restore_snapshot(store, target, manifest);
  const auto revisions = engine.read_revisions(target, core::work_context(store));
  fmt::print("restored  {} into '{}'\n", manifest.id, target.name);
  fmt::print("revision  {}\n", util::revision_text(revisions));
  fmt::print("time      {}\n", util::human_duration(util::now_ms() - started));
  if (!safety_id.empty()) fmt::print("undo with dbsnap restore {} --yes\n", safety_id);
  if (revisions != manifest.revisions) {
    fail(ErrorKind::engine, "after restoring {} target '{}' reports revision {}, the snapshot recorded {}", manifest.id,
         target.name, util::revision_text(revisions), util::revision_text(manifest.revisions));
  }
  return 0;
}

void add_restore(CLI::App& app, Context& context) {
  auto options = std::make_shared<RestoreOptions>();
  auto* cmd = app.add_subcommand("restore", "Verify a snapshot, take a safety snapshot, restore all-or-nothing");
  cmd->add_option("snapshot", options->snapshot, "Id, unique id prefix, 'latest' or @REVISION")->required();
  cmd->add_option("--to", options->to, "Restore into this target (default: the snapshot's own)");
  cmd->add_option("--target", options->target, "Resolve 'latest' and @REVISION among this target's snapshots");
  cmd->add_flag_callback("--yes,-y", [options] { options->confirmation = Confirmation::assume_yes; },
                         "Do not ask for confirmation (required when stdin is not a terminal)");
  cmd->add_flag_callback("--no-safety-snapshot", [options] { options->safety = SafetySnapshot::skip; },
                         "Skip the pre-restore snapshot of the current state");
  cmd->callback([&context, options] { context.exit_code = run_restore(context, *options); });
}

}  // namespace dbsnap::cli

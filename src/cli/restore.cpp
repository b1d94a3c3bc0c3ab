#include <functional>

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
#include "dbsnap/runtime/quiesce.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// restore --to-file: a SQLite snapshot as a new database file beside the
// live one; no target, no lock, no safety snapshot (nothing is replaced), so
// it also works from a read-only store.
int restore_to_file(Context& context, const RestoreOptions& options) {
  if (!options.to.empty()) fail(ErrorKind::usage, "give --to or --to-file, not both");
  auto& store = context.store_for_reading();
  const auto manifest = context.resolve(options.snapshot, options.target);
  if (manifest.engine != "sqlite") {
    fail(ErrorKind::usage, "--to-file takes SQLite snapshots; {} is a {} dump: dbsnap cat {} > dump.sql", manifest.id,
         manifest.engine, manifest.id);
  }
  const auto path = std::filesystem::absolute(options.to_file).lexically_normal();
  const auto started = util::now_ms();
  {
    auto progress = context.progress(fmt::format("restore {}", manifest.id), store::stream_bytes(manifest));
    core::restore_to_file(store, manifest, path, progress.get());
  }
  const auto took = util::now_ms() - started;
  if (context.globals.json) {
    print_json({{"target", nullptr},
                {"file", path.string()},
                {"snapshot", snapshot_ref_json(manifest)},
                {"revisions", manifest.revisions},
                {"safety_snapshot", nullptr},
                {"upgraded_from", nullptr},
                {"duration_ms", took.count()}});
  } else {
    fmt::print("restored  {} to file {}\n", manifest.id, path.string());
    fmt::print("revision  {}\n", util::revision_text(manifest.revisions));
    fmt::print("time      {}\n", util::human_duration(took));
  }
  return 0;
}

// The revision --then-upgrade names, resolved in the target's migrations
// folder: the full id, or "" for the heads (`heads`, `head`).
std::string then_upgrade_revision(const config::Target& target, const std::string& wanted,
                                  const std::optional<alembic::History>& history) {
  if (wanted == "heads" || wanted == "head") return {};
  if (wanted.empty()) fail(ErrorKind::usage, "--then-upgrade takes a revision, heads, or nothing");
  if (!alembic::migration_command_takes_revision(target, alembic::Migration::upgrade)) {
    fail(ErrorKind::usage, "--then-upgrade {} needs a {} element in target '{}''s upgrade_command", wanted,
         alembic::revision_placeholder, target.name);
  }
  return history ? value_or_throw(history->resolve(wanted)) : wanted;
}

// restore --then-upgrade: the snapshot restored and then upgraded with the
// target's upgrade_command, as one guarded move (core/guard's start_from):
// if the restore, the upgrade or the revision read back fails, the database
// is put back as it was before (exit 9). A target with no database yet has
// nothing to put back: the snapshot is restored first, and a failed upgrade
// leaves it restored, not upgraded.
int restore_then_upgrade(Context& context, const RestoreOptions& options, store::Store& store,
                         const store::Manifest& manifest, const config::Target& target) {
  if (options.safety == SafetySnapshot::skip) {
    fail(ErrorKind::usage, "--then-upgrade keeps a pre-restore snapshot to put '{}' back if the upgrade fails; "
         "drop --no-safety-snapshot", target.name);
  }
  if (!store.writable()) {
    fail(ErrorKind::failure, "the store {} cannot be written here, and --then-upgrade keeps its safety snapshots "
         "there; target '{}' untouched", store.location(), target.name);
  }
  if (!alembic::has_migration_command(target, alembic::Migration::upgrade)) {
    fail(ErrorKind::usage, "--then-upgrade runs the target's upgrade_command: set it in target '{}'", target.name);
  }
  std::optional<alembic::History> history;
  if (auto revisions = alembic::load_revisions(context.migrations_dir(target)); revisions && !revisions->empty()) {
    if (auto built = alembic::History::build(std::move(*revisions))) history = std::move(*built);
  }
  const std::string to = then_upgrade_revision(target, *options.then_upgrade, history);
  const std::vector<std::string> heads = history ? history->heads() : std::vector<std::string>{};
  const std::vector<std::string> landing = to.empty() ? heads : std::vector<std::string>{to};
  if (!landing.empty() && manifest.revisions == landing) {
    fail(ErrorKind::usage, "snapshot {} is at {} already: nothing to upgrade; restore it without --then-upgrade",
         manifest.id, util::revision_text(landing));
  }
  if (history && manifest.revisions.size() == 1) {
    const std::string& at = manifest.revisions.front();
    for (const auto& goal : landing) {
      if (history->find(at) != nullptr && !history->is_ancestor(at, goal)) {
        fail(ErrorKind::usage, "snapshot {} is at {}, which is not below {}: upgrading it cannot land there",
             manifest.id, at, goal);
      }
    }
  }
  auto checking = context.progress(fmt::format("check {}", manifest.id), store::stream_bytes(manifest));
  auto check = core::check_stored(store, manifest, checking.get());
  checking.reset();
  if (!check.ok) {
    fail(ErrorKind::corrupt, "snapshot {} failed verification, target '{}' untouched: {}", manifest.id, target.name,
         check.problem);
  }
  const std::string goal_text = to.empty() ? "the heads" : to;
  confirm_or_refuse(options.confirmation,
                    fmt::format("replace target '{}' with snapshot {} (revision {}) and upgrade it to {}", target.name,
                                manifest.id, util::revision_text(manifest.revisions), goal_text),
                    "--yes");
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);
  const auto started = util::now_ms();
  const auto from = manifest.revisions;
  auto result = core::run_guarded(
      store, target,
      {.argv = *alembic::migration_command(target, alembic::Migration::upgrade, to.empty() ? "heads" : to),
       .cwd = target.config_dir,
       .label = "pre-restore",
       .what = "upgrade",
       .to = to,
       .output = context.globals.json ? core::CommandOutput::to_stderr : core::CommandOutput::inherit,
       .notes = context.globals.quiet ? core::Notes::quiet : core::Notes::show,
       .judge = [landing, from](const auto&, const auto& after) -> std::string {
         if (!landing.empty() && after != landing) {
           return fmt::format("the revision afterwards is {}, not {}", util::revision_text(after),
                              util::revision_text(landing));
         }
         if (landing.empty() && after == from) {
           return fmt::format("the revision did not move (still {})", util::revision_text(after));
         }
         return {};
       },
       .start_from = manifest});
  const auto took = util::now_ms() - started;
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"snapshot", snapshot_ref_json(manifest)},
                {"revisions", result.after},
                {"file", nullptr},
                {"safety_snapshot", result.fresh ? nlohmann::json(nullptr) : snapshot_ref_json(result.snapshot)},
                {"upgraded_from", from},
                {"duration_ms", took.count()}});
    return 0;
  }
  fmt::print("restored  {} into '{}'\n", manifest.id, target.name);
  fmt::print("upgraded  {} -> {}\n", util::revision_text(from), util::revision_text(result.after));
  fmt::print("time      {}\n", util::human_duration(took));
  if (!result.fresh) fmt::print("undo with dbsnap restore {} --yes\n", result.snapshot.id);
  return 0;
}

}  // namespace

int run_restore(Context& context, const RestoreOptions& options) {
  if (!options.to_file.empty() && options.then_upgrade) fail(ErrorKind::usage, "give --then-upgrade or --to-file, not both");
  if (!options.to_file.empty()) return restore_to_file(context, options);
  // A store this process cannot write (a mounted backup disk) opens read-only:
  // it is restored from, but the safety snapshot cannot be kept in it.
  auto& store = context.store_for_reading();
  auto manifest = context.resolve(options.snapshot, options.target);
  const auto& target = context.target(options.to.empty() ? manifest.target : options.to);
  engine::Engine& engine = engine::engine_for(target);
  if (engine.name() != manifest.engine) {
    fail(ErrorKind::usage, "snapshot {} is a {} dump; target '{}' uses the {} engine", manifest.id, manifest.engine,
         target.name, engine.name());
  }
  if (!store.writable() && options.safety == SafetySnapshot::take &&
      engine.exists(target, core::work_context(store))) {
    fail(ErrorKind::failure, "the store {} cannot be written here, so the pre-restore safety snapshot of '{}' cannot "
         "be kept in it; target '{}' untouched; pass --no-safety-snapshot to restore without one (or back it up "
         "to a writable store first: dbsnap --store DIR backup {})", store.location(), target.name, target.name,
         target.name);
  }
  if (manifest.status == "damaged" && options.damaged == Damaged::refuse) {
    fail(ErrorKind::corrupt, "snapshot {} was marked damaged by 'dbsnap verify'{}; target '{}' untouched; "
         "--force tries it anyway (it is checked again as it streams)", manifest.id,
         manifest.verified_at.empty() ? std::string() : " at " + manifest.verified_at, target.name);
  }
  if (options.then_upgrade) return restore_then_upgrade(context, options, store, manifest, target);
  const auto lock = context.lock_target(target.name, store::LockMode::exclusive);

  // 1. Check the stored file before asking or taking a safety snapshot. The
  // restore checks the stream again before its engine commits, so with
  // neither a question nor a safety snapshot ahead this read is skipped.
  if (options.safety == SafetySnapshot::take || options.confirmation != Confirmation::assume_yes) {
    auto checking = context.progress(fmt::format("check {}", manifest.id), store::stream_bytes(manifest));
    auto check = core::check_stored(store, manifest, checking.get());
    checking.reset();
    if (!check.ok) {
      fail(ErrorKind::corrupt, "snapshot {} failed verification, target '{}' untouched: {}", manifest.id,
           target.name, check.problem);
    }
  }

  // 2. Confirm.
  util::TimePoint created;
  std::string age = util::parse_utc(manifest.created_at, created) ? util::human_age(created, util::now_ms()) : "?";
  confirm_or_refuse(options.confirmation,
                    fmt::format("replace target '{}' with snapshot {} (revision {}, taken {})", target.name,
                                manifest.id, util::revision_text(manifest.revisions), age),
                    "--yes");

  // 3. The app's writers stopped (stop_containers, pause_containers) until the end, whatever happens.
  const auto quiet_apps = runtime::QuietApps::begin(target, context.globals.quiet);

  // 4. Restore, all or nothing, with a safety snapshot of the current state taken where nothing can
  // commit between it and the restore when the engine allows it (SQLite), else right before.
  std::string safety_id;
  nlohmann::json safety_json = nullptr;
  std::function<void()> safety;
  std::unique_ptr<pipeline::Progress> restoring;
  if (options.safety == SafetySnapshot::take && store.writable() && engine.exists(target, core::work_context(store))) {
    safety = [&] {
      // Inside the engine's commit, the restore's own line is done: erase it for this one.
      if (restoring && engine.locks_before_commit(target)) restoring->finish();
      store::Manifest taken;
      try {
        auto progress = context.progress(fmt::format("safety snapshot of '{}'", target.name));
        taken = core::take_snapshot(store, target,
                                    {.label = "pre-restore", .taken = core::Taken::by_dbsnap, .progress = progress.get()});
      } catch (const DbsnapError& e) {
        if (e.kind() == ErrorKind::interrupted) throw;
        fail(e.kind(), "cannot take the pre-restore safety snapshot, nothing was changed: {}; if the current "
             "database is beyond saving, pass --no-safety-snapshot", e.what());
      }
      safety_id = taken.id;
      safety_json = snapshot_ref_json(taken);
      context.note("safety snapshot {} of '{}' taken (revision {})", taken.id, target.name,
                   util::revision_text(taken.revisions));
    };
  }
  const auto started = util::now_ms();
  std::vector<std::string> revisions;
  restoring = context.progress(fmt::format("restore {}", manifest.id), store::stream_bytes(manifest));
  revisions = core::restore_snapshot(store, target, manifest, restoring.get(), safety);
  restoring.reset();
  if (store.writable()) forget_unfinished_move(context, target.name);
  const auto took = util::now_ms() - started;
  if (context.globals.json) {
    print_json({{"target", target.name},
                {"snapshot", snapshot_ref_json(manifest)},
                {"revisions", revisions},
                {"file", nullptr},
                {"safety_snapshot", safety_json},
                {"upgraded_from", nullptr},
                {"duration_ms", took.count()}});
  } else {
    fmt::print("restored  {} into '{}'\n", manifest.id, target.name);
    fmt::print("revision  {}\n", util::revision_text(revisions));
    fmt::print("time      {}\n", util::human_duration(took));
    if (!safety_id.empty()) fmt::print("undo with dbsnap restore {} --yes\n", safety_id);
  }
  if (revisions != manifest.revisions) {
    fail(ErrorKind::engine, "after restoring {} target '{}' reports revision {}, the snapshot recorded {}", manifest.id,
         target.name, util::revision_text(revisions), util::revision_text(manifest.revisions));
  }
  return 0;
}

void add_restore(CLI::App& app, Context& context) {
  auto options = std::make_shared<RestoreOptions>();
  auto* cmd = add_command(app, context, options, "restore",
                          "Verify a snapshot, take a safety snapshot, restore all-or-nothing", run_restore);
  cmd->add_option("snapshot", options->snapshot, "Id, unique id prefix, 'latest' or @REVISION")->required();
  cmd->add_option("--to", options->to, "Restore into this target (default: the snapshot's own)");
  cmd->add_option("--to-file", options->to_file,
                  "Write a SQLite snapshot to this new file instead (never over an existing one; no target changes)");
  add_scope_option(*cmd, options->target);
  add_yes_flag(*cmd, options->confirmation, "Do not ask for confirmation (required when stdin is not a terminal)");
  cmd->add_flag_callback("--force", [options] { options->damaged = Damaged::try_anyway; },
                         "Try a snapshot that 'dbsnap verify' marked damaged (it is checked again as it streams)");
  cmd->add_flag_callback("--no-safety-snapshot", [options] { options->safety = SafetySnapshot::skip; },
                         "Skip the pre-restore snapshot of the current state");
  cmd->add_option_function<std::string>(
         "--then-upgrade", [options](const std::string& revision) { options->then_upgrade = revision; },
         "Then upgrade it with the target's upgrade_command, to REV (or the heads), as one guarded move: any "
         "failure puts the database back as it was")
      ->expected(0, 1)
      ->default_str("heads")
      ->type_name("[REV]");
}

}  // namespace dbsnap::cli

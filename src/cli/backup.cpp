#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/cli/prune.hpp"
#include "dbsnap/config/hooks.hpp"
#include "dbsnap/config/retention.hpp"
#include "dbsnap/core/copy.hpp"
#include "dbsnap/core/hooks.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/store/failure_record.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// After a backup: the target's retention policy, if it sets one. The backup
// stands whatever happens here; a failure is said, not hidden.
void apply_target_retention(Context& context, const config::Target& target, const store::RetentionPolicy& policy,
                            const std::string& just_taken) {
  try {
    const auto result =
        apply_retention(context, target.name, policy, PruneRun::remove, store::LastOfRevision::keep, just_taken);
    if (context.globals.quiet || result.removed.empty()) return;
    std::vector<std::string> ids;
    for (const auto& entry : result.removed) ids.push_back(entry.value("id", ""));
    fmt::print(stderr, "dbsnap: retention (keep_* of '{}' in dbsnap.toml): removed {} snapshot(s): {}; kept {}\n",
               target.name, ids.size(), util::join(ids, ", "), result.kept.size());
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted) throw;
    fmt::print(stderr, "dbsnap: warning: the backup is published, but the retention policy of '{}' was not "
               "applied: {}\n", target.name, e.what());
  }
}

// After a backup: its copy to the target's copy_to store. The backup stands
// whatever happens; a failed copy is returned, and fails the command once
// the backup is reported.
struct CopyAfterBackup {
  nlohmann::json json;
  std::optional<DbsnapError> error;
};

CopyAfterBackup copy_after_backup(Context& context, const store::Manifest& snapshot, const std::string& to) {
  CopyAfterBackup out;
  try {
    auto destination = context.open_copy_destination(context.store(), to);
    auto progress = context.progress(fmt::format("copy {}", snapshot.id), store::stream_bytes(snapshot));
    const auto result = core::copy_snapshot(context.store(), snapshot, destination, progress.get());
    progress.reset();
    const bool copied = result.outcome == core::CopyOutcome::copied;
    out.json = {{"destination", destination.location()},
                {"outcome", copied ? "copied" : "present"},
                {"new_bytes", copied ? result.copy.stored_bytes : 0}};
    if (copied) {
      context.note("copied {} to {} ({} new there)", snapshot.id, destination.location(),
                   util::human_bytes(result.copy.stored_bytes));
    }
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted) throw;
    out.error = DbsnapError(e.kind(), fmt::format("snapshot {} is published, but its copy to {} (copy_to) failed: {} "
                                                  "(dbsnap copy {} --to {} tries again)",
                                                  snapshot.id, to, e.what(), snapshot.id, to));
  }
  return out;
}

// After a failed backup: the record `dbsnap metrics` reports, the failure
// ping and on_failure_command. Each says so on stderr when it fails itself.
void after_failure(Context& context, const config::Target& target, const config::Hooks& hooks, ErrorKind kind,
                   const std::string& message) {
  const int exit_code = kind == ErrorKind::interrupted ? util::interrupted_exit_code() : static_cast<int>(kind);
  // Only in a store that opened for writing: when the failure is the store
  // itself (it does not open, it is read-only), the error already says so.
  if (auto* store = context.opened_store(); store && store->writable()) {
    if (auto r = store::write_failure_record(store->root(), target.name,
                                             {.at = util::format_utc(util::now_ms()), .exit_code = exit_code,
                                              .message = message});
        !r) {
      fmt::print(stderr, "dbsnap: warning: cannot record the failure for dbsnap metrics: {}\n", r.error().message);
    }
  }
  core::ping(target, hooks, core::HookEvent::failure, message);
  core::run_failure_command(target, hooks, exit_code, message);
}

// The backup itself: snapshot, retention, copy_to, the report on stdout.
// Returns the summary (a failure ping's POST body says the error instead).
std::string back_up(Context& context, const config::Target& target, const BackupOptions& options,
                    const store::RetentionPolicy& policy) {
  const auto lock = context.lock_target(target.name, store::LockMode::shared);
  core::SnapshotOptions snapshot;
  snapshot.label = options.label;
  snapshot.level = options.level;
  snapshot.pin = options.pin;
  auto progress = context.progress(fmt::format("backup '{}'", target.name));
  snapshot.progress = progress.get();
  auto manifest = core::take_snapshot(context.store(), target, snapshot);
  progress.reset();
  if (!policy.empty()) apply_target_retention(context, target, policy, manifest.id);
  std::optional<CopyAfterBackup> copy;
  if (const auto to = config::copy_destination(context.config(), target); !to.empty()) {
    copy = copy_after_backup(context, manifest, to);
  }
  std::string summary = snapshot_summary(manifest);
  if (context.globals.json) {
    auto document = snapshot_json(context.store(), manifest);
    if (copy && !copy->error) document["copy"] = copy->json;
    print_json(document);
  } else {
    fmt::print("{}", summary);
    if (!manifest.label.empty()) fmt::print("label     {}\n", manifest.label);
  }
  if (copy && copy->error) throw *copy->error;
  return summary;
}

}  // namespace

int run_backup(Context& context, const BackupOptions& options) {
  const auto& target = context.target(options.target);
  const auto policy = value_or_throw(config::retention_of(target));  // a bad key fails before the backup
  const auto hooks = value_or_throw(config::hooks_of(target));
  core::ping(target, hooks, core::HookEvent::start, fmt::format("dbsnap backup {} started", target.name));
  try {
    const std::string summary = back_up(context, target, options, policy);
    core::ping(target, hooks, core::HookEvent::success, summary);
  } catch (const DbsnapError& e) {
    after_failure(context, target, hooks, e.kind(), e.what());
    throw;
  } catch (const std::exception& e) {
    after_failure(context, target, hooks, ErrorKind::failure, e.what());
    throw;
  }
  return 0;
}

void add_backup(CLI::App& app, Context& context) {
  auto options = std::make_shared<BackupOptions>();
  auto* cmd = add_command(app, context, options, "backup",
                          "Take a snapshot of a target: dump, SHA-256, zstd, publish", run_backup);
  add_target_argument(*cmd, options->target);
  cmd->add_option("--label", options->label, "Free text stored with the snapshot");
  cmd->add_option("--level", options->level, "zstd compression level 1-19 (default: the target's 'level' key, else 1)")
      ->check(CLI::Range(pipeline::zstd_min_level(), pipeline::zstd_max_level()));
  cmd->add_flag("--pin", options->pin, "Pin the snapshot: prune always keeps it, delete refuses it (dbsnap unpin)");
}

}  // namespace dbsnap::cli

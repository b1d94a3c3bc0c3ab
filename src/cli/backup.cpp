#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"

namespace dbsnap::cli {

int run_backup(Context& context, const BackupOptions& options) {
  const auto& target = context.target(options.target);
  const auto lock = context.lock_target(target.name, store::LockMode::shared);
  core::SnapshotOptions snapshot;
  snapshot.label = options.label;
  snapshot.level = options.level;
  snapshot.pin = options.pin;
  auto progress = context.progress(fmt::format("backup '{}'", target.name));
  snapshot.progress = progress.get();
  auto manifest = core::take_snapshot(context.store(), target, snapshot);
  progress.reset();
  if (context.globals.json) {
    print_json(snapshot_json(context.store(), manifest));
  } else {
    fmt::print("{}", snapshot_summary(manifest));
    if (!manifest.label.empty()) fmt::print("label     {}\n", manifest.label);
  }
  return 0;
}

void add_backup(CLI::App& app, Context& context) {
  auto options = std::make_shared<BackupOptions>();
  auto* cmd = app.add_subcommand("backup", "Take a snapshot of a target: dump, SHA-256, zstd, publish");
  cmd->add_option("target", options->target, "Target name from dbsnap.toml")->required();
  cmd->add_option("--label", options->label, "Free text stored with the snapshot");
  cmd->add_option("--level", options->level, "zstd compression level 1-19 (default: the target's 'level' key, else 1)")
      ->check(CLI::Range(pipeline::zstd_min_level(), pipeline::zstd_max_level()));
  cmd->add_flag("--pin", options->pin, "Pin the snapshot: prune always keeps it, delete refuses it (dbsnap unpin)");
  cmd->callback([&context, options] { context.exit_code = run_backup(context, *options); });
}

}  // namespace dbsnap::cli

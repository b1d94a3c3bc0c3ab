
#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/reclaim.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/cli/prune.hpp"
#include "dbsnap/config/retention.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

PruneResult apply_retention(Context& context, const std::string& target, const store::RetentionPolicy& policy,
                            PruneRun run, store::LastOfRevision last_of_revision, const std::string& just_taken) {
  auto& store = context.store();
  auto snapshots = value_or_throw(store.find({.target = target}));  // newest first
  auto reasons = value_or_throw(store::retained(snapshots, policy, util::now_ms(), last_of_revision));
  if (!just_taken.empty()) reasons[just_taken].push_back("just taken");
  PruneResult result;
  for (const auto& m : snapshots) {
    auto entry = snapshot_ref_json(m);
    entry["stored_bytes"] = m.stored_bytes;
    if (auto it = reasons.find(m.id); it != reasons.end()) {
      entry["reasons"] = it->second;
      result.kept.push_back(std::move(entry));
      continue;
    }
    if (run == PruneRun::remove) value_or_throw(store.remove(m));
    result.removed.push_back(std::move(entry));
    if (m.layout == store::DataLayout::blob) result.freed += m.stored_bytes;  // chunks: what reclaim_space() reports
  }
  // Chunked snapshots free their space when nothing else lists their chunks:
  // what garbage collection frees is known only once it ran.
  // `prune` always collects (a killed backup's packs go too); after a backup, only when it removed something.
  if (run == PruneRun::remove && (just_taken.empty() || !result.removed.empty())) {
    result.reclaimed = reclaim_space(context);
  }
  if (result.reclaimed.is_object()) result.freed += result.reclaimed.value("bytes_freed", std::uint64_t{0});
  return result;
}

int run_prune(Context& context, const PruneOptions& options) {
  const auto& target = context.target(options.target);  // an unknown target is an error, not "nothing to prune"
  store::RetentionPolicy policy{.keep_last = options.keep_last,
                                .keep_per_revision = options.keep_per_revision,
                                .keep_daily = options.keep_daily,
                                .keep_weekly = options.keep_weekly,
                                .keep_monthly = options.keep_monthly,
                                .keep_within = options.keep_within};
  if (policy.empty()) policy = value_or_throw(config::retention_of(target));  // the target's own, from dbsnap.toml
  if (policy.empty()) {
    fail(ErrorKind::usage, "say what to keep: --keep-last N, --keep-per-revision N, --keep-within AGE, --keep-daily N, "
         "--keep-weekly N and/or --keep-monthly N, or set keep_* keys in target '{}'", target.name);
  }
  const auto result = apply_retention(context, target.name, policy,
                                      options.dry_run ? PruneRun::dry_run : PruneRun::remove,
                                      options.force ? store::LastOfRevision::drop : store::LastOfRevision::keep);
  if (context.globals.json) {
    print_json({{"target", options.target},
                {"dry_run", options.dry_run},
                {"removed", result.removed},
                {"kept", result.kept},
                {"freed_bytes", result.freed},
                {"reclaimed", options.dry_run ? nlohmann::json(nullptr) : result.reclaimed}});
    return 0;
  }
  // Newest first, removed and kept interleaved by creation time.
  auto line_of = [](const nlohmann::json& entry) {
    return fmt::format("{}  {}  {}", entry.value("id", ""),
                       util::revision_text(entry.value("revisions", std::vector<std::string>{})),
                       util::display_time(entry.value("created_at", "")));
  };
  auto removed = result.removed.begin();
  auto kept = result.kept.begin();
  while (removed != result.removed.end() || kept != result.kept.end()) {
    const bool take_kept = removed == result.removed.end() ||
                           (kept != result.kept.end() &&
                            kept->value("created_at", "") >= removed->value("created_at", ""));
    if (take_kept) {
      fmt::print("keep    {}  {}\n", line_of(*kept),
                 util::join(kept->value("reasons", std::vector<std::string>{}), "; "));
      ++kept;
    } else {
      fmt::print("{}  {}\n", options.dry_run ? "would remove" : "remove ", line_of(*removed));
      ++removed;
    }
  }
  if (options.dry_run) {
    fmt::print("would remove {} snapshot(s) ({} in blobs; chunks only they list are reclaimed when they go); kept {}\n",
               result.removed.size(), util::human_bytes(result.freed), result.kept.size());
  } else {
    fmt::print("removed {} snapshot(s), {} freed; kept {}\n", result.removed.size(), util::human_bytes(result.freed),
               result.kept.size());
  }
  return 0;
}

void add_prune(CLI::App& app, Context& context) {
  auto options = std::make_shared<PruneOptions>();
  auto* cmd = add_command(app, context, options, 
      "prune", "Delete old snapshots of a target by retention rules (default: the target's keep_* keys)", run_prune);
  add_target_argument(*cmd, options->target);
  cmd->add_option("--keep-last", options->keep_last, "Keep the newest N snapshots")->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-per-revision", options->keep_per_revision, "Keep the newest N snapshots of each revision")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-within", options->keep_within, "Keep snapshots younger than AGE (30m, 12h, 7d, 2w)");
  cmd->add_option("--keep-daily", options->keep_daily, "Keep the newest snapshot of each of the last N days")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-weekly", options->keep_weekly, "Keep the newest snapshot of each of the last N weeks")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-monthly", options->keep_monthly, "Keep the newest snapshot of each of the last N months")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", options->dry_run, "Print what would be removed and why the rest is kept");
  cmd->add_flag("--force", options->force, "Also remove the only snapshot left of a revision");
}

}  // namespace dbsnap::cli

#include <map>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/reclaim.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// "7d", "12h", "30m", "2w" -> milliseconds.
std::chrono::milliseconds parse_age(const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  static const std::map<std::string, long long> seconds = {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
  auto it = seconds.find(unit);
  if (used == 0 || value < 0 || it == seconds.end()) {
    fail(ErrorKind::usage, "--keep-within '{}': expected a number and a unit (s, m, h, d, w), e.g. 7d", text);
  }
  return std::chrono::milliseconds(value * it->second * 1000);
}

}  // namespace

int run_prune(Context& context, const PruneOptions& options) {
  if (options.keep_last < 0 && options.keep_per_revision < 0 && options.keep_within.empty()) {
    fail(ErrorKind::usage, "say what to keep: --keep-last N, --keep-per-revision N and/or --keep-within AGE");
  }
  auto& store = context.store();
  context.target(options.target);  // an unknown target is an error, not "nothing to prune"
  auto snapshots = value_or_throw(store.find({.target = options.target}));  // newest first
  std::map<std::string, std::vector<std::string>> reasons;
  for (const auto& m : snapshots) {
    if (m.pinned) reasons[m.id].push_back("pinned (dbsnap unpin releases it)");
  }
  if (options.keep_last >= 0) {
    for (std::size_t i = 0; i < snapshots.size() && i < static_cast<std::size_t>(options.keep_last); ++i) {
      reasons[snapshots[i].id].push_back(fmt::format("newest {}", options.keep_last));
    }
  }
  if (options.keep_per_revision >= 0) {
    std::map<std::string, int> seen;
    for (const auto& m : snapshots) {
      if (seen[util::revision_text(m.revisions)]++ < options.keep_per_revision) {
        reasons[m.id].push_back(fmt::format("newest {} at its revision", options.keep_per_revision));
      }
    }
  }
  if (!options.keep_within.empty()) {
    const auto cutoff = util::now_ms() - parse_age(options.keep_within);
    for (const auto& m : snapshots) {
      util::TimePoint created;
      if (util::parse_utc(m.created_at, created) && created >= cutoff) {
        reasons[m.id].push_back("within " + options.keep_within);
      }
    }
  }
  if (!options.force) {
    // Never drop the last snapshot of a revision: it may be the only way back to it.
    std::set<std::string> covered;
    for (const auto& m : snapshots) {
      if (reasons.contains(m.id)) covered.insert(util::revision_text(m.revisions));
    }
    for (const auto& m : snapshots) {
      const auto revision = util::revision_text(m.revisions);
      if (!covered.contains(revision)) {
        reasons[m.id].push_back("only snapshot left at revision " + revision + " (--force drops it)");
        covered.insert(revision);
      }
    }
  }
  const bool json = context.globals.json;
  std::size_t removed = 0;
  std::uint64_t freed = 0;
  auto kept_json = nlohmann::json::array();
  auto removed_json = nlohmann::json::array();
  for (const auto& m : snapshots) {
    const auto revision = util::revision_text(m.revisions);
    auto it = reasons.find(m.id);
    if (it != reasons.end()) {
      if (json) {
        auto entry = snapshot_ref_json(m);
        entry["stored_bytes"] = m.stored_bytes;
        entry["reasons"] = it->second;
        kept_json.push_back(std::move(entry));
      } else {
        fmt::print("keep    {}  {}  {}  {}\n", m.id, revision, util::display_time(m.created_at), util::join(it->second, "; "));
      }
      continue;
    }
    if (!json) {
      fmt::print("{}  {}  {}  {}\n", options.dry_run ? "would remove" : "remove ", m.id, revision,
                 util::display_time(m.created_at));
    }
    if (!options.dry_run) value_or_throw(store.remove(m));
    if (json) {
      auto entry = snapshot_ref_json(m);
      entry["stored_bytes"] = m.stored_bytes;
      removed_json.push_back(std::move(entry));
    }
    ++removed;
    if (m.layout == store::DataLayout::blob) freed += m.stored_bytes;  // chunks: what reclaim_space() reports
  }
  // Chunked snapshots free their space when nothing else lists their chunks:
  // what garbage collection frees is known only once it ran.
  const nlohmann::json reclaimed = options.dry_run ? nlohmann::json(nullptr) : reclaim_space(context);
  if (reclaimed.is_object()) freed += reclaimed.value("bytes_freed", std::uint64_t{0});
  if (json) {
    print_json({{"target", options.target},
                {"dry_run", options.dry_run},
                {"removed", removed_json},
                {"kept", kept_json},
                {"freed_bytes", freed},
                {"reclaimed", reclaimed}});
    return 0;
  }
  if (options.dry_run) {
    fmt::print("would remove {} snapshot(s) ({} in blobs; chunks only they list are reclaimed when they go); kept {}\n",
               removed, util::human_bytes(freed), snapshots.size() - removed);
  } else {
    fmt::print("removed {} snapshot(s), {} freed; kept {}\n", removed, util::human_bytes(freed),
               snapshots.size() - removed);
  }
  return 0;
}

void add_prune(CLI::App& app, Context& context) {
  auto options = std::make_shared<PruneOptions>();
  auto* cmd = app.add_subcommand("prune", "Delete old snapshots of a target by retention rules");
  cmd->add_option("target", options->target, "Target name from dbsnap.toml")->required();
  cmd->add_option("--keep-last", options->keep_last, "Keep the newest N snapshots")->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-per-revision", options->keep_per_revision, "Keep the newest N snapshots of each revision")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-within", options->keep_within, "Keep snapshots younger than AGE (30m, 12h, 7d, 2w)");
  cmd->add_flag("--dry-run", options->dry_run, "Print what would be removed and why the rest is kept");
  cmd->add_flag("--force", options->force, "Also remove the only snapshot left of a revision");
  cmd->callback([&context, options] { context.exit_code = run_prune(context, *options); });
}

}  // namespace dbsnap::cli

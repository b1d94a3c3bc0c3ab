#include <algorithm>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/core/trial.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace {

// The manifest fields (blob.* and versions.* by their full name) in which a
// manifest file and its catalog row differ.
std::vector<std::string> manifest_differences(const store::Manifest& file, const store::Manifest& indexed) {
  const auto a = store::to_json(file).flatten();
  const auto b = store::to_json(indexed).flatten();
  std::vector<std::string> fields;
  auto name = [](const std::string& pointer) {
    std::string out = pointer.substr(1);
    std::replace(out.begin(), out.end(), '/', '.');
    return out;
  };
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key()) || b.at(it.key()) != it.value()) fields.push_back(name(it.key()));
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) fields.push_back(name(it.key()));
  }
  std::sort(fields.begin(), fields.end());
  fields.erase(std::unique(fields.begin(), fields.end()), fields.end());
  return fields;
}

// The snapshots a verify is about: those named, --all, or each target's
// newest snapshot taken by the user (--latest-per-target).
std::vector<store::Manifest> chosen_snapshots(Context& context, store::Store& store, const VerifyOptions& options) {
  const int ways = int(options.all) + int(options.latest_per_target) + int(!options.snapshots.empty());
  if (ways > 1) fail(ErrorKind::usage, "give snapshots, --all or --latest-per-target, not several");
  std::vector<store::Manifest> snapshots;
  if (options.latest_per_target) {
    std::set<std::string> seen;
    for (auto& m : value_or_throw(store.find({.target = options.target}))) {  // newest first
      if (!m.automatic && seen.insert(m.target).second) snapshots.push_back(std::move(m));
    }
  } else if (options.all || (options.repository && options.snapshots.empty())) {
    snapshots = value_or_throw(store.find({.target = options.target}));
  } else {
    if (options.snapshots.empty()) {
      fail(ErrorKind::usage, "name the snapshots to verify, or pass --all or --latest-per-target");
    }
    for (const auto& reference : options.snapshots) snapshots.push_back(context.resolve(reference, options.target));
  }
  return snapshots;
}

// verify --restore: a test restore of each snapshot into a scratch copy
// beside its target's database (core::test_restore), recorded in its
// manifest (restore_tested_at, and the status) when it passed.
int run_verify_restore(Context& context, const VerifyOptions& options) {
  auto& store = context.store_for_reading();
  const auto snapshots = chosen_snapshots(context, store, options);
  std::vector<std::string> bad;
  std::size_t tested = 0;
  auto report = nlohmann::json::array();
  for (auto m : snapshots) {
    const auto& targets = context.config().targets;
    auto configured = targets.find(options.to.empty() ? m.target : options.to);
    if (!options.to.empty() && configured == targets.end()) context.target(options.to);  // the config error
    if (configured == targets.end()) {
      // A named snapshot must be tested; --all skips what it cannot test, and says so.
      if (!options.snapshots.empty()) {
        fail(ErrorKind::config, "snapshot {}: target '{}' is not in the config; a test restore needs its database "
             "server", m.id, m.target);
      }
      context.note("skipped {}: target '{}' is not in the config", m.id, m.target);
      if (context.globals.json) {
        report.push_back({{"id", m.id}, {"target", m.target}, {"ok", nullptr}, {"problem", "target not configured"}});
      }
      continue;
    }
    auto progress = context.progress(fmt::format("test restore {}", m.id), store::stream_bytes(m));
    const auto outcome = core::test_restore(store, configured->second, m, progress.get());
    progress.reset();
    ++tested;
    const std::string now = util::format_utc(util::now_ms());
    if (outcome.ok || outcome.damaged) {
      m.status = outcome.ok ? "verified" : "damaged";
      m.verified_at = now;
      if (outcome.ok) m.restore_tested_at = now;
      if (auto r = store.update(m); !r) {
        fmt::print(stderr, "dbsnap: warning: cannot record the result: {}\n", r.error().message);
      }
    }
    std::string detail;
    if (outcome.ok) {
      detail = fmt::format("restored into {}: revision {}", outcome.where, util::revision_text(outcome.revisions));
      detail += outcome.rows_recorded
                    ? fmt::format(", {} table{} with {} row{} as counted at backup time", outcome.tables,
                                  outcome.tables == 1 ? "" : "s", outcome.rows, outcome.rows == 1 ? "" : "s")
                    : ", row counts not compared (the snapshot predates them)";
    }
    if (context.globals.json) {
      report.push_back({{"id", m.id},
                        {"target", m.target},
                        {"ok", outcome.ok},
                        {"problem", outcome.problem},
                        {"restore",
                         {{"where", outcome.where},
                          {"revisions", outcome.revisions},
                          {"rows_compared", outcome.rows_recorded},
                          {"tables", outcome.tables},
                          {"rows", outcome.rows},
                          {"damaged", outcome.damaged}}}});
    } else if (outcome.ok) {
      fmt::print("ok   {}  {}  {}\n", m.id, m.target, detail);
    } else {
      fmt::print("BAD  {}  {}  {}\n", m.id, m.target, outcome.problem);
    }
    if (!outcome.ok) bad.push_back(m.id);
  }
  if (context.globals.json) print_json(report);
  if (!bad.empty()) {
    fail(ErrorKind::corrupt, "{} of {} snapshots failed their test restore: {}", bad.size(), tested,
         util::join(bad, ", "));
  }
  if (!context.globals.json && tested == 0) context.note("no snapshots to test");
  return 0;
}

}  // namespace

int run_verify(Context& context, const VerifyOptions& options) {
  if (options.restore) {
    if (options.repository) fail(ErrorKind::usage, "--restore and --repository do not go together");
    return run_verify_restore(context, options);
  }
  if (options.latest_per_target || !options.to.empty()) {
    fail(ErrorKind::usage, "--latest-per-target and --to go with --restore");
  }
  auto& store = context.store_for_reading();
  remove_restore_leftovers(context);
  auto snapshots = chosen_snapshots(context, store, options);
  // --repository: the packs are read once, and a chunked snapshot is sound
  // when its list matches its manifest and every chunk it lists read back sound.
  std::optional<store::RepositoryCheck> repository;
  if (options.repository) {
    auto progress = context.progress("verify the repository", 0);
    repository = value_or_throw(store.check_repository(progress.get()));
    progress.reset();
    for (const auto& problem : repository->packs.problems) context.note("repository: {}", problem);
    context.note("repository: {} pack(s), {} chunk(s), {} read and checked; {} chunk(s) ({}) no snapshot lists, "
                 "which the next delete or prune reclaims", repository->packs.packs, repository->packs.chunks,
                 util::human_bytes(repository->packs.stored_bytes), repository->unreferenced_chunks,
                 util::human_bytes(repository->unreferenced_bytes));
  }
  std::vector<std::string> bad;
  auto report = nlohmann::json::array();
  for (auto& indexed : snapshots) {
    // The manifest file is the truth: check the blob against it, and report
    // a catalog row that says something else (never rewrite one from the other).
    core::VerifyResult result;
    auto file = store.load_manifest(indexed);
    std::string differs;
    if (!file) {
      result.problem = file.error().message;
    } else if (auto fields = manifest_differences(*file, indexed); !fields.empty()) {
      differs = fmt::format("its manifest file differs from the catalog in {}; 'dbsnap catalog rebuild' re-indexes "
                            "the store from its manifests", util::join(fields, ", "));
    }
    store::Manifest m = file ? *file : indexed;
    if (file && repository && m.layout == store::DataLayout::chunks) {
      auto affected = repository->affected.find(m.id);
      result.ok = affected == repository->affected.end();
      if (!result.ok) result.problem = affected->second;
    } else if (file) {
      auto progress = context.progress(fmt::format("verify {}", m.id), store::stream_bytes(m));
      result = core::verify_snapshot(store, m, progress.get());
      progress.reset();
    }
    if (!differs.empty()) {
      result.problem = result.ok ? differs : result.problem + "; " + differs;
      result.ok = false;
    } else if (file) {
      m.status = result.ok ? "verified" : "damaged";
      m.verified_at = util::format_utc(util::now_ms());
      if (auto r = store.update(m); !r) fmt::print(stderr, "warning: cannot record the result: {}\n", r.error().message);
    }
    if (context.globals.json) {
      report.push_back({{"id", m.id}, {"target", m.target}, {"ok", result.ok}, {"problem", result.problem}});
    } else if (result.ok) {
      fmt::print("ok   {}  {}  {}\n", m.id, m.target, util::human_bytes(m.stored_bytes));
    } else {
      fmt::print("BAD  {}  {}  {}\n", m.id, m.target, result.problem);
    }
    if (!result.ok) bad.push_back(m.id);
  }
  if (context.globals.json) print_json(report);
  if (!bad.empty()) {
    fail(ErrorKind::corrupt, "{} of {} snapshots failed verification: {}", bad.size(), snapshots.size(),
         util::join(bad, ", "));
  }
  if (!context.globals.json && snapshots.empty()) context.note("no snapshots to verify");
  return 0;
}

void add_verify(CLI::App& app, Context& context) {
  auto options = std::make_shared<VerifyOptions>();
  auto* cmd = add_command(app, context, options, "verify",
                          "Re-hash stored snapshots and decode them fully", run_verify);
  cmd->add_option("snapshots", options->snapshots, "Snapshots (id, prefix, 'latest', @REVISION)");
  cmd->add_flag("--all", options->all, "Verify every snapshot (of --target, if given)");
  cmd->add_flag("--repository", options->repository,
                "Read every pack once and check every chunk, then every chunked snapshot against them (all "
                "snapshots unless some are named)");
  cmd->add_flag("--restore", options->restore,
                "Test-restore each snapshot into a scratch copy beside its target's database (a scratch schema or "
                "database, or a temp file) and check its revision and every table's row count; the database "
                "itself is never touched");
  cmd->add_flag("--latest-per-target", options->latest_per_target,
                "With --restore: each target's newest snapshot taken by the user");
  cmd->add_option("--to", options->to,
                  "With --restore: make the scratch copy beside this target's database (same engine) instead of "
                  "beside each snapshot's own target's");
  cmd->add_option("--target", options->target, "Only this target's snapshots");
}

}  // namespace dbsnap::cli

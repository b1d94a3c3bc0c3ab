#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/core/operations.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_verify(Context& context, const VerifyOptions& options) {
  auto& store = context.store();
  std::vector<store::Manifest> snapshots;
  if (options.all) {
    if (!options.snapshots.empty()) fail(ErrorKind::usage, "give snapshots or --all, not both");
    snapshots = value_or_throw(store.catalog().find({.target = options.target}));
  } else {
    if (options.snapshots.empty()) fail(ErrorKind::usage, "name the snapshots to verify, or pass --all");
    for (const auto& reference : options.snapshots) snapshots.push_back(context.resolve(reference, options.target));
  }
  std::vector<std::string> bad;
  auto report = nlohmann::json::array();
  for (auto& m : snapshots) {
    auto progress = context.progress(fmt::format("verify {}", m.id), m.stored_bytes);
    auto result = core::verify_snapshot(store, m, progress.get());
    progress.reset();
    m.status = result.ok ? "verified" : "damaged";
    m.verified_at = util::format_utc(util::now_ms());
    if (auto r = store.update(m); !r) fmt::print(stderr, "warning: cannot record the result: {}\n", r.error().message);
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
  auto* cmd = app.add_subcommand("verify", "Re-hash stored snapshots and decode them fully");
  cmd->add_option("snapshots", options->snapshots, "Snapshots (id, prefix, 'latest', @REVISION)");
  cmd->add_flag("--all", options->all, "Verify every snapshot (of --target, if given)");
  cmd->add_option("--target", options->target, "Only this target's snapshots");
  cmd->callback([&context, options] { context.exit_code = run_verify(context, *options); });
}

}  // namespace dbsnap::cli

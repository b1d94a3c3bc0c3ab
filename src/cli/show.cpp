#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_show(Context& context, const ShowOptions& options) {
  auto manifest = context.resolve(options.snapshot, options.target);
  auto& store = context.store_for_reading();
  if (context.globals.json) {
    print_json(snapshot_json(store, manifest));
    return 0;
  }
  util::TimePoint created;
  std::string age;
  if (util::parse_utc(manifest.created_at, created)) age = " (" + util::human_age(created, util::now_ms()) + ")";
  fmt::print("{}", snapshot_summary(manifest));
  fmt::print("created   {}{}\n", util::display_time(manifest.created_at), age);
  fmt::print("label     {}{}\n", manifest.label.empty() ? "-" : manifest.label,
             manifest.automatic ? " (taken by dbsnap itself: 'latest' and @REV skip it)" : "");
  fmt::print("pinned    {}\n", manifest.pinned ? "yes (prune keeps it; dbsnap unpin releases it)" : "no");
  fmt::print("status    {}{}\n", manifest.status,
             manifest.verified_at.empty() ? "" : " (verified " + util::display_time(manifest.verified_at) + ")");
  fmt::print("tested    {}\n", manifest.restore_tested_at.empty()
                                   ? std::string("never (dbsnap verify --restore test-restores it)")
                                   : util::display_time(manifest.restore_tested_at) + " (a test restore matched it)");
  if (manifest.tables) {
    std::uint64_t rows = 0;
    for (const auto& [table, count] : *manifest.tables) rows += count;
    fmt::print("tables    {} ({} rows at backup time)\n", manifest.tables->size(), rows);
  } else {
    fmt::print("tables    - (rows not counted)\n");
  }
  fmt::print("source    {}\n", manifest.source);
  fmt::print("tool      {}\n", manifest.tool_version.empty() ? "-" : manifest.tool_version);
  fmt::print("server    {}\n", manifest.server_version.empty() ? "-" : manifest.server_version);
  if (manifest.layout == store::DataLayout::chunks) {
    fmt::print("sha256    {} (raw)\n          {} (chunk list)\n", manifest.raw_sha256, manifest.stored_sha256);
    fmt::print("chunks    {} listed in {}\n", manifest.chunks, store.blob_location(manifest));
  } else {
    fmt::print("sha256    {} (raw)\n          {} (stored)\n", manifest.raw_sha256, manifest.stored_sha256);
    fmt::print("file      {}\n", store.blob_location(manifest));
  }
  return 0;
}

void add_show(CLI::App& app, Context& context) {
  auto options = std::make_shared<ShowOptions>();
  auto* cmd = add_command(app, context, options, "show", "Show everything recorded about one snapshot", run_show);
  cmd->add_option("snapshot", options->snapshot, "Id, unique id prefix, 'latest' or @REVISION")->required();
  add_scope_option(*cmd, options->target);
}

}  // namespace dbsnap::cli

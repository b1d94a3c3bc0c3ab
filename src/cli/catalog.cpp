#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"

namespace dbsnap::cli {

int run_catalog_rebuild(Context& context, const CatalogRebuildOptions&) {
  std::vector<std::string> skipped;
  auto count = value_or_throw(context.store_for_rebuild().rebuild_catalog(skipped));
  fmt::print("catalog rebuilt from manifests: {} snapshot(s) indexed in {}\n", count,
             (context.store().root() / "catalog.db").string());
  for (const auto& why : skipped) fmt::print(stderr, "skipped {}\n", why);
  return 0;
}

void add_catalog(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("catalog", "Maintain the snapshot catalog");
  cmd->require_subcommand(1);
  auto* rebuild = cmd->add_subcommand("rebuild", "Recreate catalog.db from the manifests in the store");
  rebuild->callback([&context] { context.exit_code = run_catalog_rebuild(context, {}); });
}

}  // namespace dbsnap::cli

// dbsnap pin / unpin: mark snapshots that prune must keep and delete must refuse.
#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_pin(Context& context, const PinOptions& options, Pin pin) {
  auto& store = context.store();
  std::vector<store::Manifest> chosen;
  for (const auto& reference : options.snapshots) chosen.push_back(context.resolve(reference, options.target));
  const bool pinned = pin == Pin::pin;
  for (auto& m : chosen) {
    // The manifest file is the truth: change that one, not the catalog's copy of it.
    auto current = value_or_throw(store.load_manifest(m));
    if (current.pinned != pinned) {
      current.pinned = pinned;
      value_or_throw(store.update(current));
    }
    fmt::print("{}  {}  {}  {}\n", pinned ? "pinned  " : "unpinned", current.id, current.target,
               util::revision_text(current.revisions));
  }
  return 0;
}

void add_pin(CLI::App& app, Context& context) {
  for (const Pin pin : {Pin::pin, Pin::unpin}) {
    auto options = std::make_shared<PinOptions>();
    auto* cmd = pin == Pin::pin
                    ? app.add_subcommand("pin", "Pin snapshots: prune always keeps them, delete refuses them")
                    : app.add_subcommand("unpin", "Release pinned snapshots (prune and delete treat them as any other)");
    cmd->add_option("snapshots", options->snapshots, "Snapshots (id, prefix, 'latest', @REVISION)")->required();
    add_scope_option(*cmd, options->target);
    cmd->callback([&context, options, pin] { context.exit_code = run_pin(context, *options, pin); });
  }
}

}  // namespace dbsnap::cli

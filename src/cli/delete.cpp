#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/reclaim.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

int run_delete(Context& context, const DeleteOptions& options) {
  std::vector<store::Manifest> doomed;
  std::vector<std::string> ids;
  for (const auto& reference : options.snapshots) {
    auto m = context.resolve(reference, options.target);
    if (m.pinned) {
      fail(ErrorKind::refused, "snapshot {} is pinned; nothing was deleted (dbsnap unpin {} releases it)", m.id, m.id);
    }
    if (std::find(ids.begin(), ids.end(), m.id) != ids.end()) continue;
    ids.push_back(m.id);
    doomed.push_back(std::move(m));
  }
  confirm_or_refuse(options.confirmation, fmt::format("delete {} snapshot(s): {}", doomed.size(), util::join(ids, ", ")),
                    "--yes");
  for (const auto& m : doomed) {
    value_or_throw(context.store().remove(m));
    fmt::print("deleted {}  {}  {}\n", m.id, m.target, util::revision_text(m.revisions));
  }
  reclaim_space(context);
  return 0;
}

void add_delete(CLI::App& app, Context& context) {
  auto options = std::make_shared<DeleteOptions>();
  auto* cmd = add_command(app, context, options, "delete",
                          "Delete snapshots (manifest, data and catalog row; unused chunks are reclaimed)", run_delete);
  cmd->add_option("snapshots", options->snapshots, "Snapshots (id, prefix, 'latest', @REVISION)")->required();
  add_scope_option(*cmd, options->target);
  add_yes_flag(*cmd, options->confirmation, "Do not ask for confirmation (required when stdin is not a terminal)");
}

}  // namespace dbsnap::cli

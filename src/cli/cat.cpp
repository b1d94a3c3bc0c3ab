#include <unistd.h>

#include <csignal>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/core/operations.hpp"

namespace dbsnap::cli {

int run_cat(Context& context, const CatOptions& options) {
  auto manifest = context.resolve(options.snapshot, options.target);
  // A reader that stops early (`dbsnap cat latest | head`) ends dbsnap the
  // way it ends cat or zstd: by SIGPIPE, silently, with a non-zero status.
  // cat writes nothing but stdout, so there is nothing to clean up.
  std::signal(SIGPIPE, SIG_DFL);
  pipeline::FdSink out(STDOUT_FILENO);
  core::stream_snapshot(context.store_for_reading(), manifest, out);
  return 0;
}

void add_cat(CLI::App& app, Context& context) {
  auto options = std::make_shared<CatOptions>();
  auto* cmd = add_command(app, context, options, "cat",
                          "Write a snapshot's decompressed dump to stdout (checked as it streams)", run_cat);
  cmd->add_option("snapshot", options->snapshot, "Id, unique id prefix, 'latest' or @REVISION")->required();
  add_scope_option(*cmd, options->target);
}

}  // namespace dbsnap::cli

#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"

namespace dbsnap::cli {

// Declares the subcommand `name` on `app`, to run `run(context, *options)`
// when it is chosen, its return value the exit code: the one place where a
// command's options struct (filled by the options the caller declares on
// the returned subcommand) meets its run_x().
template <class Options>
CLI::App* add_command(CLI::App& app, Context& context, const std::shared_ptr<Options>& options,
                      const std::string& name, const std::string& help, int (*run)(Context&, const Options&)) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->callback([&context, options, run] { context.exit_code = run(context, *options); });
  return cmd;
}

// The options several commands share, declared once (src/cli/command.cpp):
// the required positional target of a command that works on one target;
CLI::Option* add_target_argument(CLI::App& cmd, std::string& target);
// `--target`, the target among whose snapshots 'latest' and @REVISION resolve;
CLI::Option* add_scope_option(CLI::App& cmd, std::string& target);
// `--yes,-y`, which sets `confirmation` to assume_yes; `help` says what is not asked.
CLI::Option* add_yes_flag(CLI::App& cmd, Confirmation& confirmation, const std::string& help);

}  // namespace dbsnap::cli

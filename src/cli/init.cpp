// `dbsnap init [DIR]`: proposes a dbsnap.toml from what runs on this host
// (init/discover.hpp, init/proposal.hpp), shows it, and writes DIR/dbsnap.toml
// once confirmed; never over an existing file.

#include <CLI/CLI.hpp>

#include "dbsnap/cli/command.hpp"
#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/init/discover.hpp"
#include "dbsnap/init/proposal.hpp"
#include "dbsnap/util/fs.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::cli {

namespace fs = std::filesystem;

int run_init(Context& context, const InitOptions& options) {
  const fs::path dir = fs::absolute(options.directory).lexically_normal();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::usage, "{} is not a folder", dir.string());
  const fs::path file = dir / "dbsnap.toml";
  if (!options.print_only && fs::exists(file, ec)) {
    fail(ErrorKind::refused, "{} exists; init never replaces it (--print shows the proposal instead)", file.string());
  }

  // Containers: the runtime asked for, else docker, else podman; none is not an error.
  std::vector<init::Container> containers;
  std::string runtime = options.runtime;
  std::vector<std::string> tried = runtime.empty() ? std::vector<std::string>{"docker", "podman"}
                                                   : std::vector<std::string>{runtime};
  std::string why_none;
  for (const auto& cli : tried) {
    try {
      containers = init::list_containers(cli);
      runtime = cli;
      why_none.clear();
      break;
    } catch (const DbsnapError& e) {
      if (e.kind() != ErrorKind::runtime) throw;
      if (!options.runtime.empty()) throw;  // asked for by name: its failure is the answer
      why_none += (why_none.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!why_none.empty()) context.note("no containers looked at: {}", why_none);
  const auto sqlite_files = init::find_sqlite_databases(dir);
  const auto migrations = init::find_migrations(dir);
  const auto proposal = init::propose(containers, runtime.empty() ? "docker" : runtime, sqlite_files, migrations);
  const std::string text = init::render(proposal, util::format_utc(util::now_ms()).substr(0, 10));

  fmt::print("{}", text);
  if (options.print_only) return 0;
  std::size_t enabled = 0;
  for (const auto& t : proposal.targets) enabled += t.missing.empty();
  confirm_or_refuse(options.confirmation, fmt::format("write {} ({} target{})", file.string(), enabled,
                                                      enabled == 1 ? "" : "s"),
                    "--yes");
  auto out = value_or_throw(util::AtomicFile::create(file));
  value_or_throw(util::write_all(out.fd(), text.data(), text.size()));
  value_or_throw(out.commit(util::AtomicFile::Existing::keep));
  context.note("wrote {}; next: dbsnap doctor TARGET, then dbsnap backup TARGET", file.string());
  return 0;
}

void add_init(CLI::App& app, Context& context) {
  auto options = std::make_shared<InitOptions>();
  auto* cmd = add_command(app, context, options, "init",
                          "Propose a dbsnap.toml from the database containers on this host and the "
                                         "SQLite files and Alembic migrations under DIR, show it, and write it", run_init);
  cmd->add_option("directory", options->directory, "Where dbsnap.toml goes and what is searched (default: .)");
  cmd->add_option("--runtime", options->runtime, "List the containers of this CLI only (docker or podman)")
      ->check(CLI::IsMember({"docker", "podman"}));
  cmd->add_flag("--print", options->print_only, "Print the proposal and write nothing");
  add_yes_flag(*cmd, options->confirmation, "Write without asking (required when stdin is not a terminal)");
}

}  // namespace dbsnap::cli

#include "dbsnap/cli/app.hpp"

#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::cli {

bool confirm_or_refuse(Confirmation confirmation, const std::string& question, const std::string& flag_hint) {
  if (confirmation == Confirmation::assume_yes) return true;
  if (!util::stdin_is_terminal()) {
    fail(ErrorKind::refused, "{}: refusing without confirmation because stdin is not a terminal; pass {}",
         question, flag_hint);
  }
  if (!util::confirm((question + "?").c_str())) fail(ErrorKind::refused, "cancelled; nothing was changed");
  return true;
}

int run(int argc, char** argv) {
  util::install_interrupt_handlers();
  Context context;
  CLI::App app{"dbsnap: snapshots of containerised databases, tied to their Alembic revision", "dbsnap"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("dbsnap ") + DBSNAP_VERSION);
  app.add_option("--config", context.globals.config_file, "Use this dbsnap.toml instead of searching upward");
  app.add_option("--store", context.globals.store_dir, "Snapshot store folder (default: snapshots/ beside dbsnap.toml; env DBSNAP_STORE)");
  app.add_option("--lock-timeout", context.globals.lock_timeout,
                 "Seconds to wait for a target another dbsnap holds (backup shares it; restore, upgrade, rollback "
                 "hold it alone) before failing with exit 10 (default 10; 0: fail at once)")
      ->check(CLI::Range(0.0, 86400.0));
  context.record_command_line(argc, argv);
  app.footer(
      "Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 snapshot not found or ambiguous,\n"
      "5 snapshot failed verification, 6 runtime (exec) failure, 7 engine (dump/restore tool) failure,\n"
      "8 refused (no confirmation), 9 guarded operation failed and was undone, 10 target locked (busy),\n"
      "130 interrupted (SIGINT), 143 terminated (SIGTERM).");

  add_backup(app, context);
  add_list(app, context);
  add_show(app, context);
  add_verify(app, context);
  add_restore(app, context);
  add_cat(app, context);
  add_delete(app, context);
  add_catalog(app, context);
  add_upgrade(app, context);
  add_rollback(app, context);
  add_prune(app, context);
  add_revisions(app, context);
  add_doctor(app, context);
  add_demo(app, context);

  try {
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommand_ptr(argv[1]) == nullptr) {
      fail(ErrorKind::usage, "unknown command '{}' (see dbsnap --help)", argv[1]);
    }
    app.parse(argc, argv);
    return context.exit_code;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "dbsnap: error: %s (see dbsnap --help)\n", e.what());
    return static_cast<int>(ErrorKind::usage);
  } catch (const DbsnapError& e) {
    if (e.kind() == ErrorKind::interrupted) {
      std::fprintf(stderr, "dbsnap: error: %s\n", e.what());
      return util::interrupted_exit_code();
    }
    if (const int signal = util::interrupt_signal(); signal != 0) {
      // A child the same signal ended (a terminal's Ctrl-C reaches the whole group) failed first.
      std::fprintf(stderr, "dbsnap: error: interrupted by %s: %s\n", signal == SIGINT ? "SIGINT" : "SIGTERM",
                   e.what());
      return util::interrupted_exit_code();
    }
    std::fprintf(stderr, "dbsnap: error: %s\n", e.what());
    return static_cast<int>(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dbsnap: error: internal: %s\n", e.what());
    return static_cast<int>(ErrorKind::failure);
  }
}

}  // namespace dbsnap::cli

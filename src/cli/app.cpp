#include "dbsnap/cli/app.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/util/interrupt.hpp"

namespace dbsnap::cli {

namespace {

// An error message as one line: control characters that came from hostile
// input (a reference, a TOML key, a file name) are shown as escapes.
std::string one_line(std::string_view message) {
  std::string out;
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 && c != '\t') {
      out += fmt::format("\\x{:02x}", u);
    } else if (u == 0x7f) {
      out += "\\x7f";
    } else {
      out += c;
    }
  }
  return out;
}

void print_error(std::string_view message) { std::fprintf(stderr, "dbsnap: error: %s\n", one_line(message).c_str()); }

}  // namespace

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
  app.footer(
      "Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 snapshot not found or ambiguous,\n"
      "5 snapshot failed verification, 6 runtime (exec) failure, 7 engine (dump/restore tool) failure,\n"
      "8 refused (no confirmation), 9 guarded operation failed and was undone, 130 interrupted.");

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
    // A word that is no command is left over, and CLI11 then only says that a command is required.
    const auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && !extra.front().starts_with('-')) {
      print_error(fmt::format("unknown command '{}' (see dbsnap --help)", extra.front()));
      return static_cast<int>(ErrorKind::usage);
    }
    print_error(fmt::format("{} (see dbsnap --help)", e.what()));
    return static_cast<int>(ErrorKind::usage);
  } catch (const DbsnapError& e) {
    print_error(e.what());
    return static_cast<int>(e.kind());
  } catch (const std::exception& e) {
    print_error(fmt::format("internal: {}", e.what()));
    return static_cast<int>(ErrorKind::failure);
  }
}

}  // namespace dbsnap::cli

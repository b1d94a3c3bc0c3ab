#include "dbsnap/cli/app.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <set>

#include <CLI/CLI.hpp>

#include "dbsnap/cli/commands.hpp"
#include "dbsnap/cli/context.hpp"
#include "dbsnap/cli/output.hpp"
#include "dbsnap/cli/version.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

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

// True when --json is among dbsnap's own arguments (before any --), so that
// even a command line that fails to parse gets its error as JSON.
bool json_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

// The first word of the command line that is neither a global option nor
// its value: the command's name (empty when there is none).
std::string command_word(CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (!arg.starts_with("-")) return arg;
    const CLI::Option* option = arg.find('=') == std::string::npos ? app.get_option_no_throw(arg) : nullptr;
    if (option != nullptr && option->get_items_expected_max() > 0) ++i;  // skip its value
  }
  return {};
}

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands({})) {
    if (!command->get_group().empty()) names.push_back(command->get_name());  // hidden ones have no group
  }
  return names;
}

// " (did you mean '--label'?)" for the first option on the command line that
// neither dbsnap nor its command knows and that is close to one they do know.
std::string option_suggestion(CLI::App& app, const std::string& command_name, int argc, char** argv) {
  CLI::App* command = nullptr;
  for (CLI::App* c : app.get_subcommands({})) {
    if (c->check_name(command_name)) command = c;
  }
  std::vector<std::string> known;
  for (const CLI::App* scope : {static_cast<const CLI::App*>(&app), static_cast<const CLI::App*>(command)}) {
    if (scope == nullptr) continue;
    for (const CLI::Option* option : scope->get_options()) {
      for (const auto& name : option->get_lnames()) known.push_back("--" + name);
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (!arg.starts_with("--")) continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    if (auto best = util::closest_match(name, known); !best.empty()) return fmt::format(" (did you mean '{}'?)", best);
    return {};
  }
  return {};
}

bool has_command(CLI::App& app, const std::string& name) {
  for (const CLI::App* command : app.get_subcommands({})) {
    if (command->check_name(name)) return true;
  }
  return false;
}

// The one place errors are printed: "dbsnap: error: ..." or, with --json, a
// JSON object on one line; returns the exit code.
int report_error(bool json, ErrorKind kind, const std::string& message, int exit_code = 0) {
  pipeline::Progress::clear_active_line();
  if (exit_code == 0) exit_code = static_cast<int>(kind);
  if (json) {
    std::fprintf(stderr, "%s\n", error_json(kind, message, exit_code).c_str());
  } else {
    std::fprintf(stderr, "dbsnap: error: %s\n", one_line(message).c_str());
  }
  return exit_code;
}

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
  app.set_version_flag("--version", [] { return version_text(); },
                       "Print the version, the git commit and the linked zstd, OpenSSL and SQLite versions");
  app.add_option("--config", context.globals.config_file, "Use this dbsnap.toml instead of searching upward");
  app.add_option("--store", context.globals.store_dir, "Snapshot store: a folder, or s3://BUCKET/PREFIX (default: snapshots/ beside dbsnap.toml; env DBSNAP_STORE)");
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
  add_pin(app, context);
  add_catalog(app, context);
  add_key(app, context);
  add_convert(app, context);
  add_copy(app, context);
  add_upgrade(app, context);
  add_rollback(app, context);
  add_prune(app, context);
  add_revisions(app, context);
  add_doctor(app, context);
  add_metrics(app, context);
  add_demo(app, context);
  add_init(app, context);
  add_output_options(app, context.globals);
  // Before the command, or after it for the commands that take a snapshot reference.
  const auto include_automatic = [&context] { context.globals.automatic = store::AutomaticSnapshots::include; };
  const std::string include_help = "Let 'latest', @REVISION and rollback pick snapshots dbsnap took itself "
                                   "(pre-restore, pre-upgrade, pre-rollback, failed-*), which they skip by default";
  app.add_flag_callback("--include-automatic", include_automatic, include_help);
  for (CLI::App* command : app.get_subcommands({})) {
    static const std::set<std::string> resolving = {"show", "cat", "verify", "restore", "delete", "rollback", "pin", "unpin"};
    if (resolving.contains(command->get_name())) command->add_flag_callback("--include-automatic", include_automatic, include_help);
  }
  add_complete(app, context);
  add_systemd_generator(app, context);

  const bool json = json_requested(argc, argv);
  try {
    if (const auto word = command_word(app, argc, argv); !word.empty() && !has_command(app, word)) {
      const auto best = util::closest_match(word, command_names(app));
      fail(ErrorKind::usage, "unknown command '{}'{} (see dbsnap --help)", word,
           best.empty() ? std::string() : fmt::format("; did you mean '{}'?", best));
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
    return report_error(json || context.globals.json, ErrorKind::usage,
                        std::string(e.what()) + option_suggestion(app, command_word(app, argc, argv), argc, argv) +
                            " (see dbsnap --help)");
  } catch (const DbsnapError& e) {
    const bool as_json = json || context.globals.json;
    if (e.kind() == ErrorKind::interrupted) {
      report_error(as_json, e.kind(), e.what(), util::interrupted_exit_code());
      return util::interrupted_exit_code();
    }
    if (const int signal = util::interrupt_signal(); signal != 0) {
      // A child the same signal ended (a terminal's Ctrl-C reaches the whole group) failed first.
      report_error(as_json, ErrorKind::interrupted,
                   fmt::format("interrupted by {}: {}", signal == SIGINT ? "SIGINT" : "SIGTERM", e.what()),
                   util::interrupted_exit_code());
      return util::interrupted_exit_code();
    }
    return report_error(as_json, e.kind(), e.what());
  } catch (const std::exception& e) {
    return report_error(json || context.globals.json, ErrorKind::failure, std::string("internal: ") + e.what());
  }
}

}  // namespace dbsnap::cli

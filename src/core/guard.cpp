#include "dbsnap/core/guard.hpp"

#include <fmt/core.h>

#include "dbsnap/core/operations.hpp"
#include "dbsnap/runtime/process.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::core {

namespace {

// The command as one line, shell-quoted, anything that looks like a secret masked.
std::string quote_argv(const std::vector<std::string>& argv) { return runtime::describe_command({.argv = argv}); }

// Runs the user's command with inherited stdout/stderr; why it failed, or "".
std::string run_live(const std::vector<std::string>& argv, CommandOutput output) {
  auto process = runtime::Process::start({.argv = argv,
                                          .stdin_mode = runtime::StdinMode::null,
                                          .stdout_mode = output == CommandOutput::to_stderr
                                                             ? runtime::StdoutMode::to_stderr
                                                             : runtime::StdoutMode::inherit,
                                          .stderr_mode = runtime::StderrMode::inherit});
  if (!process) return process.error().message;
  auto status = process->wait();
  if (status.ok()) return {};
  return fmt::format("the command failed ({})", status.describe());
}

}  // namespace

GuardedResult run_guarded(store::Store& store, const config::Target& target, const GuardedCommand& command) {
  engine::Engine& engine = engine::engine_for(target);
  const auto context = work_context(store);
  GuardedResult result;
  result.snapshot = take_snapshot(store, target, {.label = command.label});
  result.before = result.snapshot.revisions;
  if (command.notes == Notes::show) {
    fmt::print(stderr, "dbsnap: snapshot {} of '{}' taken at revision {}\n", result.snapshot.id, target.name,
               util::revision_text(result.before));
    fmt::print(stderr, "dbsnap: running {}\n", quote_argv(command.argv));
  }
  std::fflush(stderr);

  std::string problem = run_live(command.argv, command.output);
  if (util::interrupt_signal() != 0 && problem.empty()) problem = "interrupted";
  if (problem.empty()) {
    try {
      result.after = engine.read_revisions(target, context);
      problem = command.judge ? command.judge(result.before, result.after) : std::string();
    } catch (const DbsnapError& e) {
      problem = fmt::format("cannot read the revision afterwards: {}", e.what());
    }
  }
  if (problem.empty()) return result;

  const std::string& id = result.snapshot.id;
  if (command.on_failure == OnFailure::keep) {
    fail(ErrorKind::guarded, "{} failed: {}; '{}' left as it is for inspection (--keep-on-failure); "
         "put it back with: dbsnap restore {} --yes", command.what, problem, target.name, id);
  }
  util::clear_interrupt();
  fmt::print(stderr, "dbsnap: {} failed: {}\ndbsnap: restoring snapshot {} (revision {})\n", command.what, problem, id,
             util::revision_text(result.before));
  std::vector<std::string> back;
  try {
    auto check = check_stored(store, result.snapshot);
    if (!check.ok) fail(ErrorKind::corrupt, "{}", check.problem);
    back = restore_snapshot(store, target, result.snapshot);
  } catch (const DbsnapError& e) {
    fail(ErrorKind::failure, "{} failed ({}) and restoring snapshot {} failed too: {}; the snapshot is intact: "
         "dbsnap restore {} --yes", command.what, problem, id, e.what(), id);
  }
  if (back != result.before) {
    fail(ErrorKind::failure, "{} failed ({}); snapshot {} was restored but '{}' reports revision {} instead of {}",
         command.what, problem, id, target.name, util::revision_text(back), util::revision_text(result.before));
  }
  fail(ErrorKind::guarded, "{} failed: {}; restored snapshot {}: '{}' is back at revision {}", command.what, problem,
       id, target.name, util::revision_text(back));
}

}  // namespace dbsnap::core

#include "dbsnap/core/guard.hpp"

#include <unistd.h>

#include <optional>

#include <fmt/core.h>

#include "dbsnap/core/operations.hpp"
#include "dbsnap/runtime/process.hpp"
#include "dbsnap/store/move_record.hpp"
#include "dbsnap/util/interrupt.hpp"
#include "dbsnap/util/text.hpp"

namespace dbsnap::core {

namespace {

// The command as one line, shell-quoted, anything that looks like a secret masked.
std::string quote_argv(const std::vector<std::string>& argv) { return runtime::describe_command({.argv = argv}); }

// Runs the user's command with inherited stdout/stderr; why it failed, or "".
std::string run_live(const std::vector<std::string>& argv, const std::filesystem::path& cwd, CommandOutput output) {
  auto process = runtime::Process::start({.argv = argv,
                                          .stdin_mode = runtime::StdinMode::null,
                                          .stdout_mode = output == CommandOutput::to_stderr
                                                             ? runtime::StdoutMode::to_stderr
                                                             : runtime::StdoutMode::inherit,
                                          .stderr_mode = runtime::StderrMode::inherit,
                                          .cwd = cwd,
                                          .parent_death = runtime::ParentDeath::terminate});
  if (!process) return process.error().message;
  auto status = process->wait();
  if (status.ok()) return {};
  return fmt::format("the command failed ({})", status.describe());
}

// An older snapshot with exactly `fresh`'s content and purpose (a retried
// upgrade takes the same pre-upgrade snapshot again): it is kept and `fresh`
// deleted. Returns the snapshot to use and whether it is an older one.
std::pair<store::Manifest, bool> reuse_identical(store::Store& store, store::Manifest fresh) {
  auto same_revisions = store.find({.target = fresh.target});
  if (!same_revisions) return {std::move(fresh), false};
  for (const auto& m : *same_revisions) {
    if (m.id == fresh.id || !m.automatic || m.label != fresh.label || m.revisions != fresh.revisions ||
        m.raw_sha256 != fresh.raw_sha256 || m.raw_bytes != fresh.raw_bytes || m.status == "damaged") {
      continue;
    }
    if (!check_stored(store, m).ok) continue;
    if (!store.remove(fresh)) return {std::move(fresh), false};
    return {m, true};
  }
  return {std::move(fresh), false};
}

// Removes the move record once the move is over; a record that cannot be
// removed only makes the next run warn about a move that did finish.
void end_move(store::Store& store, const std::string& target) {
  if (auto cleared = store::clear_move_record(store.root(), target); !cleared) {
    fmt::print(stderr, "dbsnap: warning: the move is over but its record stays: {}\n", cleared.error().message);
  }
}

}  // namespace

GuardedResult run_guarded(store::Store& store, const config::Target& target, const GuardedCommand& command) {
  engine::Engine& engine = engine::engine_for(target);
  const auto context = work_context(store);
  GuardedResult result;
  // A move that starts from a snapshot into a target with no database has
  // nothing to protect: that snapshot is restored first, and is itself what a
  // failure goes back to.
  result.fresh = command.start_from && !engine.exists(target, context);
  if (result.fresh) {
    const auto& from = *command.start_from;
    if (command.notes == Notes::show) {
      fmt::print(stderr, "dbsnap: '{}' has no database: restoring snapshot {} (revision {}) first; if the {} "
                 "fails, it stays restored\n", target.name, from.id, util::revision_text(from.revisions), command.what);
      std::fflush(stderr);
    }
    auto landed = restore_snapshot(store, target, from);  // all or nothing: on error there is still no database
    if (landed != from.revisions) {
      fail(ErrorKind::engine, "after restoring snapshot {} '{}' reports revision {}, not {}; the {} was not run",
           from.id, target.name, util::revision_text(landed), util::revision_text(from.revisions), command.what);
    }
    result.snapshot = from;
    result.before = from.revisions;
  } else {
    auto [snapshot, reused] =
        reuse_identical(store, take_snapshot(store, target, {.label = command.label, .taken = Taken::by_dbsnap}));
    result.snapshot = std::move(snapshot);
    result.before = result.snapshot.revisions;
    if (command.notes == Notes::show) {
      fmt::print(stderr, "dbsnap: snapshot {} of '{}' {} at revision {}\n", result.snapshot.id, target.name,
                 reused ? "(identical to the current state) kept" : "taken", util::revision_text(result.before));
    }
  }
  std::fflush(stderr);
  // From here until the move is over, a dbsnap killed on the way leaves this record for the next run.
  if (auto recorded = store::write_move_record(store.root(), target.name,
                                               {.pid = static_cast<int>(::getpid()),
                                                .what = command.what,
                                                .to = command.to,
                                                .safety_snapshot = result.snapshot.id,
                                                .since = util::format_utc(util::now_ms())});
      !recorded) {
    fail(ErrorKind::failure, "cannot record the {} in the store ({}); nothing was changed", command.what,
         recorded.error().message);
  }

  std::string problem;
  if (command.start_from && !result.fresh) {
    const auto& from = *command.start_from;
    if (command.notes == Notes::show) {
      fmt::print(stderr, "dbsnap: restoring snapshot {} (revision {}) first\n", from.id,
                 util::revision_text(from.revisions));
      std::fflush(stderr);
    }
    try {
      auto landed = restore_snapshot(store, target, from);
      if (landed != from.revisions) {
        problem = fmt::format("after restoring snapshot {} '{}' reports revision {}, not {}", from.id, target.name,
                              util::revision_text(landed), util::revision_text(from.revisions));
      }
    } catch (const DbsnapError& e) {
      problem = fmt::format("restoring snapshot {} failed: {}", from.id, e.what());
    }
  }
  if (problem.empty()) {
    if (command.notes == Notes::show) {
      fmt::print(stderr, "dbsnap: running {}\n", quote_argv(command.argv));
      std::fflush(stderr);
    }
    problem = run_live(command.argv, command.cwd, command.output);
  }
  if (util::interrupt_signal() != 0 && problem.empty()) problem = "interrupted";
  if (problem.empty()) {
    try {
      result.after = engine.read_revisions(target, context);
      problem = command.judge ? command.judge(result.before, result.after) : std::string();
    } catch (const DbsnapError& e) {
      problem = fmt::format("cannot read the revision afterwards: {}", e.what());
    }
  }
  if (problem.empty()) {
    end_move(store, target.name);
    return result;
  }

  const std::string& id = result.snapshot.id;
  if (command.on_failure == OnFailure::keep) {
    end_move(store, target.name);  // left as it is on purpose, and said so
    fail(ErrorKind::guarded, "{} failed: {}; '{}' left as it is for inspection (--keep-on-failure); "
         "put it back with: dbsnap restore {} --yes", command.what, problem, target.name, id);
  }
  util::clear_interrupt();
  // The failed state is kept before it is replaced: rows an app wrote while
  // the command ran exist nowhere else.
  // A database that is gone has nothing to save, and one the command left
  // byte for byte as it was needs no second copy.
  std::optional<store::Manifest> kept;
  std::string failed_state = "gone (no database)";
  if (engine.exists(target, context)) {
    try {
      kept = take_snapshot(store, target, {.label = "failed-" + command.what, .taken = Taken::by_dbsnap});
    } catch (const DbsnapError& e) {
      if (e.kind() == ErrorKind::interrupted) throw;
      fail(ErrorKind::failure, "{} failed ({}), and its failed state cannot be saved ({}); '{}' is left as it is, "
           "nothing was discarded; put it back with: dbsnap restore {} --yes", command.what, problem, e.what(),
           target.name, id);
    }
    failed_state = "saved as snapshot " + kept->id;
    if (kept->raw_sha256 == result.snapshot.raw_sha256 && kept->raw_bytes == result.snapshot.raw_bytes &&
        store.remove(*kept)) {
      kept.reset();
      failed_state = "unchanged";
    }
  }
  if (command.notes == Notes::show) {
    fmt::print(stderr, "dbsnap: the failed state is {}; restoring snapshot {} (revision {})\n", failed_state, id,
               util::revision_text(result.before));
  }
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
  end_move(store, target.name);
  fail(ErrorKind::guarded, "{} failed: {}; restored snapshot {}: '{}' is back at revision {}{}{}", command.what,
       problem, id, target.name, util::revision_text(back),
       kept ? fmt::format(" (the failed state is kept as snapshot {})", kept->id) : std::string(),
       result.fresh ? " (it had no database before the move: the snapshot stays restored)" : "");
}

}  // namespace dbsnap::core

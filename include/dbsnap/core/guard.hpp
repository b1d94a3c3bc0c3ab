#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dbsnap/config/config.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::core {

enum class OnFailure { restore, keep };
// Where the guarded command's stdout goes: dbsnap's stdout, or its stderr
// (when dbsnap's stdout carries a --json document).
enum class CommandOutput { inherit, to_stderr };
// Whether run_guarded says on stderr what it does (the snapshot it took, the
// command it runs); failures are always told.
enum class Notes { show, quiet };

// A command run against a target under the protection of a snapshot.
struct GuardedCommand {
  std::vector<std::string> argv;  // run on this host, output shown live
  std::filesystem::path cwd;      // its working directory; empty: ours
  std::string label;              // the protecting snapshot's label: pre-upgrade, pre-rollback
  std::string what;               // "upgrade", "downgrade" (for messages)
  std::string to;                 // the revision the move goes to, for its record; "" when any
  OnFailure on_failure = OnFailure::restore;
  CommandOutput output = CommandOutput::inherit;
  Notes notes = Notes::show;
  // Judges the revision set read after the command; returns why it is wrong, or "" when fine.
  std::function<std::string(const std::vector<std::string>& before, const std::vector<std::string>& after)> judge;
  // When set, restored after the protecting snapshot and before the command
  // runs (revision travel: restore a snapshot, then migrate it); a restore that
  // fails or lands elsewhere than its revisions fails the whole move. When
  // the target has no database, it is restored first instead and protects the
  // command itself (a failure leaves it restored: there was nothing before).
  std::optional<store::Manifest> start_from;
};

// What a successful guarded command did.
struct GuardedResult {
  store::Manifest snapshot;  // the protecting snapshot (when `fresh`, start_from itself)
  bool fresh = false;        // the target had no database: start_from was restored first, unprotected
  std::vector<std::string> before;
  std::vector<std::string> after;
};

// Takes a snapshot of the target, records the move (store/move_record: a
// dbsnap killed -9 mid-move leaves the record, and the next run names the
// snapshot), restores `start_from` when set, runs the command (which gets
// SIGTERM if dbsnap dies) with its output shown
// live, reads the revision and asks `judge`. If the command fails (non-zero
// exit, signal, unreadable revision) or the judge objects, the snapshot is
// restored all-or-nothing (unless OnFailure::keep) and a `guarded`
// DbsnapError says what happened and the revision the database is back at.
// If that restore itself fails, a `failure` error names the intact snapshot
// to restore by hand, and the move record stays.
GuardedResult run_guarded(store::Store& store, const config::Target& target, const GuardedCommand& command);

}  // namespace dbsnap::core

#pragma once

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace dbsnap::cli {

class Context;

// Each command lives in src/cli/<command>.cpp: an options struct, run_x()
// that does the work and returns the exit code (throwing DbsnapError on
// failure), and add_x() that declares its options on the CLI11 app. --json,
// --quiet and --verbose are GlobalOptions (context.hpp), declared on every
// command by add_output_options (output.hpp).

struct BackupOptions {
  std::string target;
  std::string label;
  std::optional<int> level;  // else the target's `level` key, else core::default_level
  bool pin = false;          // --pin: prune keeps it, delete refuses it
};
int run_backup(Context& context, const BackupOptions& options);
void add_backup(CLI::App& app, Context& context);

struct ConvertOptions {
  std::string target;  // only this target's snapshots; all when empty
  bool dry_run = false;
};
int run_convert(Context& context, const ConvertOptions& options);
void add_convert(CLI::App& app, Context& context);

struct ListOptions {
  std::string target;
  std::string revision;
  bool by_revision = false;
};
int run_list(Context& context, const ListOptions& options);
void add_list(CLI::App& app, Context& context);

struct ShowOptions {
  std::string snapshot;
  std::string target;
};
int run_show(Context& context, const ShowOptions& options);
void add_show(CLI::App& app, Context& context);

struct VerifyOptions {
  std::vector<std::string> snapshots;
  std::string target;
  bool all = false;
  bool repository = false;  // --repository: chunked snapshots checked pack by pack (Store::check_repository)
  bool restore = false;     // --restore: test restores into scratch copies (core::test_restore)
  bool latest_per_target = false;  // --latest-per-target: each target's newest snapshot taken by the user
  std::string to;  // --to: test-restore beside this target's database instead of each snapshot's own
};
int run_verify(Context& context, const VerifyOptions& options);
void add_verify(CLI::App& app, Context& context);

enum class Confirmation { ask, assume_yes };
enum class SafetySnapshot { take, skip };

// Whether restore tries a snapshot that `verify` marked damaged.
enum class Damaged { refuse, try_anyway };

struct RestoreOptions {
  std::string snapshot;
  std::string target;  // narrows latest/@REV
  std::string to;      // destination target; default: the snapshot's own
  std::string to_file; // --to-file: a SQLite snapshot written to a new file instead
  Confirmation confirmation = Confirmation::ask;
  SafetySnapshot safety = SafetySnapshot::take;
  Damaged damaged = Damaged::refuse;  // --force: try a snapshot verify marked damaged
  std::optional<std::string> then_upgrade;  // --then-upgrade [REV]: "heads" when no revision is given
};
int run_restore(Context& context, const RestoreOptions& options);
void add_restore(CLI::App& app, Context& context);

struct CatOptions {
  std::string snapshot;
  std::string target;
};
int run_cat(Context& context, const CatOptions& options);
void add_cat(CLI::App& app, Context& context);

struct DeleteOptions {
  std::vector<std::string> snapshots;
  std::string target;
  Confirmation confirmation = Confirmation::ask;
};
int run_delete(Context& context, const DeleteOptions& options);
void add_delete(CLI::App& app, Context& context);

enum class Pin { pin, unpin };

struct PinOptions {
  std::vector<std::string> snapshots;
  std::string target;
};
int run_pin(Context& context, const PinOptions& options, Pin pin);
void add_pin(CLI::App& app, Context& context);  // adds `pin` and `unpin`

// dbsnap key list|add|remove: the key objects of an encrypted store.
struct KeyOptions {
  std::string recipient;       // add: an age recipient (age1...)
  std::string passphrase_env;  // add: a variable holding a passphrase
  std::string id;              // remove
};
enum class KeyAction { list, add, remove, upgrade };
int run_key(Context& context, const KeyOptions& options, KeyAction action);
void add_key(CLI::App& app, Context& context);

// dbsnap copy: snapshots into another store (core/copy.hpp).
struct CopyOptions {
  std::vector<std::string> snapshots;
  std::string to;        // --to STORE; empty: the config's copy_to
  std::string key_file;  // --to-key-file: opens (or, new, encrypts) the destination
  std::string target;    // with --all: only this target's
  bool all = false;
};
int run_copy(Context& context, const CopyOptions& options);
void add_copy(CLI::App& app, Context& context);

// dbsnap __systemd-generator DIR (hidden): the timers of targets with a `schedule`.
int run_systemd_generator(Context& context, const std::string& dir);
void add_systemd_generator(CLI::App& app, Context& context);

struct CatalogRebuildOptions {};
int run_catalog_rebuild(Context& context, const CatalogRebuildOptions& options);
void add_catalog(CLI::App& app, Context& context);

enum class ExpectChange { yes, no };

struct UpgradeOptions {
  std::string target;
  std::vector<std::string> command;  // after --; empty: the target's upgrade_command
  std::string to;                    // --to REV: the revision upgrade_command goes to ("": heads)
  ExpectChange expect_change = ExpectChange::yes;
  bool keep_on_failure = false;
};
int run_upgrade(Context& context, const UpgradeOptions& options);
void add_upgrade(CLI::App& app, Context& context);

struct RollbackOptions {
  std::string target;
  std::string to;          // the revision (or unique prefix) to go back to
  std::string via;         // "restore", "downgrade" or "" (restore when a snapshot at REV exists)
  std::string command;     // --command "...": the downgrade command line, run by sh -c
  std::vector<std::string> argv;  // or the downgrade command after --
  Confirmation confirmation = Confirmation::ask;
  bool dry_run = false;           // print the plan, change nothing
};
int run_rollback(Context& context, const RollbackOptions& options);
void add_rollback(CLI::App& app, Context& context);

struct PruneOptions {
  std::string target;
  int keep_last = -1;
  int keep_per_revision = -1;
  std::string keep_within;  // e.g. 7d, 12h, 30m
  int keep_daily = -1;
  int keep_weekly = -1;
  int keep_monthly = -1;
  bool dry_run = false;
  bool force = false;
};
int run_prune(Context& context, const PruneOptions& options);
void add_prune(CLI::App& app, Context& context);

struct MetricsOptions {
  std::string target;  // empty: every target
};
int run_metrics(Context& context, const MetricsOptions& options);
void add_metrics(CLI::App& app, Context& context);

struct RevisionsOptions {
  std::string target;
  std::string migrations;  // overrides the target's `migrations` key
};
int run_revisions(Context& context, const RevisionsOptions& options);
void add_revisions(CLI::App& app, Context& context);

struct DoctorOptions {
  std::string target;
};
int run_doctor(Context& context, const DoctorOptions& options);
void add_doctor(CLI::App& app, Context& context);

struct DemoOptions {
  std::string directory = "dbsnap-demo";
};
int run_demo(Context& context, const DemoOptions& options);
void add_demo(CLI::App& app, Context& context);

struct InitOptions {
  std::string directory = ".";
  std::string runtime;  // docker or podman; empty: docker, else podman
  bool print_only = false;
  Confirmation confirmation = Confirmation::ask;
};
int run_init(Context& context, const InitOptions& options);
void add_init(CLI::App& app, Context& context);

// The hidden `__complete` command: shell completion candidates (src/cli/complete.cpp).
void add_complete(CLI::App& app, Context& context);

// Asks before a destructive action: true on --yes or a yes typed at the
// terminal; a `refused` error when stdin is not a terminal.
bool confirm_or_refuse(Confirmation confirmation, const std::string& question, const std::string& flag_hint);

}  // namespace dbsnap::cli

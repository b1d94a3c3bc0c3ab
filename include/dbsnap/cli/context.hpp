#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <fmt/core.h>

#include "dbsnap/config/config.hpp"
#include "dbsnap/pipeline/progress.hpp"
#include "dbsnap/store/lock.hpp"
#include "dbsnap/store/store.hpp"

namespace dbsnap::cli {

// Options every command accepts.
struct GlobalOptions {
  std::string config_file;  // --config
  std::string store_dir;    // --store
  bool json = false;        // --json: one JSON document on stdout, errors as JSON on stderr
  bool quiet = false;       // --quiet: no progress line, no informational messages
  bool verbose = false;     // --verbose: log every command dbsnap runs, secrets masked
  double lock_timeout = 10; // --lock-timeout, seconds
  // --include-automatic: `latest`, `@REV` and rollback may pick snapshots dbsnap took itself
  store::AutomaticSnapshots automatic = store::AutomaticSnapshots::exclude;
};

// What commands share: the configuration and the store, both loaded on
// first use so that commands which need neither (demo, --help) never fail
// on a bad config.
class Context;

// Removes what killed restores left beside each configured target's database
// (engine::Engine::remove_leftovers); list and verify call it.
void remove_restore_leftovers(Context& context);

// Checks that `name` is a target: configured, or with snapshots in `store`
// (a target removed from dbsnap.toml still has them). Throws the `config`
// error of an unknown target otherwise.
void require_known_target(Context& context, store::Store& store, const std::string& name);

// Says on stderr, for `target` (or every configured target when empty), that
// a move was left unfinished by a dbsnap that died (store/move_record), naming
// the snapshot that puts it back. Moves still running are not mentioned.
void report_unfinished_moves(Context& context, const std::string& target);

// Forgets a target's unfinished move once its database was replaced on
// purpose (a restore): a warning on stderr when the record cannot be removed.
void forget_unfinished_move(Context& context, const std::string& target);

class Context {
 public:
  GlobalOptions globals;
  int exit_code = 0;  // set by the command that ran
  std::string command_line;  // this run's argv, for lock holder notes

  // Records argv as a command line: the program's file name and its
  // arguments, those with blanks or quotes in single quotes.
  void record_command_line(int argc, char** argv);

  // The configuration: --config, else dbsnap.toml found upward from the
  // current folder, else an empty one rooted at the current folder.
  const config::Config& config();
  // The store: --store, else $DBSNAP_STORE, else the config's `store` key,
  // else snapshots/ beside the config file (or in the current folder).
  store::Store& store();
  // The store for a command that only reads it (list, show, cat, verify,
  // revisions): it is never created, and one this process cannot write (a
  // read-only mount) still opens (store::StoreAccess::read).
  store::Store& store_for_reading();
  // The store, setting a damaged catalog.db aside instead of failing (for catalog rebuild).
  store::Store& store_for_rebuild();
  // What opens an encrypted store: DBSNAP_KEY_FILE, else the config's
  // key_file (age identity files), else what its key_command prints (an
  // identity file's text or a passphrase), else DBSNAP_PASSPHRASE; none:
  // empty. Throws `config` for a key file that does not read, a key_command
  // that fails or prints no key. Read once (a key_command runs once).
  const store::encrypted::UserKeys& store_keys();
  // What opens (or, for a new one, encrypts) a store snapshots are copied
  // to: `key_file` (--to-key-file) when given, else DBSNAP_COPY_KEY_FILE,
  // else the config's copy_key_file, else its copy_key_command, else
  // DBSNAP_COPY_PASSPHRASE.
  store::encrypted::UserKeys copy_keys(const std::filesystem::path& key_file = {});
  // Opens the store at `location` that snapshots of `from` are copied to,
  // with copy_keys(key_file), in the config's snapshot layout; creates it
  // when new. Throws what core::check_copy_destination throws, before
  // anything is created when it can tell (an encrypted `from` and no key).
  store::Store open_copy_destination(const store::Store& from, const std::string& location,
                                     const std::filesystem::path& key_file = {});
  std::filesystem::path store_path();
  // The store if a command already opened it, else null (never opens it).
  store::Store* opened_store() noexcept { return store_ ? &*store_ : nullptr; }
  // The named target from the configuration (config error if unknown).
  const config::Target& target(const std::string& name);
  // The target's Alembic versions folder: `override` when given, else its
  // `migrations` key, else migrations/versions beside dbsnap.toml.
  std::filesystem::path migrations_dir(const config::Target& target, const std::string& override_dir = {});
  // Takes the target's lock in the store (store::TargetLock), or, for a store
  // opened read-only, in a private folder of this user outside it (a
  // restore from a mounted backup disk); waiting up to
  // --lock-timeout and saying once on stderr whom it waits for. Throws
  // `busy` when the time runs out, `interrupted` on a signal meanwhile.
  // Backups share a target; restore, upgrade and rollback hold it alone.
  store::TargetLock lock_target(const std::string& target, store::LockMode mode);
  // Resolves a snapshot reference (see Store::resolve), throwing on failure.
  store::Manifest resolve(const std::string& reference, const std::string& target = {});

  // A live progress line on stderr for an operation of `total` bytes (0 when
  // unknown), or null when none is wanted: stderr is not a terminal, or
  // --quiet or --json was given.
  std::unique_ptr<pipeline::Progress> progress(std::string label, std::uint64_t total = 0) const;

  // Prints an informational message on stderr (a line of its own) unless --quiet.
  template <typename... Args>
  void note(fmt::format_string<Args...> format, Args&&... args) const {
    if (globals.quiet) return;
    pipeline::Progress::clear_active_line();
    fmt::print(stderr, "{}\n", fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  std::optional<config::Config> config_;
  std::optional<store::Store> store_;
  std::optional<store::encrypted::UserKeys> store_keys_;
};

}  // namespace dbsnap::cli
